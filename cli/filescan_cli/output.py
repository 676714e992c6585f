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
    """``filescan show``: the verdict, severity, top findings, each engine's outcome and the summary."""
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
    lines += _engine_lines(scan.get("engines"))
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


TOP_FINDING_CHARS = 60
"""An engine's top finding is cut to this many characters in the table (``--json`` has it whole)."""
ENGINE_COLUMNS = (
    "engine", "need", "state", "outcome", "verdict", "severity", "read by", "findings", "top finding",
    "time", "cost", "attempts",
)  # fmt: skip


def _engine_lines(engines: object) -> list[str]:
    """One row per engine (``engines`` on the scan), then each engine's reasons; none for older scans."""
    if not isinstance(engines, dict) or not engines:
        return []
    rows, reasons = [], []
    for name, value in sorted(engines.items()):
        run = value if isinstance(value, dict) else {}
        rows.append(_engine_row(name, run))
        reasons += [f"  {name}: {reason}" for reason in run.get("reasons") or []]
    lines = ["", "engines", table(rows, ENGINE_COLUMNS)]
    return lines + (["", "engine reasons", *(printable(r) for r in reasons)] if reasons else [])


def _engine_row(name: str, run: dict[str, Any]) -> tuple[object, ...]:
    """The table row of one engine (``-`` for what is not known yet)."""
    duration, count = run.get("duration_seconds"), run.get("findings_count")
    return (
        name,
        "required" if run.get("required", True) else "optional",
        run.get("state") or "-",
        run.get("outcome") or "-",
        run.get("verdict") or "-",
        run.get("severity") or "-",
        run.get("read_by") or "-",
        "-" if count is None else count,
        _top_finding(run.get("top_findings")),
        "-" if duration is None else f"{float(duration):.1f}s",
        _usd(run.get("cost")),
        _attempts(run),
    )


def _top_finding(findings: object) -> str:
    """The most severe finding of an engine (its title), and how many more it has among the top ones."""
    if not isinstance(findings, list) or not findings or not isinstance(findings[0], dict):
        return "-"
    first = findings[0]
    title = str(first.get("title") or first.get("rule_id") or "?")
    title = title if len(title) <= TOP_FINDING_CHARS else title[: TOP_FINDING_CHARS - 3] + "..."
    label = f"{first.get('severity') or '?'} {title}"
    return label + (f" (+{len(findings) - 1})" if len(findings) > 1 else "")


def _usd(cost: object) -> str:
    """An engine job's estimated cost (``cost.usd``), or ``-``."""
    usd = cost.get("usd") if isinstance(cost, dict) else None
    return f"${usd}" if usd is not None else "-"


def _attempts(run: dict[str, Any]) -> str:
    """Attempts, with Spot interruptions and the escalation to on-demand capacity when they happened."""
    notes = []
    if run.get("interruptions"):
        notes.append(f"{run['interruptions']} interrupted")
    if run.get("escalated_at"):
        notes.append("on-demand")  # when: escalated_at, in --json
    return f"{run.get('attempts', 0)}" + (f" ({', '.join(notes)})" if notes else "")


def _where(finding: dict[str, Any]) -> str:
    """The archive path of a top finding (the API's ``archive_path``: a list of member names)."""
    path = finding.get("archive_path") or []
    return "/".join(str(part) for part in path) if isinstance(path, list) else str(path)
