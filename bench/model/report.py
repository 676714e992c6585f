"""Summaries of replays: latency percentiles per size class, cost per 1,000 files and per GB, the bar."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from bench.model import aws
from bench.model.mix import GiB, MiB, Upload
from bench.model.simulate import Replay, Strategy
from filescan_shared.pipeline.sizing import size_job

SMALL_FILE_BYTES = MiB
"""The issue's "small files": under 1 MiB (90 % of the default mix)."""


def size_class(size: int) -> str:
    """The row a file is reported in: ``<1MiB``, else its production size class (so the ``small`` row
    holds the files of 1 MiB up to that class's limit)."""
    return "<1MiB" if size < SMALL_FILE_BYTES else size_job(size).name


def percentile(values: list[float], fraction: float) -> float | None:
    """The nearest-rank percentile (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5 - 1e-9))
    return ordered[min(len(ordered), rank) - 1]


@dataclasses.dataclass(frozen=True)
class ClassRow:
    """Latency of one size class."""

    name: str
    files: int
    skipped: int
    p50: float | None
    p99: float | None


@dataclasses.dataclass(frozen=True)
class Summary:
    """One strategy on one mix."""

    strategy: Strategy
    classes: list[ClassRow]
    tasks: int
    submissions: int
    ceiling: float
    usd_total: Decimal
    usd_per_1000_files: Decimal
    usd_per_1000_small: Decimal
    compute_per_1000_small: Decimal
    """Scan compute alone (Fargate share or scanner Lambda) per 1,000 small files."""
    usd_per_gb: Decimal
    lambda_cold_starts: int


def summarise(result: Replay) -> Summary:
    """Percentiles and costs of a replay."""
    # Every class the mix reaches, in size order (whatever tiers size_job has).
    ordered = sorted(f.upload.size for f in result.files)
    names = ["<1MiB", *dict.fromkeys(size_job(size).name for size in ordered if size >= SMALL_FILE_BYTES)]
    classes = []
    for name in names:
        members = [f for f in result.files if size_class(f.upload.size) == name]
        latencies = [f.latency for f in members if f.latency is not None]
        classes.append(
            ClassRow(
                name=name,
                files=len(members),
                skipped=len(members) - len(latencies),
                p50=percentile(latencies, 0.50),
                p99=percentile(latencies, 0.99),
            )
        )
    scanned = [f for f in result.files if f.verdict_at is not None]
    small = [f for f in scanned if f.upload.size < SMALL_FILE_BYTES]
    total = sum((f.cost for f in scanned), Decimal(0))
    gigabytes = Decimal(sum(f.upload.size for f in scanned)) / GiB
    return Summary(
        strategy=result.strategy,
        classes=classes,
        tasks=result.tasks,
        submissions=result.submissions,
        ceiling=result.small_ceiling_per_second,
        usd_total=total,
        usd_per_1000_files=_per_1000(total, len(scanned)),
        usd_per_1000_small=_per_1000(sum((f.cost for f in small), Decimal(0)), len(small)),
        compute_per_1000_small=_per_1000(sum((f.compute_cost for f in small), Decimal(0)), len(small)),
        usd_per_gb=total / gigabytes if gigabytes else Decimal(0),
        lambda_cold_starts=result.lambda_cold_starts,
    )


def _per_1000(usd: Decimal, count: int) -> Decimal:
    return usd * 1000 / count if count else Decimal(0)


@dataclasses.dataclass(frozen=True)
class GuardDuty:
    """GuardDuty Malware Protection for S3's list price on the same mix."""

    usd_total: Decimal
    usd_per_1000_files: Decimal
    usd_per_1000_small: Decimal
    usd_per_gb: Decimal


def guardduty(uploads: list[Upload]) -> GuardDuty:
    """GuardDuty's price for the mix (objects over its 100 GB limit are not scanned, not billed)."""
    scanned = [u for u in uploads if u.size <= aws.GUARDDUTY_MAX_OBJECT_BYTES]
    small = [u for u in scanned if u.size < SMALL_FILE_BYTES]
    total_bytes = sum(u.size for u in scanned)
    total = aws.guardduty_cost(len(scanned), total_bytes)
    return GuardDuty(
        usd_total=total,
        usd_per_1000_files=_per_1000(total, len(scanned)),
        usd_per_1000_small=_per_1000(aws.guardduty_cost(len(small), sum(u.size for u in small)), len(small)),
        usd_per_gb=total / (Decimal(total_bytes) / GiB) if total_bytes else Decimal(0),
    )


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One strategy against the issue's bar."""

    strategy: Strategy
    small_p50_ok: bool
    small_cost_ratio: float
    """All-in cost per 1,000 small files, one job per file / this strategy."""
    small_compute_ratio: float
    """The same for the scan compute alone."""
    gb_cost_ratio: float

    @property
    def passes(self) -> bool:
        """p50 <= 60 s for small files, >= 10x cheaper per 1,000 small files and per GB."""
        return self.small_p50_ok and self.small_cost_ratio >= 10 and self.gb_cost_ratio >= 10


def judge(summary: Summary, baseline: Summary, peer: GuardDuty) -> Verdict:
    """``summary`` against the bar: ``baseline`` is one job per file, ``peer`` GuardDuty."""
    small_p50 = summary.classes[0].p50
    return Verdict(
        strategy=summary.strategy,
        small_p50_ok=small_p50 is not None and small_p50 <= 60,
        small_cost_ratio=_ratio(baseline.usd_per_1000_small, summary.usd_per_1000_small),
        small_compute_ratio=_ratio(baseline.compute_per_1000_small, summary.compute_per_1000_small),
        gb_cost_ratio=_ratio(peer.usd_per_gb, summary.usd_per_gb),
    )


def _ratio(high: Decimal, low: Decimal) -> float:
    return float(high / low) if low else float("inf")


def choose(verdicts: list[Verdict], summaries: dict[Strategy, Summary]) -> Strategy:
    """The strategy to build: the cheapest per small file among those that pass, else the one
    with the lowest small-file p50 (then cost)."""
    passing = [v.strategy for v in verdicts if v.passes]
    if passing:
        return min(passing, key=lambda s: summaries[s].usd_per_1000_small)

    def rank(strategy: Strategy) -> tuple[float, Decimal]:
        return (summaries[strategy].classes[0].p50 or float("inf"), summaries[strategy].usd_per_1000_small)

    return min(summaries, key=rank)
