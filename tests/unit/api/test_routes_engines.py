"""Each engine's outcome on ``GET /scans/{id}`` and in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from tests.unit.pipeline.conftest import seed_scan

SCAN_ID = "0123456789abcdef0123456789abcdef"
EICAR = {
    "engine": "clamav",
    "rule_id": "Win.Test.EICAR_HDB-1",
    "category": "malware",
    "severity": "high",
    "title": "Win.Test.EICAR_HDB-1",
    "archive_path": [],
    "offset": None,
}
ENGINES: dict[str, dict[str, Any]] = {
    "filescan": {
        "state": "succeeded",
        "job_id": "job-filescan",
        "job_queue": "arn:aws:batch:eu-west-1:123456789012:job-queue/standard",
        "attempts": 1,
        "exit_code": 0,
        "duration_seconds": 12.5,
        "cost": {"usd": "0.000410", "billed_seconds": 13, "capacity": "spot"},
        "outcome": "succeeded",
        "verdict": "malicious",
        "severity": "high",
        "read_by": "report",
        "findings_count": 1,
        "top_findings": [EICAR | {"engine": "filescan", "rule_id": "filescan.eicar_test_file"}],
    },
    "clamav": {
        "state": "succeeded",
        "job_id": "job-clamav-od",
        "job_queue": "arn:aws:batch:eu-west-1:123456789012:job-queue/priority",
        "attempts": 3,
        "interruptions": 2,
        "escalated_at": "2026-12-01T09:00:00.000Z",
        "exit_code": 1,
        "outcome": "succeeded",
        "verdict": "malicious",
        "severity": "high",
        "read_by": "mapping",
        "findings_count": 1,
        "top_findings": [EICAR],
    },
    "vendor-av": {
        "state": "succeeded",
        "required": False,
        "outcome": "succeeded",
        "verdict": "error",
        "severity": "none",
        "read_by": "llm",
        "findings_count": 0,
        "reasons": ["vendor-av: the LLM read 'nothing found', which this engine does not trust as clean"],
    },
}


def test_given_a_scan_with_engines_when_get_then_each_engines_outcome_without_its_queue(call, stack):
    seed_scan(stack, SCAN_ID, "COMPLETE", verdict="malicious", severity="high", engines=ENGINES)

    status, body, _ = call("GET", f"/scans/{SCAN_ID}")

    assert status == 200
    engines = body["engines"]
    assert set(engines) == {"filescan", "clamav", "vendor-av"}
    for name, expected in ENGINES.items():
        shown = {k: v for k, v in engines[name].items() if k in expected}
        assert shown == {k: v for k, v in expected.items() if k != "job_queue"}, name
        assert "job_queue" not in engines[name]
    assert engines["vendor-av"]["required"] is False
    assert engines["clamav"]["required"] is True


def test_given_an_older_scan_without_engines_when_get_then_it_shows_as_before(call, stack):
    seed_scan(stack, SCAN_ID, "COMPLETE", verdict="clean", severity="none")

    status, body, _ = call("GET", f"/scans/{SCAN_ID}")

    assert status == 200
    assert (body["verdict"], body["severity"]) == ("clean", "none")
    assert body.get("engines") is None


def test_given_the_openapi_document_when_read_then_engines_are_documented_row_by_row(call, stack):
    status, document, _ = call("GET", "/openapi.json")

    assert status == 200
    schemas = document["components"]["schemas"]
    engines = schemas["ScanView"]["properties"]["engines"]
    assert "by engine name" in engines["description"]
    assert {"additionalProperties": {"$ref": "#/components/schemas/EngineView"}, "type": "object"} in engines[
        "anyOf"
    ]
    row = schemas["EngineView"]["properties"]
    assert "job_queue" not in row
    for field in ("state", "outcome", "verdict", "severity", "top_findings", "duration_seconds", "cost",
                  "attempts", "interruptions", "escalated_at", "read_by", "reasons"):  # fmt: skip
        assert row[field]["description"], field
