"""ClamAV analyzer (optional engine): runs ``clamscan`` on the top-level file.

ClamAV unpacks archives itself, and ``clamscan`` loads its whole database on every run (seconds, and
hundreds of MiB with the official one), so it runs once per object, on the top-level file only.
No ``clamscan`` or no database: ``not_run`` with the reason, never silence. ClamAV cannot scan files of
2 GiB or more: a limit hit and ``partial``. ``Heuristics.Limits.Exceeded.*`` alerts (from
``--alert-exceeds-max``) are limit hits, not malware.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from filescan_scanner.analyzers.base import (
    AnalyzerResult,
    AnalyzerStatus,
    Finding,
    LimitHit,
    Location,
    ScanContext,
    Target,
    local_file,
)
from filescan_scanner.text import safe_excerpt
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

CLAMAV_MAX_FILE = 2**31 - 1
DEFAULT_DB_DIR = Path("/var/lib/clamav")
DB_SUFFIXES = frozenset(
    {".cvd", ".cld", ".cud", ".hdb", ".hsb", ".ndb", ".ldb", ".mdb", ".msb", ".yar", ".yara"}
)
_LIMIT_PREFIX = "Heuristics.Limits.Exceeded"


class ClamAvAnalyzer:
    """Runs ``clamscan`` with an explicit database and explicit size limits, under a timeout."""

    name = "clamav"

    def __init__(
        self,
        binary: str | None = None,
        db_dir: Path | None = None,
        timeout: float = 600.0,
        max_filesize: int = CLAMAV_MAX_FILE,
    ) -> None:
        self.binary = binary if binary is not None else shutil.which("clamscan")
        env_db = os.environ.get("CLAMAV_DB_DIR")
        self.db_dir = db_dir if db_dir is not None else Path(env_db) if env_db else DEFAULT_DB_DIR
        self.timeout = timeout
        self.max_filesize = max_filesize
        self._engine_version: str | None = None

    def applies_to(self, target: Target) -> bool:
        """The top-level file only (ClamAV walks archives on its own)."""
        return target.depth == 0

    def databases(self) -> list[Path]:
        """The signature database files in the configured directory."""
        try:
            return sorted(p for p in self.db_dir.iterdir() if p.suffix.lower() in DB_SUFFIXES and p.is_file())
        except OSError:
            return []

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        """Scan ``target`` with clamscan; parse ``FOUND`` lines into findings and limit hits."""
        started = time.monotonic()
        result = AnalyzerResult(self.name, "clamav", AnalyzerStatus.NOT_RUN)
        dbs = self.databases()
        if not self.binary or not Path(self.binary).exists():
            result.error = "clamscan not installed"
        elif not dbs:
            result.error = f"no ClamAV database in {self.db_dir}"
        else:
            result.version = self.engine_version()
            result.rules_version = database_version(dbs)
            if target.size > CLAMAV_MAX_FILE:
                result.status = AnalyzerStatus.PARTIAL
                detail = f"ClamAV cannot scan files over {CLAMAV_MAX_FILE} bytes"
                result.limits_hit.append(LimitHit(LimitName.CLAMAV_MAX_FILESIZE, CLAMAV_MAX_FILE, detail))
            elif (path := local_file(target, context, result)) is not None:
                self._scan(path, target, context, result)
        result.seconds = time.monotonic() - started
        return result

    def engine_version(self) -> str:
        """``clamscan --version`` (e.g. ``ClamAV 1.4.6``), cached."""
        if self._engine_version is None:
            assert self.binary is not None
            try:
                out = subprocess.run(
                    [self.binary, "--version"], capture_output=True, text=True, timeout=60, check=False
                ).stdout
                self._engine_version = out.strip().split("/", 1)[0] or "clamav"
            except (OSError, subprocess.TimeoutExpired):
                self._engine_version = "clamav"
        return self._engine_version

    def _command(self, path: Path, context: ScanContext) -> list[str]:
        limits = context.limits
        assert self.binary is not None
        scansize = min(limits.max_total_member_bytes, 4095 * 1024 * 1024)
        return [
            self.binary,
            "--no-summary",
            "--stdout",
            "--infected",
            "--alert-exceeds-max=yes",
            f"--database={self.db_dir}",
            f"--max-filesize={min(self.max_filesize, CLAMAV_MAX_FILE)}",
            f"--max-scansize={scansize}",
            f"--max-files={limits.max_members}",
            f"--max-recursion={max(limits.max_depth, 1)}",
            "--",
            str(path),
        ]

    def _scan(self, path: Path, target: Target, context: ScanContext, result: AnalyzerResult) -> None:
        try:
            proc = subprocess.run(
                self._command(path, context), capture_output=True, timeout=self.timeout, check=False
            )
        except subprocess.TimeoutExpired:
            result.status = AnalyzerStatus.ERROR
            result.error = f"clamscan timed out after {self.timeout:g} s"
            return
        except OSError as exc:
            result.status = AnalyzerStatus.ERROR
            result.error = f"clamscan failed to start: {exc}"
            return
        prefix = str(path).encode() + b": "
        for line in proc.stdout.splitlines():
            if line.endswith(b" FOUND"):
                body = line[len(prefix) :] if line.startswith(prefix) else line.rsplit(b": ", 1)[-1]
                self._record(body[: -len(b" FOUND")].strip(), target, result)
        if proc.returncode not in (0, 1):
            result.status = AnalyzerStatus.ERROR
            result.error = f"clamscan exit {proc.returncode}: {safe_excerpt(proc.stderr[-400:], 300)}"
        elif result.limits_hit:
            result.status = AnalyzerStatus.PARTIAL
        else:
            result.status = AnalyzerStatus.OK

    @staticmethod
    def _record(signature: bytes, target: Target, result: AnalyzerResult) -> None:
        name = safe_excerpt(signature, 120)
        where = Location(target.location.archive_path)
        if name.startswith(_LIMIT_PREFIX):
            result.limits_hit.append(LimitHit(clamav_limit(name), 0, f"ClamAV stopped early: {name}", where))
        elif name.startswith("Heuristics.Encrypted"):
            result.findings.append(
                Finding("clamav", name, FindingCategory.ENCRYPTED, Severity.MEDIUM, f"ClamAV: {name}", where)
            )
        elif name.startswith("Heuristics."):
            result.findings.append(
                Finding("clamav", name, FindingCategory.SUSPICIOUS, Severity.HIGH, f"ClamAV: {name}", where)
            )
        else:
            result.findings.append(
                Finding("clamav", name, FindingCategory.MALWARE, Severity.CRITICAL, f"ClamAV: {name}", where)
            )


def clamav_limit(signature: str) -> LimitName:
    """The limit a ClamAV ``Heuristics.Limits.Exceeded.*`` alert names (a new one: ``CLAMAV_OTHER_LIMIT``)."""
    try:
        return LimitName(f"clamav:{signature}")
    except ValueError:
        return LimitName.CLAMAV_OTHER_LIMIT


def database_version(dbs: list[Path]) -> str:
    """Describe the databases: ``daily:27500`` from a CVD/CLD header, else the file name and size."""
    parts = []
    for db in dbs[:20]:
        if db.suffix in (".cvd", ".cld", ".cud"):
            try:
                with db.open("rb") as fp:
                    fields = fp.read(512).split(b":")
                parts.append(f"{db.stem}:{safe_excerpt(fields[2], 20)}" if len(fields) > 2 else db.stem)
            except OSError:
                parts.append(db.stem)
        else:
            parts.append(f"{safe_excerpt(db.name, 60)}({db.stat().st_size}b)")
    return ",".join(parts)
