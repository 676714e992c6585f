"""The scan record's typed contract: updates name real fields, enums are stored as the same strings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from filescan_shared.records import ScanFields, ScanRecord
from filescan_shared.repository.items import from_item, to_item
from filescan_shared.severity import Severity, Verdict
from filescan_shared.states import ScanState

STAMP = "2026-11-30T10:00:00.000Z"


def _record(**fields: object) -> ScanRecord:
    return ScanRecord.model_validate(
        {"scan_id": "0" * 32, "status": "COMPLETE", "bucket": "b", "key": "k", "created_at": STAMP}
        | {"updated_at": STAMP}
        | fields
    )


def test_given_a_misspelt_field_when_an_update_is_built_then_it_fails_loudly() -> None:
    with pytest.raises(ValidationError, match="verdcit"):
        ScanFields.model_validate({"verdcit": "clean"})


def test_given_a_field_the_pipeline_does_not_set_after_creation_when_updated_then_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="status"):
        ScanFields.model_validate({"status": "COMPLETE"})


@pytest.mark.parametrize(("name", "value"), [("verdict", "fine"), ("severity", "severe"), ("size", "big")])
def test_given_a_value_of_the_wrong_kind_when_an_update_is_built_then_it_fails(name: str, value: str) -> None:
    with pytest.raises(ValidationError, match=name):
        ScanFields.model_validate({name: value})


def test_given_an_update_when_applied_then_only_its_fields_are_assigned_as_stored_strings() -> None:
    update = ScanFields(verdict=Verdict.SUSPICIOUS, severity=Severity.HIGH, quarantine_key=None)

    assert update.assignments() == {"verdict": "suspicious", "severity": "high"}


def test_given_two_updates_when_merged_then_the_second_wins_and_both_are_kept() -> None:
    merged = ScanFields(verdict="clean", severity="low").merged(ScanFields(severity="high", job_id="j"))

    assert merged.assignments() == {"verdict": "clean", "severity": "high", "job_id": "j"}


def test_given_a_record_with_enums_when_stored_then_the_item_holds_the_same_strings_as_before() -> None:
    record = _record(verdict="malicious", severity="critical")

    item = to_item(record)

    assert item["verdict"] == {"S": "malicious"}
    assert item["severity"] == {"S": "critical"}
    assert item["status"] == {"S": "COMPLETE"}
    back = from_item(item)
    assert (back.verdict, back.severity) == (Verdict.MALICIOUS, Severity.CRITICAL)
    assert back.status is ScanState.COMPLETE


def test_given_a_failed_scan_without_a_verdict_when_viewed_then_it_shows_error() -> None:
    assert _record(status="FAILED").shown_verdict is Verdict.ERROR
