"""What analysis tells the rules summary about a report's gaps (limits versus engine errors)."""

from __future__ import annotations

from typing import Any

from filescan_shared.pipeline.analysis import triage_input_from_report
from filescan_shared.records import ScanRecord
from filescan_shared.report.model import Report
from filescan_shared.report.verdict import Severity, Verdict
from filescan_shared.states import ScanState
from filescan_shared.triage.rules import summarise
from tests.support.reports import report

NOW = "2026-12-01T00:00:00Z"


def _report(engines: list[dict[str, Any]], limits: list[dict[str, Any]]) -> Report:
    return report(
        file={"size": 10, "sha256": "0" * 64, "mime": "application/zip"},
        engines=engines,
        limits_hit=limits,
    )


def _summary(report: Report) -> str:
    record = ScanRecord(
        scan_id="a" * 32, status=ScanState.ANALYZING, bucket="b", key="k.zip", created_at=NOW, updated_at=NOW
    )
    return summarise(triage_input_from_report(record, report, Verdict.SUSPICIOUS, Severity.MEDIUM)).summary


def test_given_archive_engine_at_a_limit_when_summarised_then_the_limit_not_an_engine_error() -> None:
    limit = {"engine": "archive", "limit": "max_depth", "value": 5, "detail": "nesting deeper than 5"}
    report = _report(
        [{"name": "archive", "status": "partial"}], [{**limit, "location": {"archive_path": []}}]
    )

    summary = _summary(report)

    assert "max_depth: nesting deeper than 5" in summary
    assert "engine error" not in summary


def test_given_engine_error_or_unexplained_partial_when_summarised_then_engine_error() -> None:
    engines = [{"name": "clamav", "status": "error"}, {"name": "pdf", "status": "partial"}]

    summary = _summary(_report(engines, []))

    assert "engine error: clamav" in summary and "engine error: pdf" in summary
