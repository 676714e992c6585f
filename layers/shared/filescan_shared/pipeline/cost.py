"""Compute-cost estimates of scan jobs, so cost per GB scanned can be reported.

Cost = sum over attempts of (duration x (vCPU x vCPU-hour price + GB x GB-hour price)), with Spot prices
for the standard queue (Spot first) and on-demand prices for the priority queue. Prices are
configuration (``FARGATE_PRICES``); the defaults are us-east-1 Linux/x86 list prices.

A fast-path scan (the scanner as a Lambda function) costs its billed duration (Lambda bills per
millisecond) x its memory in GB x the GB-second price, plus the per-request price
(``LAMBDA_PRICES``; defaults: us-east-1 x86, https://aws.amazon.com/lambda/pricing/).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict

from filescan_shared.batch_events import JobStateDetail


class FargatePrice(BaseModel):
    """Price of one vCPU-hour and one GB-hour."""

    model_config = ConfigDict(frozen=True)

    vcpu_hour: Decimal
    gb_hour: Decimal


class FargatePrices(BaseModel):
    """Spot and on-demand prices."""

    model_config = ConfigDict(frozen=True)

    spot: FargatePrice = FargatePrice(vcpu_hour=Decimal("0.01334053"), gb_hour=Decimal("0.00146489"))
    on_demand: FargatePrice = FargatePrice(vcpu_hour=Decimal("0.04048"), gb_hour=Decimal("0.004445"))

    @classmethod
    def from_json(cls, text: str) -> FargatePrices:
        """Parse the ``FARGATE_PRICES`` JSON; empty means the defaults."""
        return cls.model_validate(json.loads(text)) if text.strip() else cls()


class LambdaPrices(BaseModel):
    """Lambda's price of one GB-second (x86) and of one request."""

    model_config = ConfigDict(frozen=True)

    gb_second: Decimal = Decimal("0.0000166667")
    request: Decimal = Decimal("0.0000002")

    @classmethod
    def from_json(cls, text: str) -> LambdaPrices:
        """Parse the ``LAMBDA_PRICES`` JSON; empty means the defaults."""
        return cls.model_validate(json.loads(text)) if text.strip() else cls()


def estimate_lambda_cost(seconds: float, *, memory_mb: int, prices: LambdaPrices) -> dict[str, str | int]:
    """The estimated cost of a fast-path scan of ``seconds`` on ``memory_mb`` (a DynamoDB-safe mapping)."""
    billed_ms = max(1, math.ceil(seconds * 1000))
    memory_gb = Decimal(memory_mb) / 1024
    usd = Decimal(billed_ms) / 1000 * memory_gb * prices.gb_second + prices.request
    return {
        "usd": f"{usd:.8f}",  # a one-second scan costs ~$0.000017: six places would keep two digits
        "billed_ms": billed_ms,
        "billed_seconds": billed_ms // 1000,
        "memory_gb": str(memory_gb),
        "capacity": "lambda",
    }


def estimate_job_cost(detail: JobStateDetail, *, prices: FargatePrices, spot: bool) -> dict[str, str | int]:
    """The estimated compute cost of a finished job (all attempts), as a DynamoDB-safe mapping."""
    vcpus = Decimal("1")
    memory_gb = Decimal("2")
    for requirement in detail.resource_requirements:
        amount = _positive_amount(requirement.value)
        if amount is None:
            continue  # not a size Batch would report: keep the default rather than fail the scan
        if requirement.type == "VCPU":
            vcpus = amount
        elif requirement.type == "MEMORY":
            memory_gb = amount / 1024
    billed_ms = sum(
        max(0, (attempt.stopped_at or 0) - (attempt.started_at or 0))
        for attempt in detail.attempts
        if attempt.started_at and attempt.stopped_at
    )
    price = prices.spot if spot else prices.on_demand
    hours = Decimal(billed_ms) / Decimal(3_600_000)
    usd = hours * (vcpus * price.vcpu_hour + memory_gb * price.gb_hour)
    return {
        "usd": f"{usd:.6f}",
        "billed_seconds": billed_ms // 1000,
        "vcpus": str(vcpus),
        "memory_gb": str(memory_gb),
        "capacity": "spot" if spot else "on-demand",
    }


def _positive_amount(text: str) -> Decimal | None:
    """A resource amount (vCPUs, MiB) as Batch writes it, or ``None`` if it is not a sane number."""
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and 0 < amount <= 1_000_000 else None
