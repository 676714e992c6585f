"""What the CLI prints: JSON (``--json``: valid JSON only on stdout) or plain tables."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

VERDICT_LEVELS = {"clean": 0, "unscannable": 1, "error": 1, "suspicious": 2, "malicious": 3}
"""``--fail-on`` order: a scan at or above the chosen level exits 3."""
FAIL_ON_CHOICES = ("unscannable", "suspicious", "malicious")
TERMINAL_STATES = frozenset({"COMPLETE", "FAILED", "SKIPPED"})


def verdict_level(scan: dict[str, Any]) -> int:
    """How bad a finished scan is; a failed or skipped scan (no verdict) counts as ``error``."""
    verdict = scan.get("verdict")
    if verdict in VERDICT_LEVELS:
        return VERDICT_LEVELS[str(verdict)]
    return VERDICT_LEVELS["error"] if scan.get("status") in TERMINAL_STATES else 0


def fails(scans: Sequence[dict[str, Any]], fail_on: str | None) -> bool:
    """Whether any scan reaches the ``--fail-on`` level."""
    if fail_on is None:
        return False
    return any(verdict_level(scan) >= VERDICT_LEVELS[fail_on] for scan in scans)


def emit_json(value: Any) -> None:
    """Print ``value`` as JSON on stdout (nothing else is printed there with ``--json``)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def printable(value: object) -> str:
    r"""``value`` as text a terminal shows as is: control and format characters as ``\xNN``/``\uNNNN``.

    Object keys, titles and summaries come from uploaders and files: an ESC sequence could recolour
    or rewrite the terminal, a CR overwrite a line, an LF split a table row. ``--json`` output is
    escaped by the JSON encoder instead.
    """
    text = str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode() for char in text)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A plain aligned text table (every cell through ``printable``)."""
    cells = [[str(h) for h in headers]] + [["" if v is None else printable(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(value.ljust(widths[i]) for i, value in enumerate(row)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def describe_scan(scan: dict[str, Any]) -> str:
    """``filescan show``: the verdict, severity, top findings and the summary."""
    lines = [
        f"scan      {printable(scan['scan_id'])}",
        f"object    s3://{printable(scan['bucket'])}/{printable(scan['key'])}"
        + (f" ({printable(scan['version_id'])})" if scan.get("version_id") else ""),
        f"status    {scan['status']}",
        f"verdict   {scan.get('verdict') or '-'}",
        f"severity  {scan.get('severity') or '-'}",
    ]
    for label, field in (("skipped", "skip_reason"), ("failure", "failure_reason")):
        if scan.get(field):
            lines.append(f"{label:<9} {printable(scan[field])}")
    findings = scan.get("top_findings") or []
    if findings:
        rows = [
            (f.get("severity"), f.get("category"), f.get("title") or f.get("rule_id"), _where(f))
            for f in findings
        ]
        lines += ["", table(rows, ("severity", "category", "finding", "where"))]
    analysis = scan.get("analysis") or {}
    lines += _triage_lines(analysis)
    if analysis.get("summary"):
        lines += ["", "summary", f"  {printable(analysis['summary'])}"]
    return "\n".join(lines)


def _triage_lines(analysis: dict[str, Any]) -> list[str]:
    """Who wrote the summary, whether the LLM step failed, and any contradiction flag."""
    if not analysis:
        return []
    engine, status = analysis.get("engine") or "-", analysis.get("status") or "-"
    reason = f" ({analysis['reason']})" if analysis.get("reason") and status != "ok" else ""
    lines = [printable(f"triage    {engine} {status}{reason}")]
    if analysis.get("contradiction"):
        why = printable(", ".join(analysis.get("contradiction_reasons") or ["lower_severity"]))
        lines.append(
            f"FLAGGED   the model's answer contradicts the verdict ({why}); "
            "the summary below is the deterministic one"
        )
    return lines


def _where(finding: dict[str, Any]) -> str:
    """The archive path of a top finding (the API's ``archive_path``: a list of member names)."""
    path = finding.get("archive_path") or []
    return "/".join(str(part) for part in path) if isinstance(path, list) else str(path)
