"""Benchmark: a multi-GiB object scanned in S3 mode, read in place, against a local moto server.

The object (3 GiB by default) is generated while it is uploaded (a multipart upload fed from a
generator: never whole in memory, never on disk), with EICAR planted in the middle. Then, in the same
run and against the same object:

* ``filescan-scan --bucket --key`` (production settings: parallel ranged GETs, no local copy) under
  /usr/bin/time, while a watcher records the largest size its work dir reached;
* the reference, what ``aws s3 cp`` + ``sha256sum`` do: boto3 ``download_file`` (the transfer
  manager's defaults) to a file, then ``sha256sum`` of it.

Prints MiB/s and peak RSS of both, and the ratios. moto answers every ranged GET by reading the whole
object, which makes a multi-GiB object quadratic: the server here is ``bench/moto_ranged.py``, moto
reading only the requested range. Both MiB/s figures are still loopback-and-moto-bound (the ratio is
what transfers); the peak RSS is the scanner's own. Bar: peak RSS <= 256 MiB and a work dir that
never held the object. Not a test: run ``make bench-scanner-huge`` (``BENCH_ARGS="--size-mib 1024"``
for a quicker run).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_scanner import OUT, MiB, timed  # noqa: E402 - after the path is set
from tests.support.moto_server import FAKE_ENV, running_moto_server  # noqa: E402

BUCKET = "filescan-bench-huge"
REPORTS = "filescan-bench-huge-reports"
KEY = "huge/object.bin"
BUDGET = 256 * MiB
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
REFERENCE = """
import sys, boto3
from boto3.s3.transfer import TransferConfig
boto3.client("s3").download_file(sys.argv[1], sys.argv[2], sys.argv[3], Config=TransferConfig())
"""


class Generated(io.RawIOBase):
    """``size`` bytes made on demand: 1 MiB random blocks cycled, EICAR planted at the middle."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size, self._pos = size, 0
        self._blocks = [os.urandom(MiB) for _ in range(7)] + [bytes(MiB)]
        self._eicar_at = size // 2

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._size - self._pos, MiB - self._pos % MiB)
        block = bytearray(self._blocks[(self._pos // MiB) % len(self._blocks)][self._pos % MiB :][:n])
        start = self._eicar_at - self._pos
        if -len(EICAR) < start < n:
            piece = EICAR[max(0, -start) : n - start]
            block[max(0, start) : max(0, start) + len(piece)] = piece
        view[:n] = block
        self._pos += n
        return n


def _watch(directory: Path, stop: threading.Event, peak: list[int]) -> None:
    """Record the largest total size of the files under ``directory`` until ``stop``."""
    while not stop.wait(0.2):
        total = 0
        for path in directory.rglob("*"):
            try:
                total += path.stat().st_size if path.is_file() else 0
            except OSError:
                continue
        peak[0] = max(peak[0], total)


def _scan(size: int, work: Path) -> tuple[float, int, int, int]:
    """filescan-scan in S3 mode; wall, peak RSS, rc and the work dir's largest size."""
    scan = str(Path(sys.executable).parent / "filescan-scan")
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=_watch, args=(work, stop, peak), daemon=True)
    watcher.start()
    os.environ["FILESCAN_WORK_DIR"] = str(work)
    cmd = [
        scan,
        "--bucket",
        BUCKET,
        "--key",
        KEY,
        "--scan-id",
        f"huge-{size // MiB}",
        "--log-level",
        "WARNING",
    ]
    wall, rss, rc = timed(cmd, OUT / "scan-huge.stdout")
    stop.set()
    watcher.join()
    return wall, rss, rc, peak[0]


def _reference(work: Path) -> tuple[float, int, float, int]:
    """boto3 download_file then sha256sum: each one's wall and peak RSS."""
    target = work / "reference.bin"
    try:
        dl_wall, dl_rss, dl_rc = timed(
            [sys.executable, "-c", REFERENCE, BUCKET, KEY, str(target)], OUT / "reference.stdout"
        )
        sum_wall, sum_rss, sum_rc = timed(["sha256sum", str(target)], OUT / "reference-sha256.txt")
        if dl_rc or sum_rc:
            raise RuntimeError(f"reference failed: download rc {dl_rc}, sha256sum rc {sum_rc}")
        return dl_wall, dl_rss, sum_wall, sum_rss
    finally:
        target.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=3072, help="object size in MiB (default 3072)")
    args = parser.parse_args()
    size = args.size_mib * MiB
    OUT.mkdir(parents=True, exist_ok=True)
    launcher = [sys.executable, str(ROOT / "bench" / "moto_ranged.py")]
    with running_moto_server(launcher) as endpoint, tempfile.TemporaryDirectory(dir=OUT) as tmp:
        os.environ.update({**FAKE_ENV, "AWS_ENDPOINT_URL": endpoint, "REPORTS_BUCKET": REPORTS})
        # moto assembles a completed multipart upload in one request: minutes for a few GiB.
        s3 = boto3.client("s3", config=Config(read_timeout=3600, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=REPORTS)
        started = time.perf_counter()
        s3.upload_fileobj(io.BufferedReader(Generated(size), 8 * MiB), BUCKET, KEY, Config=TransferConfig())
        print(
            f"uploaded {size // MiB} MiB (generated while streaming) in {time.perf_counter() - started:.0f} s"
        )
        work = Path(tmp) / "work"
        work.mkdir()
        wall, rss, rc, work_peak = _scan(size, work)
        verdict = s3.get_object(Bucket=REPORTS, Key=f"reports/huge-{size // MiB}.json")["Body"].read()
        malicious = b'"verdict":"malicious"' in verdict
        dl_wall, dl_rss, sum_wall, sum_rss = _reference(Path(tmp))
    mib = size / MiB
    ref_wall, ref_rss = dl_wall + sum_wall, max(dl_rss, sum_rss)
    lines = [
        f"S3 mode, {mib:.0f} MiB object read in place (moto server on 127.0.0.1, production settings), "
        f"{os.cpu_count()} CPUs",
        "                               |   MiB/s | peak RSS MiB | local bytes",
        f"filescan-scan --bucket --key   | {mib / wall:>7.1f} | {rss / MiB:>12.1f} | {work_peak:>11}",
        f"download_file + sha256sum      | {mib / ref_wall:>7.1f} | {ref_rss / MiB:>12.1f} | {size:>11}",
        f"  (download_file alone         | {mib / dl_wall:>7.1f} | {dl_rss / MiB:>12.1f} |)",
        f"ratio scan / reference         | {ref_wall / wall:>7.2f} | {rss / ref_rss:>12.2f} |",
        f"rc {rc}, EICAR found: {'yes' if malicious else 'NO'}, peak RSS <= 256 MiB: "
        f"{'yes' if rss <= BUDGET else 'NO'}, no local copy: {'yes' if work_peak < size // 2 else 'NO'}",
    ]
    print("\n".join(lines))
    (OUT / "bench-scanner-huge.txt").write_text("\n".join(lines) + "\n")
    return 0 if rc == 0 and malicious and rss <= BUDGET and work_peak < size // 2 else 1


if __name__ == "__main__":
    sys.exit(main())
