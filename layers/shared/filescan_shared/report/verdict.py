"""The deterministic verdict: one pure function of the report, shared by the scanner and analysis.

Rules, first match wins (``severity`` is never below the highest finding's):

1. ``malicious``: a finding of a malicious category (``FindingCategory.malicious``: ``malware``,
   ``webshell``, ``exploit``) at high or above, or
   any critical finding. (EICAR is category ``malware``, high: test signatures count.)
2. ``unscannable``: the top-level file could not be read at all (``file`` is null); severity >= medium.
3. ``suspicious``: any finding at medium or above.
4. ``suspicious`` (incomplete): a coverage limit was hit, an engine errored or stopped early
   (``error``/``partial``), content could not be inspected, or there are unscannable reasons;
   severity >= low. Limits that only drop *further matches of something already reported*
   (``max_matches_per_rule``, ``max_report_findings``) and the informational ``fuzzy_hash_max_bytes``
   do not count as lost coverage (``LimitName.loses_coverage``).
5. ``error``: the report records a scanner error (``error`` is set) and nothing above applied.
6. ``clean``: otherwise. Low/info findings keep it clean with that severity; engines that did not
   run (``not_run``, e.g. ClamAV absent) are named in the reasons but do not by themselves block it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from filescan_shared.report.vocabulary import EngineStatus
from filescan_shared.severity import Severity, Verdict

if TYPE_CHECKING:
    from filescan_shared.report.model import Finding, ReportBody, VerdictSection

MAX_REASONS = 10


@dataclasses.dataclass(frozen=True)
class VerdictDecision:
    """A verdict, its severity and the human-readable reasons behind it."""

    verdict: Verdict
    severity: Severity
    reasons: tuple[str, ...]

    def section(self) -> VerdictSection:
        """The report's ``verdict`` section."""
        from filescan_shared.report.model import VerdictSection  # noqa: PLC0415 - pydantic on first use

        return VerdictSection(verdict=self.verdict, severity=self.severity, reasons=list(self.reasons))


def _describe(finding: Finding) -> str:
    path = finding.location.archive_path
    where = f" in {'/'.join(path)}" if path else ""
    head = f"{finding.severity.label} {finding.category}: {finding.title}"
    return f"{head} ({finding.rule_id}){where}"


def incompleteness(report: ReportBody) -> list[str]:
    """Why the scan did not cover everything (empty when it did)."""
    reasons = [
        f"limit hit: {hit.limit} ({hit.detail})" for hit in report.limits_hit if hit.limit.loses_coverage
    ]
    reasons.extend(
        f"engine {engine.name} {engine.status}: {engine.error or 'see limits'}"
        for engine in report.engines
        if engine.status in {EngineStatus.ERROR, EngineStatus.PARTIAL}
    )
    reasons.extend(f"not inspected: {item.reason}" for item in report.uninspected)
    reasons.extend(f"unscannable: {reason}" for reason in report.unscannable_reasons)
    return reasons


def decide_verdict(report: ReportBody) -> VerdictDecision:
    """Compute the verdict of ``report`` (a validated report, with or without its verdict) by the rules."""
    ranked = sorted(report.findings, key=lambda f: f.severity, reverse=True)
    top = ranked[0].severity if ranked else Severity.NONE
    malicious = [
        f
        for f in ranked
        if (f.severity >= Severity.HIGH and f.category.malicious) or f.severity == Severity.CRITICAL
    ]
    incomplete = incompleteness(report)
    not_run = [f"engine {e.name} not run" for e in report.engines if e.status is EngineStatus.NOT_RUN]

    def cap(items: list[str]) -> tuple[str, ...]:
        return tuple(items[:MAX_REASONS]) + (
            (f"... {len(items) - MAX_REASONS} more",) if len(items) > MAX_REASONS else ()
        )

    if malicious:
        return VerdictDecision(Verdict.MALICIOUS, top, cap([_describe(f) for f in malicious] + incomplete))
    if report.file is None:
        return VerdictDecision(
            Verdict.UNSCANNABLE, max(top, Severity.MEDIUM), cap(incomplete or ["file unreadable"])
        )
    serious = [f for f in ranked if f.severity >= Severity.MEDIUM]
    if serious:
        return VerdictDecision(Verdict.SUSPICIOUS, top, cap([_describe(f) for f in serious] + incomplete))
    if incomplete:
        return VerdictDecision(
            Verdict.SUSPICIOUS, max(top, Severity.LOW), cap(["incomplete scan", *incomplete])
        )
    if report.error:
        return VerdictDecision(Verdict.ERROR, max(top, Severity.LOW), cap([f"scanner error: {report.error}"]))
    minor = [_describe(f) for f in ranked]
    return VerdictDecision(Verdict.CLEAN, top, cap(minor + not_run or ["no findings"]))
