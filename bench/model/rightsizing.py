"""``make rightsizing``: per size class, the resources scans requested against what they used.

Reads the scans table (records with a report) and each report's ``stats`` from the reports bucket,
with boto3 pointed wherever the environment says (``AWS_ENDPOINT_URL`` for the local stack), and
prints, per production size class (``size_job``): requested vCPU, memory, timeout and ephemeral
storage next to the p95 CPU parallelism (``cpu_seconds / seconds``), p99 peak memory, p99 wall time
and the largest object (the scanner downloads it to its disk), with a proposal for each. "Right-sizing
is a continuous effort" (AWS Batch best practices): run it after a rules or engine change too.

``python -m bench.model.rightsizing --table T --reports-bucket B [--max-records N] [--json]``
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from bench.model.pipeline import template_default
from bench.model.report import percentile
from filescan_shared.pipeline.sizing import size_job
from filescan_shared.records import ScanRecord
from filescan_shared.repository.items import from_item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

MiB = 1024**2
GiB = 1024**3
FARGATE_VCPUS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
"""Fargate task sizes and their memory choices (MiB):
https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html"""
_MEMORY_STEPS: dict[float, tuple[int, int, int]] = {
    0.25: (512, 2048, 512),
    0.5: (1024, 4096, 1024),
    1.0: (2048, 8192, 1024),
    2.0: (4096, 16384, 1024),
    4.0: (8192, 30720, 1024),
    8.0: (16384, 61440, 4096),
    16.0: (32768, 122880, 8192),
}
CPU_HEADROOM = 1.25
MEMORY_HEADROOM = 1.5
TIMEOUT_FACTOR = 4
IMAGE_GIB = 1.0
"""Room for the image on the task's ephemeral storage (Fargate keeps the image there too)."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """What one finished scan requested and used."""

    size: int
    vcpus: float
    memory_mib: int
    seconds: float
    cpu_seconds: float | None
    peak_rss_bytes: int


@dataclasses.dataclass(frozen=True)
class Resources:
    """A job size: vCPU, memory, attempt timeout, ephemeral storage."""

    vcpus: float
    memory_mib: int
    timeout_seconds: int
    ephemeral_gib: int


@dataclasses.dataclass(frozen=True)
class ClassUsage:
    """One size class: what it requests, what its scans used, what it should request."""

    name: str
    scans: int
    requested: Resources
    cpu_p95: float | None
    """p95 of CPU seconds per wall second (vCPUs kept busy); ``None`` when no report has it."""
    peak_mib_p99: float
    seconds_p99: float
    largest_bytes: int
    proposed: Resources


def load_samples(
    dynamodb: DynamoDBClient, s3: S3Client, *, table: str, reports_bucket: str, limit: int
) -> list[Sample]:
    """Up to ``limit`` scans that have a report, with their report's stats."""
    samples: list[Sample] = []
    for record in _records(dynamodb, table):
        if len(samples) >= limit:
            break
        if not record.report_key or record.size is None or record.cached_from:
            continue
        stats = _stats(s3, reports_bucket, record.report_key)
        if stats is None:
            continue
        requested = size_job(record.size)
        cost = record.cost or {}
        samples.append(
            Sample(
                size=record.size,
                vcpus=float(cost.get("vcpus") or requested.vcpus),
                memory_mib=int(float(cost.get("memory_gb") or requested.memory_mib / 1024) * 1024),
                seconds=float(stats.get("seconds") or 0.0),
                cpu_seconds=None if stats.get("cpu_seconds") is None else float(stats["cpu_seconds"]),
                peak_rss_bytes=int(stats.get("peak_rss_bytes") or 0),
            )
        )
    return samples


def _records(dynamodb: DynamoDBClient, table: str) -> Iterator[ScanRecord]:
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page.get("Items", []):
            yield from_item(item)


