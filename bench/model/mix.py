"""The upload mix: object sizes and arrival times over a day, generated from a seed.

Default: 10,000 files/day, 90 % under 1 MiB, most of the rest 1 MiB-1 GiB, a few 1-8 GiB and a
tail of three files over 10 GiB. A share of the files arrives in bursts (a bulk upload, a sync job);
the rest is spread over the day with a daytime peak. Everything is configurable (JSON file or flags).
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

KiB = 1024
MiB = 1024**2
GiB = 1024**3
DAY_SECONDS = 86_400.0


@dataclasses.dataclass(frozen=True)
class MixConfig:
    """What a day of uploads looks like."""

    files_per_day: int = 10_000
    small_fraction: float = 0.90
    """Share of files under 1 MiB (log-uniform 1 KiB-1 MiB)."""
    large_files: int = 20
    """Files of 1-8 GiB (log-uniform)."""
    huge_files: int = 3
    """Files of 10-40 GiB (log-uniform). The rest of the mix is 1 MiB-1 GiB (log-uniform)."""
    burst_fraction: float = 0.30
    """Share of files that arrive in bursts."""
    bursts: int = 6
    burst_seconds: float = 20.0
    """Each burst spreads its files evenly over this many seconds."""
    seed: int = 15

    @classmethod
    def from_json(cls, path: Path) -> MixConfig:
        """A configuration from a JSON object of field -> value (unknown fields are an error)."""
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        unknown = set(data) - {field.name for field in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown mix settings: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclasses.dataclass(frozen=True, order=True)
class Upload:
    """One upload: when it lands (seconds into the day) and its size."""

    arrival: float
    size: int


def generate(config: MixConfig) -> list[Upload]:
    """The day's uploads in arrival order; the same configuration always yields the same list."""
    rng = random.Random(config.seed)
    total = config.files_per_day
    small = round(total * config.small_fraction)
    medium = max(0, total - small - config.large_files - config.huge_files)
    sizes = (
        [_log_uniform(rng, KiB, MiB - 1) for _ in range(small)]
        + [_log_uniform(rng, MiB, GiB) for _ in range(medium)]
        + [_log_uniform(rng, GiB + 1, 8 * GiB) for _ in range(config.large_files)]
        + [_log_uniform(rng, 10 * GiB, 40 * GiB) for _ in range(config.huge_files)]
    )
    rng.shuffle(sizes)
    bursty = round(len(sizes) * config.burst_fraction) if config.bursts else 0
    arrivals = _burst_arrivals(rng, bursty, config) + [_daytime(rng) for _ in range(len(sizes) - bursty)]
    return sorted(Upload(arrival, size) for arrival, size in zip(arrivals, sizes, strict=True))


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def _daytime(rng: random.Random) -> float:
    """An arrival time with a daytime peak (a sine over the day, never below a third of the mean)."""
    while True:
        moment = rng.uniform(0, DAY_SECONDS)
        weight = 1 + 0.66 * math.sin(2 * math.pi * (moment / DAY_SECONDS - 0.25))
        if rng.uniform(0, 1.66) <= weight:
            return moment


def _burst_arrivals(rng: random.Random, count: int, config: MixConfig) -> list[float]:
    if count == 0:
        return []
    starts = sorted(rng.uniform(0, DAY_SECONDS - config.burst_seconds) for _ in range(config.bursts))
    arrivals = []
    for index in range(count):
        burst = index % config.bursts
        position = (index // config.bursts) / max(1, math.ceil(count / config.bursts))
        arrivals.append(starts[burst] + position * config.burst_seconds)
    return arrivals
