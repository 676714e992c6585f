from typing import Any

import pytest

from filescan_shared.report.model import ReportBody
from filescan_shared.report.verdict import decide_verdict
from filescan_shared.severity import Severity, Verdict
from tests.support.reports import report_body


def _report(**parts: Any) -> ReportBody:
    return report_body(**{"engines": [{"name": "yara-x", "status": "ok"}], **parts})


def _f(category: str, severity: str, path: list[str] | None = None) -> dict[str, Any]:
    return {
        "engine": "yara-x",
        "rule_id": f"r.{category}",
        "category": category,
        "severity": severity,
        "title": "t",
        "location": {"archive_path": path or [], "offset": 0},
    }


CASES = [
    ("nothing", _report(), Verdict.CLEAN, Severity.NONE),
    ("eicar", _report(findings=[_f("malware", "high")]), Verdict.MALICIOUS, Severity.HIGH),
    (
        "eicar in zip",
        _report(findings=[_f("malware", "high", ["a.zip", "e.com"])]),
        Verdict.MALICIOUS,
        Severity.HIGH,
    ),
    ("webshell", _report(findings=[_f("webshell", "high")]), Verdict.MALICIOUS, Severity.HIGH),
    ("critical anything", _report(findings=[_f("secret", "critical")]), Verdict.MALICIOUS, Severity.CRITICAL),
    ("secret high", _report(findings=[_f("secret", "high")]), Verdict.SUSPICIOUS, Severity.HIGH),
    ("medium", _report(findings=[_f("suspicious-script", "medium")]), Verdict.SUSPICIOUS, Severity.MEDIUM),
    ("malware medium", _report(findings=[_f("malware", "medium")]), Verdict.SUSPICIOUS, Severity.MEDIUM),
    ("low only", _report(findings=[_f("packer", "low")]), Verdict.CLEAN, Severity.LOW),
    (
        "unreadable",
        _report(file=None, engines=[], unscannable_reasons=["NoSuchKey"]),
        Verdict.UNSCANNABLE,
        Severity.MEDIUM,
    ),
    (
        "depth limit",
        _report(limits_hit=[{"limit": "max_depth", "detail": "d"}]),
        Verdict.SUSPICIOUS,
        Severity.LOW,
    ),
    (
        "match cap only",
        _report(
            findings=[_f("secret", "low")], limits_hit=[{"limit": "max_matches_per_rule", "detail": "d"}]
        ),
        Verdict.CLEAN,
        Severity.LOW,
    ),
    (
        "tlsh head only",
        _report(limits_hit=[{"limit": "fuzzy_hash_max_bytes", "detail": "d"}]),
        Verdict.CLEAN,
        Severity.NONE,
    ),
    (
        "engine error",
        _report(engines=[{"name": "pdf", "status": "error", "error": "boom"}]),
        Verdict.SUSPICIOUS,
        Severity.LOW,
    ),
    (
        "engine partial",
        _report(engines=[{"name": "office", "status": "partial"}]),
        Verdict.SUSPICIOUS,
        Severity.LOW,
    ),
    ("uninspected", _report(uninspected=[{"reason": "encrypted member"}]), Verdict.SUSPICIOUS, Severity.LOW),
    (
        "not run stays clean",
        _report(engines=[{"name": "clamav", "status": "not_run"}]),
        Verdict.CLEAN,
        Severity.NONE,
    ),
    ("scanner error", _report(error="crash"), Verdict.ERROR, Severity.LOW),
    (
        "malicious beats limits",
        _report(findings=[_f("malware", "high")], limits_hit=[{"limit": "max_members"}]),
        Verdict.MALICIOUS,
        Severity.HIGH,
    ),
]


@pytest.mark.parametrize(("name", "report", "verdict", "severity"), CASES, ids=[c[0] for c in CASES])
def test_given_a_report_when_the_verdict_is_decided_then_it_matches_the_table(
    name: str, report: ReportBody, verdict: Verdict, severity: Severity
) -> None:
    decision = decide_verdict(report)
    assert (decision.verdict, decision.severity) == (verdict, severity)
    assert decision.reasons


def test_given_an_engine_not_run_when_the_verdict_is_decided_then_the_reasons_name_it() -> None:
    decision = decide_verdict(_report(engines=[{"name": "clamav", "status": "not_run"}]))
    assert any("clamav not run" in r for r in decision.reasons)


def test_given_findings_in_any_order_when_the_verdict_is_decided_then_it_is_the_same() -> None:
    findings = [_f("packer", "low"), _f("secret", "high"), _f("suspicious-script", "medium")]
    a = decide_verdict(_report(findings=findings))
    b = decide_verdict(_report(findings=list(reversed(findings))))
    assert a == b
