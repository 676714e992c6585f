"""The verdict across engines: one pure function of every engine's normalised result.

Rules, first match wins (the severity is the maximum over every engine, never lowered by another):

1. ``malicious``: any engine, required or optional, is malicious or has a malicious finding (a
   malicious category at high or above, or anything critical: the rule of ``report.verdict``).
2. ``suspicious``: any engine has a finding at medium or above, or a *required* engine's own verdict
   is suspicious (e.g. an LLM reading that is not trusted as clean).
3. a *required* engine that is not clean (failed, timed out, unscannable, unreadable output): the
   scan is ``error`` (``unscannable`` when every such engine said unscannable), the reasons name the
   engines; the severity is at least low (medium for unscannable), as ``report.verdict`` does.
4. ``clean``, when at least one engine is clean. An optional engine that is not clean only adds a
   reason: it never blocks; and optional failures alone (no engine clean) are ``error``, not clean.

No result at all is ``error``: a scan with no engine is not a clean scan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from filescan_shared.engines.results import EngineResult
from filescan_shared.report.model import Finding
from filescan_shared.report.verdict import MAX_REASONS, VerdictDecision
from filescan_shared.severity import Severity, Verdict

_FAILURE_FLOOR = {Verdict.ERROR: Severity.LOW, Verdict.UNSCANNABLE: Severity.MEDIUM}


def is_malicious(finding: Finding) -> bool:
    """Whether ``finding`` alone makes a file malicious (``report.verdict``'s first rule)."""
    return finding.severity == Severity.CRITICAL or (
        finding.severity >= Severity.HIGH and finding.category.malicious
    )


def findings_verdict(findings: Iterable[Finding]) -> Verdict:
    """What findings alone say: malicious, suspicious (medium or above) or clean (low/info or none)."""
    listed = list(findings)
    if any(is_malicious(finding) for finding in listed):
        return Verdict.MALICIOUS
    if any(finding.severity >= Severity.MEDIUM for finding in listed):
        return Verdict.SUSPICIOUS
    return Verdict.CLEAN


def _severity(result: EngineResult) -> Severity:
    return max([result.severity, *(finding.severity for finding in result.findings)])


def _own_verdict(result: EngineResult) -> Verdict:
    """The engine's verdict, raised by its findings (a result built elsewhere may understate them)."""
    by_findings = findings_verdict(result.findings)
    if Verdict.MALICIOUS in {result.verdict, by_findings}:
        return Verdict.MALICIOUS
    if by_findings is Verdict.SUSPICIOUS:
        return Verdict.SUSPICIOUS
    return result.verdict


def _why(result: EngineResult, verdict: Verdict) -> str:
    kind = "required" if result.required else "optional"
    detail = "; ".join(result.reasons[:2]) or f"{len(result.findings)} finding(s)"
    return f"engine {result.engine} ({kind}) {verdict}: {detail}"[:2000]


def _cap(items: list[str]) -> tuple[str, ...]:
    if len(items) <= MAX_REASONS:
        return tuple(items)
    return (*items[:MAX_REASONS], f"... {len(items) - MAX_REASONS} more")


def combine_results(results: Sequence[EngineResult]) -> VerdictDecision:
    """The scan's verdict from every engine's result, by the rules in this module's docstring."""
    if not results:
        return VerdictDecision(Verdict.ERROR, Severity.NONE, ("no engine result: nothing was scanned",))
    verdicts = [(result, _own_verdict(result)) for result in results]
    severity = max(_severity(result) for result in results)
    failed = [(r, v) for r, v in verdicts if r.required and v in _FAILURE_FLOOR]
    severity = max([severity, *(_FAILURE_FLOOR[v] for _, v in failed)])
    optional_notes = [_why(r, v) for r, v in verdicts if not r.required and v is not Verdict.CLEAN]

    malicious = [_why(r, v) for r, v in verdicts if v is Verdict.MALICIOUS]
    if malicious:
        return VerdictDecision(Verdict.MALICIOUS, severity, _cap(malicious + [_why(r, v) for r, v in failed]))
    suspicious = [
        _why(r, v)
        for r, v in verdicts
        if v is Verdict.SUSPICIOUS and (r.required or findings_verdict(r.findings) is Verdict.SUSPICIOUS)
    ]
    if suspicious:
        return VerdictDecision(
            Verdict.SUSPICIOUS, severity, _cap(suspicious + [_why(r, v) for r, v in failed])
        )
    if failed:
        verdict = Verdict.UNSCANNABLE if all(v is Verdict.UNSCANNABLE for _, v in failed) else Verdict.ERROR
        return VerdictDecision(verdict, severity, _cap([_why(r, v) for r, v in failed] + optional_notes))
    clean = [f"engine {r.engine}: clean" for r, v in verdicts if v is Verdict.CLEAN]
    if not clean:
        return VerdictDecision(Verdict.ERROR, severity, _cap(["no engine finished clean", *optional_notes]))
    return VerdictDecision(Verdict.CLEAN, severity, _cap(clean + optional_notes))


__all__ = ["combine_results", "findings_verdict", "is_malicious"]
