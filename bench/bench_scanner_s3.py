"""Benchmark: filescan-scan in S3 mode (read in place) against a moto server, next to local mode.

Uses the same generated files as ``bench_scanner.py`` (cached in bench/out/), uploads each to a moto
server on 127.0.0.1, then runs ``filescan-scan --bucket --key`` (the production download settings)
(parallel ranged GETs, no local copy) and ``filescan-scan FILE`` on the same file, alternating, under
/usr/bin/time. Prints MiB/s and peak
RSS of both and the S3/local ratios. The scanner's memory budget is 256 MiB whatever the size.

moto answers each ranged GET by reading the whole object (and under a lock), so the S3 MiB/s here is
moto's, not S3's: the numbers that transfer to AWS are the peak RSS and the scan part. Not a test:
run ``make bench-scanner-s3``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_scanner import OUT, MiB, cached, timed, warm  # noqa: E402 - after the path is set
from tests.support.moto_server import FAKE_ENV, running_moto_server  # noqa: E402

BUCKET = "filescan-bench-uploads"
REPORTS = "filescan-bench-reports"
BUDGET = 256 * MiB


def _scan_command() -> str:
    return str(Path(sys.executable).parent / "filescan-scan")


def run(size: int, repeat: int, lines: list[str]) -> None:
    """Upload the ``size`` file once, then time S3-mode and local-mode scans ``repeat`` times each."""
    path, _ = cached(size)
    key = f"bench/{path.name}"
    # moto assembles a completed multipart upload in one request: over a minute for 2 GiB, so the
    # default 60 s read timeout would retry a completion that already consumed the upload.
    s3 = boto3.client("s3", config=Config(read_timeout=1800, retries={"max_attempts": 1}))
    s3.upload_file(str(path), BUCKET, key)
    warm(path)
    local_report = OUT / f"report-local-{size // MiB}MiB.json"
    remotes, locals_ = [], []
    for run_number in range(repeat):
        scan_id = f"bench-{size // MiB}-{run_number}"
        s3_cmd = [_scan_command(), "--bucket", BUCKET, "--key", key, "--scan-id", scan_id]
        remotes.append(timed([*s3_cmd, "--log-level", "WARNING"], OUT / "scan-s3.stdout"))
        local_cmd = [_scan_command(), str(path), "--report", str(local_report), "--log-level", "WARNING"]
        locals_.append(timed(local_cmd, OUT / "scan-s3.stdout"))
    body = s3.get_object(Bucket=REPORTS, Key=f"reports/bench-{size // MiB}-{repeat - 1}.json")["Body"]
    report = json.loads(body.read())
    mib = size / MiB
    s_wall, l_wall = statistics.median(r[0] for r in remotes), statistics.median(r[0] for r in locals_)
    s_rss, l_rss = max(r[1] for r in remotes), max(r[1] for r in locals_)
    rcs = {r[2] for r in remotes + locals_}
    lines.append(
        f"{mib:>6.0f} | {mib / s_wall:>8.1f} | {mib / l_wall:>11.1f} | "
        f"{(mib / s_wall) / (mib / l_wall):>5.2f} | {s_rss / MiB:>6.1f} | {l_rss / MiB:>9.1f} | "
        f"{s_rss / l_rss:>5.2f} | {'yes' if s_rss <= BUDGET else 'NO':>6} | "
        f"{report['verdict']['verdict']} (rc {','.join(map(str, sorted(rcs)))})"
    )
    print(lines[-1], flush=True)
    s3.delete_object(Bucket=BUCKET, Key=key)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,1024,2048", help="file sizes in MiB (default 64,1024,2048)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each mode, alternating (median kept)")
    args = parser.parse_args()
    header = [
        f"filescan-scan S3 mode (moto server on 127.0.0.1, production ranged-GET settings) vs local mode, "
        f"same file, {os.cpu_count()} CPUs, median of {args.repeat} alternating runs each",
        "   MiB | S3 MiB/s | local MiB/s | ratio | S3 RSS | local RSS | ratio | <=256M | verdict",
    ]
    lines = list(header)
    print("\n".join(header), flush=True)
    with running_moto_server() as endpoint:
        # The scanner subprocesses inherit this: boto3 reaches moto exactly as the tests do.
        os.environ.update({**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint, "REPORTS_BUCKET": REPORTS})
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=REPORTS)
        for size in (int(s) * MiB for s in args.sizes.split(",")):
            run(size, max(1, args.repeat), lines)
    lines.append("(S3 MiB/s: ranged GETs + scan, end to end, moto-bound)")
    (OUT / "bench-scanner-s3.txt").write_text("\n".join(lines) + "\n")
    print(lines[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
