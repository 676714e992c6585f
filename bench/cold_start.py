"""Cold-start import time of each Lambda handler, each in a fresh interpreter (not a test).

For every function it starts N fresh ``python`` processes that import ``functions/<name>/app.py``
with a complete environment (no AWS call happens at import), and reports the median and worst
import wall time. A bare ``import boto3`` is measured the same way as the reference floor. The runs
are interleaved (one of each per round), so a change in the machine's load affects all of them.

Usage: python bench/cold_start.py [--runs 7] [--budget-ms 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("enqueue", "status", "analysis", "api", "sweeper")
ENVIRONMENT = {
    "SCANS_TABLE": "filescan-scans",
    "IDEMPOTENCY_TABLE": "filescan-idempotency",
    "UPLOADS_BUCKET": "filescan-uploads",
    "SCAN_PREFIX": "uploads/",
    "REPORTS_BUCKET": "filescan-reports",
    "REPORTS_PREFIX": "reports/",
    "EVENT_BUS_NAME": "filescan-events",
    "JOB_QUEUE_STANDARD": "arn:aws:batch:us-east-1:123456789012:job-queue/standard",
    "JOB_QUEUE_PRIORITY": "arn:aws:batch:us-east-1:123456789012:job-queue/priority",
    "JOB_DEFINITION": "arn:aws:batch:us-east-1:123456789012:job-definition/scanner:1",
    "SCANNER_VERSION": "bench",
    "ANALYSIS_FUNCTION_NAME": "filescan-analysis",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "POWERTOOLS_SERVICE_NAME": "filescan",
    "POWERTOOLS_METRICS_NAMESPACE": "filescan",
    "PYDANTIC_DISABLE_PLUGINS": "true",  # as template.yaml's Globals set it
    # As in Lambda: the X-Ray SDK checks LAMBDA_TASK_ROOT and then skips creating its sampling client.
    "LAMBDA_TASK_ROOT": str(REPO),
    "AWS_LAMBDA_FUNCTION_NAME": "filescan-bench",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
}
_PROBE = """
import importlib.util, sys, time
start = time.perf_counter()
{body}
print((time.perf_counter() - start) * 1000)
"""
_IMPORT_APP = """
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
"""


def _time_once(body: str) -> float:
    env = {**os.environ, **ENVIRONMENT, "PYTHONDONTWRITEBYTECODE": "0"}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE.format(body=body)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    return float(result.stdout.strip().splitlines()[-1])


def _measure_interleaved(bodies: dict[str, str], runs: int) -> dict[str, list[float]]:
    """Time every body ``runs`` times, one of each per round, so drift in machine load hits all alike."""
    for body in bodies.values():
        _time_once(body)  # warm the bytecode cache, as a deployed package has it
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(runs):
        for name, body in bodies.items():
            samples[name].append(_time_once(body))
    return samples


def main() -> int:
    """Measure every handler and print a table; exit 1 if one is over the budget."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    args = parser.parse_args()

    bodies = {"boto3 only": "import boto3"} | {
        name: _IMPORT_APP.format(path=str(REPO / "functions" / name / "app.py")) for name in FUNCTIONS
    }
    samples = _measure_interleaved(bodies, args.runs)
    floor_median = statistics.median(samples["boto3 only"])
    print(f"{'handler':<12} {'median ms':>10} {'max ms':>8} {'x boto3':>8}  budget {args.budget_ms:.0f} ms")
    over = []
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"{name:<12} {median:>10.1f} {max(times):>8.1f} {median / floor_median:>8.2f}")
        if name in FUNCTIONS and median > args.budget_ms:
            over.append(name)
    if over:
        print(f"over budget: {', '.join(over)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
