"""Throughput of the local pipeline (not a test): N small uploads -> all terminal.

Prints the single-file latency (upload -> COMPLETE visible in the API, 1 KiB), files/s for the burst
and the latency percentiles (upload -> terminal in the scans table).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

from filescan_local.demo import wait_via_api
from filescan_local.dispatcher import DispatchSettings
from filescan_local.observe import upload, wait_terminal
from filescan_local.stack import LocalStack, StackConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    stack = LocalStack(StackConfig(api_port=0, dispatch=DispatchSettings(sweep_interval=0)))
    with contextlib.redirect_stdout(io.StringIO()) as _, stack:
        assert stack.topology is not None and stack.api is not None
        s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
        bucket = stack.topology.bucket("UploadsBucket")
        table = stack.topology.template.physical_name("ScansTable")
        single = []
        for index in range(3):
            probe = upload(
                s3, bucket, f"uploads/bench/probe-{index}.txt", b"probe %d\n" % index * (args.size // 8)
            )
            single.append(wait_via_api(stack.api.url, [probe], timeout=60)[probe.scan_id][2])
        started = time.monotonic()
        uploads = [
            upload(s3, bucket, f"uploads/bench/burst/{i:05d}.bin", (b"%05d" % i) * (args.size // 5))
            for i in range(args.files)
        ]
        uploaded = time.monotonic() - started
        records, finished = wait_terminal(dynamodb, table, [u.scan_id for u in uploads], timeout=args.timeout)
        elapsed = max(finished.values(), default=started) - started
        latencies = sorted(finished[u.scan_id] - u.uploaded_at for u in uploads if u.scan_id in finished)
        statuses: dict[str, int] = {}
        for record in records.values():
            statuses[str(record.get("status"))] = statuses.get(str(record.get("status")), 0) + 1
    lost = args.files - len(finished)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print(f"single 1 KiB file, upload -> COMPLETE in the API: {', '.join(f'{s:.2f}' for s in single)} s")
    print(f"burst: {args.files} x {args.size} B uploaded in {uploaded:.1f} s, done after {elapsed:.1f} s")
    rate = len(finished) / elapsed if elapsed else 0
    print(f"throughput: {rate:.2f} files/s   terminal: {statuses}   lost: {lost}")
    print(
        f"latency upload -> terminal: p50 {quantiles[49]:.1f} s  p90 {quantiles[89]:.1f} s  "
        f"p99 {quantiles[98]:.1f} s  max {latencies[-1] if latencies else 0:.1f} s"
    )
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
