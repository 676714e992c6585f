"""Cost estimate from token usage and a per-model price table (USD per 1,000 tokens)."""

from collections.abc import Mapping
from decimal import Decimal

from filescan_shared.triage.config import ModelPrice

COST_QUANTUM = Decimal("0.00000001")


def price_for(model: str, prices: Mapping[str, ModelPrice]) -> ModelPrice | None:
    """The price of ``model``: an exact entry, else the longest entry that prefixes it (dated names)."""
    if model in prices:
        return prices[model]
    matches = [name for name in prices if model.startswith(name)]
    return prices[max(matches, key=len)] if matches else None


def estimate_cost(
    model: str, prompt_tokens: int | None, completion_tokens: int | None, prices: Mapping[str, ModelPrice]
) -> Decimal | None:
    """USD cost of one call, rounded to 1e-8; ``None`` if the model has no price or usage is unknown."""
    price = price_for(model, prices)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    thousand = Decimal(1000)
    cost = (
        Decimal(prompt_tokens) * price.input_per_1k + Decimal(completion_tokens) * price.output_per_1k
    ) / thousand
    return cost.quantize(COST_QUANTUM)
