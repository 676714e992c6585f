"""Throughput of the local pipeline (not a test): N small uploads -> all terminal.

Prints the single-file latency (upload -> COMPLETE visible in the API, 1 KiB), files/s for the burst
and the latency percentiles (upload -> terminal in the scans table).

``--mix`` uploads the first N files of the latency/cost model's mix (``bench/model``; sizes capped at
``--max-size``) at their arrival gaps times ``--time-scale`` instead of a burst of equal files, and
``--start-delay`` holds each Batch attempt STARTING like Fargate provisioning, so the model's
one-job-per-file latencies can be compared with an end-to-end run; latencies are then per size class.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time

from bench.model.mix import MixConfig, generate
from bench.model.report import percentile, size_class
from filescan_local.demo import wait_via_api
from filescan_local.dispatcher import DispatchSettings
from filescan_local.observe import upload, wait_terminal
from filescan_local.stack import LocalStack, StackConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--start-delay", type=float, default=0.0, help="seconds each job stays STARTING")
    parser.add_argument("--mix", action="store_true", help="the model's mix instead of equal files")
    parser.add_argument("--max-size", type=int, default=8 * 1024**2, help="--mix: largest file (bytes)")
    parser.add_argument("--time-scale", type=float, default=0.01, help="--mix: arrival gaps x this")
    args = parser.parse_args()
    config = StackConfig(
        api_port=0, dispatch=DispatchSettings(sweep_interval=0), start_delay=args.start_delay
    )
    stack = LocalStack(config)
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
        plan = _mix_plan(args) if args.mix else [(0.0, args.size)] * args.files
        uploads = []
        for index, (offset, size) in enumerate(plan):
            time.sleep(max(0.0, started + offset - time.monotonic()))
            body = (b"%05d" % index) * (size // 5)
            uploads.append(upload(s3, bucket, f"uploads/bench/burst/{index:05d}.bin", body))
        uploaded = time.monotonic() - started
        records, finished = wait_terminal(dynamodb, table, [u.scan_id for u in uploads], timeout=args.timeout)
        elapsed = max(finished.values(), default=started) - started
        latencies = sorted(finished[u.scan_id] - u.uploaded_at for u in uploads if u.scan_id in finished)
        statuses: dict[str, int] = {}
        for record in records.values():
            statuses[str(record.get("status"))] = statuses.get(str(record.get("status")), 0) + 1
        by_class: dict[str, list[float]] = {}
        for item, (_, size) in zip(uploads, plan, strict=True):
            if item.scan_id in finished:
                by_class.setdefault(size_class(size), []).append(finished[item.scan_id] - item.uploaded_at)
    lost = args.files - len(finished)
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print(f"single 1 KiB file, upload -> COMPLETE in the API: {', '.join(f'{s:.2f}' for s in single)} s")
    what = (
        f"mix: {len(plan)} files of the model's mix" if args.mix else f"burst: {args.files} x {args.size} B"
    )
    print(f"{what} uploaded in {uploaded:.1f} s, done after {elapsed:.1f} s")
    rate = len(finished) / elapsed if elapsed else 0
    print(f"throughput: {rate:.2f} files/s   terminal: {statuses}   lost: {lost}")
    print(
        f"latency upload -> terminal: p50 {quantiles[49]:.1f} s  p90 {quantiles[89]:.1f} s  "
        f"p99 {quantiles[98]:.1f} s  max {latencies[-1] if latencies else 0:.1f} s"
    )
    if args.mix:
        for name, values in by_class.items():
            p50, p99 = percentile(values, 0.5) or 0.0, percentile(values, 0.99) or 0.0
            print(f"  {name:>6}: {len(values)} files, p50 {p50:.1f} s  p99 {p99:.1f} s")
    return 0 if lost == 0 else 1


def _mix_plan(args: argparse.Namespace) -> list[tuple[float, int]]:
    """(seconds after the start, size) of the first ``--files`` files of the model's mix."""
    chosen = [u for u in generate(MixConfig()) if u.size <= args.max_size][: args.files]
    first = chosen[0].arrival if chosen else 0.0
    return [((u.arrival - first) * args.time_scale, u.size) for u in chosen]


if __name__ == "__main__":
    raise SystemExit(main())
