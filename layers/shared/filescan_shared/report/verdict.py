"""The deterministic verdict: one pure function of the report, shared by the scanner and analysis.

Rules, first match wins (``severity`` is never below the highest finding's):

1. ``malicious``: a finding of category ``malware``, ``webshell`` or ``exploit`` at high or above, or
   any critical finding. (EICAR is category ``malware``, high: test signatures count.)
2. ``unscannable``: the top-level file could not be read at all (``file`` is null); severity >= medium.
3. ``suspicious``: any finding at medium or above.
4. ``suspicious`` (incomplete): a coverage limit was hit, an engine errored or stopped early
   (``error``/``partial``), content could not be inspected, or there are unscannable reasons;
   severity >= low. Limits that only drop *further matches of something already reported*
   (``max_matches_per_rule``, ``max_report_findings``) and the informational ``fuzzy_hash_max_bytes``
   do not count as lost coverage.
5. ``error``: the report records a scanner error (``error`` is set) and nothing above applied.
6. ``clean``: otherwise. Low/info findings keep it clean with that severity; engines that did not
   run (``not_run``, e.g. ClamAV absent) are named in the reasons but do not by themselves block it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from filescan_shared.severity import Severity, Verdict

MALICIOUS_CATEGORIES = frozenset({"malware", "webshell", "exploit"})
NON_COVERAGE_LIMITS = frozenset({"max_matches_per_rule", "max_report_findings", "fuzzy_hash_max_bytes"})
MAX_REASONS = 10


@dataclasses.dataclass(frozen=True)
class VerdictDecision:
    """A verdict, its severity and the human-readable reasons behind it."""

    verdict: Verdict
    severity: Severity
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The report's ``verdict`` section."""
        return {"verdict": self.verdict.value, "severity": self.severity.label, "reasons": list(self.reasons)}


def _severity(finding: Mapping[str, Any]) -> Severity:
    try:
        return Severity.from_label(str(finding.get("severity", "medium")))
    except ValueError:
        return Severity.MEDIUM


def _seq(report: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = report.get(key)
    return value if isinstance(value, list) else []


def _describe(finding: Mapping[str, Any]) -> str:
    path = finding.get("location", {}).get("archive_path") or []
    where = f" in {'/'.join(str(p) for p in path)}" if path else ""
    head = f"{finding.get('severity')} {finding.get('category')}: {finding.get('title')}"
    return f"{head} ({finding.get('rule_id')}){where}"


def incompleteness(report: Mapping[str, Any]) -> list[str]:
    """Why the scan did not cover everything (empty when it did)."""
    reasons: list[str] = []
    for hit in _seq(report, "limits_hit"):
        if hit.get("limit") not in NON_COVERAGE_LIMITS:
            reasons.append(f"limit hit: {hit.get('limit')} ({hit.get('detail')})")
    for engine in _seq(report, "engines"):
        if engine.get("status") in {"error", "partial"}:
            reasons.append(
                f"engine {engine.get('name')} {engine.get('status')}: {engine.get('error') or 'see limits'}"
            )
    for item in _seq(report, "uninspected"):
        reasons.append(f"not inspected: {item.get('reason')}")
    reasons.extend(f"unscannable: {reason}" for reason in _seq(report, "unscannable_reasons"))
    return reasons


def decide_verdict(report: Mapping[str, Any]) -> VerdictDecision:
    """Compute the verdict of ``report`` (a report document, validated or not) by the module's rules."""
    findings = [f for f in _seq(report, "findings") if isinstance(f, Mapping)]
    ranked = sorted(findings, key=_severity, reverse=True)
    top = _severity(ranked[0]) if ranked else Severity.NONE
    malicious = [
        f
        for f in ranked
        if (_severity(f) >= Severity.HIGH and f.get("category") in MALICIOUS_CATEGORIES)
        or _severity(f) == Severity.CRITICAL
    ]
    incomplete = incompleteness(report)
    not_run = [
        f"engine {e.get('name')} not run" for e in _seq(report, "engines") if e.get("status") == "not_run"
    ]

    def cap(items: list[str]) -> tuple[str, ...]:
        return tuple(items[:MAX_REASONS]) + (
            (f"... {len(items) - MAX_REASONS} more",) if len(items) > MAX_REASONS else ()
        )

    if malicious:
        return VerdictDecision(Verdict.MALICIOUS, top, cap([_describe(f) for f in malicious] + incomplete))
    if report.get("file") is None:
        return VerdictDecision(
            Verdict.UNSCANNABLE, max(top, Severity.MEDIUM), cap(incomplete or ["file unreadable"])
        )
    serious = [f for f in ranked if _severity(f) >= Severity.MEDIUM]
    if serious:
        return VerdictDecision(Verdict.SUSPICIOUS, top, cap([_describe(f) for f in serious] + incomplete))
    if incomplete:
        return VerdictDecision(
            Verdict.SUSPICIOUS, max(top, Severity.LOW), cap(["incomplete scan", *incomplete])
        )
    if report.get("error"):
        return VerdictDecision(
            Verdict.ERROR, max(top, Severity.LOW), cap([f"scanner error: {report.get('error')}"])
        )
    minor = [_describe(f) for f in ranked]
    return VerdictDecision(Verdict.CLEAN, top, cap(minor + not_run or ["no findings"]))