def _stats(s3: S3Client, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError:
        return None  # expired by the reports lifecycle, or never written: skip it
    try:
        stats = json.loads(body).get("stats")
    except (ValueError, AttributeError):
        return None
    return stats if isinstance(stats, dict) else None


def usage_by_class(samples: list[Sample], *, ephemeral_gib: int) -> list[ClassUsage]:
    """Per size class (in size order), requested vs used, and the proposal."""
    classes: dict[str, list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: s.size):
        classes.setdefault(size_job(sample.size).name, []).append(sample)
    rows = []
    for name, members in classes.items():
        job = size_job(members[0].size)
        busy = [s.cpu_seconds / s.seconds for s in members if s.cpu_seconds is not None and s.seconds > 0]
        cpu_p95 = percentile(busy, 0.95)
        peak = percentile([s.peak_rss_bytes / MiB for s in members], 0.99) or 0.0
        seconds = percentile([s.seconds for s in members], 0.99) or 0.0
        largest = max(s.size for s in members)
        requested = Resources(
            vcpus=max(s.vcpus for s in members),
            memory_mib=max(s.memory_mib for s in members),
            timeout_seconds=job.timeout_seconds,
            ephemeral_gib=ephemeral_gib,
        )
        rows.append(
            ClassUsage(
                name=name,
                scans=len(members),
                requested=requested,
                cpu_p95=cpu_p95,
                peak_mib_p99=peak,
                seconds_p99=seconds,
                largest_bytes=largest,
                proposed=propose(requested, cpu_p95, peak, seconds, largest),
            )
        )
    return rows


def propose(
    requested: Resources, cpu_p95: float | None, peak_mib: float, seconds: float, largest: int
) -> Resources:
    """Resources that fit what a class used, with headroom, as a valid Fargate size."""
    wanted_vcpus = requested.vcpus if cpu_p95 is None else max(0.25, cpu_p95 * CPU_HEADROOM)
    wanted_memory = peak_mib * MEMORY_HEADROOM
    for vcpus in FARGATE_VCPUS:
        if vcpus < wanted_vcpus:
            continue
        low, high, step = _MEMORY_STEPS[vcpus]
        if wanted_memory <= high:
            memory = max(low, step * math.ceil(wanted_memory / step))
            break
    else:
        vcpus, memory = FARGATE_VCPUS[-1], _MEMORY_STEPS[FARGATE_VCPUS[-1]][1]
    timeout = max(60, 60 * math.ceil(seconds * TIMEOUT_FACTOR / 60))
    disk = math.ceil((largest / GiB + IMAGE_GIB) * 1.2)
    ephemeral = 20 if disk <= 20 else min(200, disk)
    return Resources(vcpus=vcpus, memory_mib=memory, timeout_seconds=timeout, ephemeral_gib=ephemeral)


def merges(rows: list[ClassUsage]) -> list[tuple[str, str]]:
    """Neighbouring classes whose proposals are the same size (fewer classes would do)."""
    return [
        (a.name, b.name)
        for a, b in itertools.pairwise(rows)
        if (a.proposed.vcpus, a.proposed.memory_mib) == (b.proposed.vcpus, b.proposed.memory_mib)
    ]


def render(rows: list[ClassUsage]) -> str:
    """The table (Markdown) and the merge hints."""
    lines = [
        "| class | scans | vCPU: requested / used p95 / proposed | memory MiB: requested / peak p99 / "
        "proposed | seconds p99 / timeout / proposed | disk GiB: requested / largest object / proposed |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        used = "-" if row.cpu_p95 is None else f"{row.cpu_p95:.2f}"
        lines.append(
            f"| {row.name} | {row.scans} | {row.requested.vcpus:g} / {used} / {row.proposed.vcpus:g} | "
            f"{row.requested.memory_mib} / {row.peak_mib_p99:.0f} / {row.proposed.memory_mib} | "
            f"{row.seconds_p99:.1f} / {row.requested.timeout_seconds} / {row.proposed.timeout_seconds} | "
            f"{row.requested.ephemeral_gib} / {row.largest_bytes / GiB:.2f} / {row.proposed.ephemeral_gib} |"
        )
    for first, second in merges(rows):
        lines.append(f"\n{first} and {second} would get the same vCPU and memory: one class would do.")
    if not rows:
        lines.append("\n(no finished scans with a report yet)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="python -m bench.model.rightsizing", description=__doc__)
    parser.add_argument("--table", required=True, help="the scans table (stack output ScansTableName)")
    parser.add_argument("--reports-bucket", required=True, help="the reports bucket")
    parser.add_argument("--max-records", type=int, default=5000, help="scans to read at most")
    parser.add_argument(
        "--ephemeral-gib",
        type=int,
        default=template_default("JobEphemeralStorageGiB"),
        help="the job definition's ephemeral storage (default: the template's)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args(argv)
    samples = load_samples(
        boto3.client("dynamodb"),
        boto3.client("s3"),
        table=args.table,
        reports_bucket=args.reports_bucket,
        limit=args.max_records,
    )
    rows = usage_by_class(samples, ephemeral_gib=args.ephemeral_gib)
    if args.json:
        print(json.dumps([dataclasses.asdict(row) for row in rows], indent=2))
    else:
        print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
