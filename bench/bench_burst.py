"""The small-file burst bar (not a test): N small files at once through the local stack's fast path.

Uploads N small files concurrently (every fifth one EICAR, the rest clean; keys with spaces, ``+``,
``%`` and unicode) to a local stack with the small-file fast path on (``FastPathMaxBytes``, the
scanner running as a Lambda function in-process) and Batch jobs as subprocesses, then reports: all
terminal, none lost, verdicts as expected, Batch jobs submitted vs files, p50/p99 upload-to-verdict
(upload -> terminal record in the scans table) and the wall time. ``--batch-only`` runs the same
burst with the fast path off (one Batch job per file) for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
from concurrent.futures import ThreadPoolExecutor

from bench.model.report import percentile
from filescan_local.dispatcher import DispatchSettings
from filescan_local.observe import Upload, upload, wait_terminal
from filescan_local.stack import LocalStack, StackConfig

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
NAMES = ("plain {i}.txt", "with space {i}.bin", "ünïcødé/文件 {i}.txt", "plus+percent%25 {i}.dat")
FAST_PATH_MAX_BYTES = 64 * 1024**2


def _body(index: int) -> tuple[bytes, str]:
    """The content of file ``index`` and the verdict it must get."""
    if index % 5 == 0:
        return EICAR, "malicious"
    return b"harmless line %d\n" % index * (1 + index % 50), "clean"


def main() -> int:
    """Run the burst and print the bar's numbers; exit 1 if a file is lost or misjudged."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--uploaders", type=int, default=16, help="concurrent PutObject threads")
    parser.add_argument("--batch-only", action="store_true", help="fast path off: one Batch job per file")
    args = parser.parse_args()
    limit = "0" if args.batch_only else str(FAST_PATH_MAX_BYTES)
    config = StackConfig(
        api_port=0,
        dispatch=DispatchSettings(sweep_interval=0),
        parameters={"FastPathMaxBytes": limit},
        use_docker=False,
    )
    stack = LocalStack(config)
    with contextlib.redirect_stdout(io.StringIO()), stack:
        assert stack.topology is not None and stack.batch is not None
        s3, dynamodb = stack.client("s3"), stack.client("dynamodb")
        bucket = stack.topology.bucket("UploadsBucket")
        table = stack.topology.template.physical_name("ScansTable")
        expected: dict[str, str] = {}

        def put(index: int) -> Upload:
            body, verdict = _body(index)
            item = upload(s3, bucket, f"uploads/burst/{NAMES[index % len(NAMES)].format(i=index)}", body)
            expected[item.scan_id] = verdict
            return item

        started = time.monotonic()
        with ThreadPoolExecutor(args.uploaders) as pool:
            uploads = list(pool.map(put, range(args.files)))
        uploaded = time.monotonic() - started
        ids = [item.scan_id for item in uploads]
        records, finished = wait_terminal(dynamodb, table, ids, timeout=args.timeout, poll=0.5)
        wall = max(finished.values(), default=started) - started
        jobs = {job.name for job in stack.batch.jobs()}
    latencies = [finished[item.scan_id] - item.uploaded_at for item in uploads if item.scan_id in finished]
    statuses: dict[str, int] = {}
    for record in records.values():
        statuses[str(record.get("status"))] = statuses.get(str(record.get("status")), 0) + 1
    wrong = [s for s in ids if s in finished and records[s].get("verdict") != expected[s]]
    lost = len(ids) - len(finished)
    scanned_by_batch = sum(1 for scan_id in ids if f"filescan-{scan_id}" in jobs)
    mode = "Batch only" if args.batch_only else f"fast path (FastPathMaxBytes={limit})"
    print(f"burst: {args.files} small files, {mode}; uploaded in {uploaded:.1f} s")
    print(f"terminal: {statuses}   lost: {lost}   wrong verdicts: {len(wrong)}")
    print(f"Batch jobs submitted: {scanned_by_batch} for {args.files} files")
    p50, p99 = percentile(latencies, 0.5) or 0.0, percentile(latencies, 0.99) or 0.0
    print(f"upload -> verdict: p50 {p50:.1f} s  p99 {p99:.1f} s  max {max(latencies, default=0):.1f} s")
    print(f"wall time (first upload -> last verdict): {wall:.1f} s")
    keys = {item.scan_id: item.key for item in uploads}
    for scan_id in wrong[:10]:
        record = records[scan_id]
        why = record.get("verdict_reasons") or record.get("failure_reason")
        print(f"  wrong: {keys[scan_id]!r} expected {expected[scan_id]}, got {record.get('verdict')}: {why}")
    return 0 if lost == 0 and not wrong else 1


if __name__ == "__main__":
    raise SystemExit(main())
