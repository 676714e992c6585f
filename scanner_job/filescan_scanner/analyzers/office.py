"""Office analyzer: VBA/XLM macros with oletools ``olevba``, gated by type and size.

``olevba`` reads the whole document into memory (and far more on a large non-Office file), so it runs
only on files that are Office by magic (OLE2, or a zip with OOXML parts) or by MIME type, and only up to
``limits.office_max_bytes``; above that the result is ``partial`` with a limit hit, never clean.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path
from typing import Any

from filescan_scanner.analyzers.archive_zip import central_directory_size
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

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OOXML_PREFIXES = ("word/", "xl/", "ppt/")
_OFFICE_MIME_PREFIXES = (
    "application/vnd.ms-",
    "application/vnd.openxmlformats-officedocument",
    "application/msword",
)
MAX_LISTED = 20


def is_office(target: Target) -> bool:
    """Office by MIME type, OLE2 magic, or a zip whose names include OOXML parts."""
    if target.mime and target.mime.startswith(_OFFICE_MIME_PREFIXES):
        return True
    try:
        with target.open() as fp:
            head = fp.read(8)
            if head == OLE_MAGIC:
                return True
            if not head.startswith(b"PK\x03\x04"):
                return False
            cd = central_directory_size(fp, target.size)
            if cd is None or cd[0] > 65536:
                return False
            fp.seek(0)
            with zipfile.ZipFile(fp) as zf:
                return any(n == "[Content_Types].xml" or n.startswith(_OOXML_PREFIXES) for n in zf.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


class OfficeAnalyzer:
    """Detects VBA and XLM macros, auto-exec and suspicious keywords and IOCs (olevba)."""

    name = "office"

    def applies_to(self, target: Target) -> bool:
        """Office documents only (see ``is_office``)."""
        return is_office(target)

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        """Run olevba within the size cap and map its analysis to findings."""
        from oletools import olevba  # noqa: PLC0415 - ~50 ms to import: only when a document applies

        started = time.monotonic()
        result = AnalyzerResult(self.name, f"olevba-{olevba.__version__}", AnalyzerStatus.OK)
        cap = context.limits.office_max_bytes
        if target.size > cap:
            result.status = AnalyzerStatus.PARTIAL
            detail = f"olevba not run on a document over {cap} bytes"
            result.limits_hit.append(LimitHit(LimitName.OFFICE_MAX_BYTES, cap, detail))
        elif (path := local_file(target, context, result)) is not None:
            try:
                _run_olevba(path, target, result)
            except Exception as exc:  # oletools raises many exception types on malformed input
                result.status = AnalyzerStatus.ERROR
                result.error = f"olevba failed: {type(exc).__name__}: {safe_excerpt(str(exc), 200)}"
        result.seconds = time.monotonic() - started
        return result


def _run_olevba(path: Path, target: Target, result: AnalyzerResult) -> None:
    from oletools import olevba  # noqa: PLC0415

    parser = olevba.VBA_Parser(str(path))
    try:
        has_vba = bool(parser.detect_vba_macros())
        has_xlm = bool(parser.detect_xlm_macros())
        facts: dict[str, Any] = {"type": str(parser.type), "vba_macros": has_vba, "xlm_macros": has_xlm}
        result.facts["office"] = facts
        if has_vba or has_xlm:
            analysis = parser.analyze_macros() or []
            add_macro_findings(target, analysis, has_vba, has_xlm, result)
    finally:
        parser.close()


def add_macro_findings(
    target: Target, analysis: list[tuple[str, str, str]], has_vba: bool, has_xlm: bool, result: AnalyzerResult
) -> None:
    """Map olevba's ``analyze_macros`` rows (type, keyword, description) to facts and findings."""
    groups: dict[str, list[str]] = {}
    for kind, keyword, _description in analysis:
        listed = groups.setdefault(str(kind), [])
        if len(listed) < MAX_LISTED:
            listed.append(safe_excerpt(str(keyword), 100))
    result.facts.setdefault("office", {})["analysis"] = groups
    autoexec, suspicious, iocs = (
        groups.get("AutoExec", []),
        groups.get("Suspicious", []),
        groups.get("IOC", []),
    )
    where = Location(target.location.archive_path)

    def add(rule: str, severity: Severity, title: str, evidence: list[str]) -> None:
        joined = ", ".join(evidence)  # items are escaped already
        text = (joined if len(joined) <= 200 else joined[:197] + "...") if evidence else None
        result.findings.append(
            Finding("office", rule, FindingCategory.MACRO, severity, title, where, evidence=text)
        )

    kinds = " and ".join(k for k, present in (("VBA", has_vba), ("XLM", has_xlm)) if present)
    add("office.macros", Severity.MEDIUM, f"document contains {kinds} macros", [])
    if autoexec:
        severity = Severity.HIGH if suspicious else Severity.MEDIUM
        add("office.macro_autoexec", severity, "macro runs automatically", autoexec)
    if suspicious:
        severity = Severity.HIGH if autoexec else Severity.MEDIUM
        add("office.macro_suspicious", severity, "macro uses suspicious keywords", suspicious)
    if iocs:
        add("office.macro_ioc", Severity.LOW, "macro contains IOCs (URLs, IPs, executables)", iocs)
