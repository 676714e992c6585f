"""Cold-start import time of each Lambda handler as deployed, each in a fresh interpreter (not a test).

It measures what ``sam build`` produced (``.aws-sam/build``: ``make bench-cold-start`` builds it
first), run as Lambda lays it out (``filescan_local.artefacts``: ``python -S``, the function's
directory then the layer's, read-only, the function's template environment); no AWS call happens
at import.
Two references are measured the same way: a bare ``import boto3`` from the layer, and ``stack only``,
what every handler loads by design before any code of ours (boto3, one validated pydantic model,
Powertools Logger, Metrics and Tracer).

Every body runs once per round, for ``--runs`` rounds, so a change in the machine's load affects
all of them alike; the table gives the median and worst import wall time.

``--without-bytecode`` measures a copy of the same artefacts with every ``.pyc`` removed: what the
functions cost when their package ships sources only (SAM's own Python builder does that).

Usage: python bench/cold_start.py [--runs 7] [--budget-ms 300] [--without-bytecode]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from filescan_local.artefacts import BUILD_DIR, LAYER, built_functions, run_in_lambda_layout
from filescan_local.topology import FunctionSpec

FUNCTIONS = built_functions()
_PROBE = """
import time
start = time.perf_counter()
{body}
print((time.perf_counter() - start) * 1000)
"""
_IMPORT_APP = "import app\nassert callable(app.lambda_handler)"
# What every handler must load by design, before any code of ours: boto3, one validated pydantic model
# (the settings) and Powertools Logger, Metrics and Tracer (X-Ray, botocore patched).
_REQUIRED_STACK = """
import boto3
from pydantic import BaseModel, Field
class Settings(BaseModel):
    name: str = Field(min_length=1)
Settings(name="filescan")
from aws_lambda_powertools import Logger, Metrics, Tracer
Logger(), Metrics(namespace="filescan"), Tracer(patch_modules=("botocore",))
"""


def _time_once(body: str, function: FunctionSpec, build: Path) -> float:
    result = run_in_lambda_layout(function, _PROBE.format(body=body), build_dir=build)
    result.check_returncode()
    return float(result.stdout.strip().splitlines()[-1])


def _measure(build: Path, runs: int) -> dict[str, list[float]]:
    """Time every body ``runs`` times, one of each per round, so drift in machine load hits all alike."""
    status = FUNCTIONS["status"]
    bodies = {"boto3 only": ("import boto3", status), "stack only": (_REQUIRED_STACK, status)} | {
        name: (_IMPORT_APP, function) for name, function in FUNCTIONS.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(runs):
        for name, (body, function) in bodies.items():
            samples[name].append(_time_once(body, function, build))
    return samples


def _report(title: str, samples: dict[str, list[float]], budget_ms: float) -> list[str]:
    """Print one table; return the functions whose median is over the budget."""
    floor = statistics.median(samples["boto3 only"])
    print(title)
    print(f"{'handler':<12} {'median ms':>10} {'max ms':>8} {'x boto3':>8}  budget {budget_ms:.0f} ms")
    over = []
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"{name:<12} {median:>10.1f} {max(times):>8.1f} {median / floor:>8.2f}")
        if name in FUNCTIONS and median > budget_ms:
            over.append(name)
    return over


def _without_bytecode(build: Path, into: Path) -> Path:
    copy = into / "build"
    shutil.copytree(build, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return copy


def main() -> int:
    """Measure every handler's artefact and print a table; exit 1 if one is over the budget."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--without-bytecode", action="store_true", help="also measure sources only")
    args = parser.parse_args()
    built = [function.logical_id for function in FUNCTIONS.values()]
    missing = [name for name in (*built, LAYER) if not (BUILD_DIR / name).is_dir()]
    if missing:
        print(f"no build of {', '.join(missing)} in {BUILD_DIR}: run `make sam-build` first", file=sys.stderr)
        return 2

    over = _report("as built (.aws-sam/build)", _measure(BUILD_DIR, args.runs), args.budget_ms)
    if args.without_bytecode:
        with tempfile.TemporaryDirectory() as scratch:
            sources_only = _without_bytecode(BUILD_DIR, Path(scratch))
            print()
            _report("the same artefacts without .pyc", _measure(sources_only, args.runs), args.budget_ms)
    if over:
        print(f"over budget: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
