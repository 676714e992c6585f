"""The report contract: one model, the generated schema.json, and closed vocabularies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from filescan_scanner.analyzers.base import ScanLimits
from filescan_scanner.analyzers.clamav import clamav_limit
from filescan_scanner.analyzers.yara_rules import RulesError, load_rules
from filescan_shared.report import schema
from filescan_shared.report.validate import ReportValidationError, parse_report
from filescan_shared.report.vocabulary import LimitName
from tests.support.reports import report

NOWHERE = {"archive_path": []}


def _document(**parts: Any) -> dict[str, Any]:
    return report(**parts).document()


def _schema_validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema.SCHEMA_PATH.read_text(encoding="utf-8")))


def test_given_the_committed_schema_when_regenerated_then_it_is_unchanged() -> None:
    assert schema.SCHEMA_PATH.read_text(encoding="utf-8") == schema.render(), (
        "schema.json is stale: run python -m filescan_shared.report.schema"
    )
    assert schema.main(["--check"]) == 0


def test_given_the_generated_schema_when_checked_then_it_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(schema.generate())


@pytest.mark.parametrize(
    ("section", "entry"),
    [
        ("limits_hit", {"limit": "fuzzy_hash_max_byte", "value": 1, "detail": "", "location": NOWHERE}),
        (
            "findings",
            {
                "engine": "e",
                "rule_id": "r",
                "category": "malwre",
                "severity": "high",
                "title": "t",
                "location": NOWHERE,
            },
        ),
        (
            "findings",
            {
                "engine": "e",
                "rule_id": "r",
                "category": "malware",
                "severity": "severe",
                "title": "t",
                "location": NOWHERE,
            },
        ),
        ("engines", {"name": "e", "version": "1", "status": "fine", "seconds": 0.0, "targets": 1}),
    ],
    ids=["unknown limit name", "unknown category", "unknown severity", "unknown engine status"],
)
def test_given_an_unknown_name_in_a_report_when_validated_then_model_and_schema_refuse_it(
    section: str, entry: dict[str, Any]
) -> None:
    doc = _document()
    doc[section].append(entry)

    with pytest.raises(ReportValidationError, match=section):
        parse_report(doc)
    assert list(_schema_validator().iter_errors(doc))


def test_given_a_valid_report_when_validated_then_both_pass_and_it_round_trips() -> None:
    doc = _document(
        findings=[
            {"category": "malware", "severity": "high", "location": {"archive_path": ["a.zip"], "offset": 3}}
        ],
        limits_hit=[{"engine": "archive", "limit": "max_depth", "value": 5, "detail": "deep"}],
        engines=[{"name": "archive", "status": "partial"}],
    )

    assert not list(_schema_validator().iter_errors(doc))
    text = json.dumps(doc)
    assert parse_report(text).document() == doc == parse_report(doc).document()
    assert doc["verdict"]["verdict"] == "malicious" and doc["findings"][0]["severity"] == "high"


def test_given_loose_numbers_or_strings_when_validated_then_they_are_refused_as_by_the_schema() -> None:
    doc = _document()
    doc["stats"]["bytes"] = "5"

    with pytest.raises(ReportValidationError, match="stats/bytes"):
        parse_report(doc)


def test_given_the_configurable_limits_when_listed_then_each_is_a_limit_name() -> None:
    fields = {name for name in ScanLimits.__dataclass_fields__ if name != "chunk_bytes"}
    assert fields <= set(LimitName)


def test_given_clamav_limit_alerts_when_mapped_then_they_are_limit_names() -> None:
    assert clamav_limit("Heuristics.Limits.Exceeded.MaxFiles") is LimitName.CLAMAV_MAX_FILES
    assert clamav_limit("Heuristics.Limits.Exceeded.MaxSomethingNew") is LimitName.CLAMAV_OTHER_LIMIT


def test_given_an_extra_rule_with_an_unknown_category_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mine.yar").write_text(
        'rule my_rule { meta: category = "malwre" severity = "high" title = "m" '
        'strings: $a = "FILESCAN-MARKER" condition: $a }'
    )

    with pytest.raises(RulesError, match=r"extra\.my_rule: 'malwre'"):
        load_rules.__wrapped__(tmp_path)
