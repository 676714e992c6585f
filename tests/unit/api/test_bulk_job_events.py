"""Array-job children of a bulk rescan map back to their scans (ids and job state events)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from filescan_shared.ids import (
    bulk_child_scan_id,
    bulk_id_from_job_name,
    bulk_job_name,
    is_scan_id,
    scan_id_from_job_name,
)
from tests.support.stack import StackNames, load_handler
from tests.unit.pipeline.conftest import batch_event, load_event

BULK_ID = "b" * 32


def test_given_bulk_and_index_when_deriving_then_distinct_stable_scan_ids():
    ids = [bulk_child_scan_id(BULK_ID, index) for index in range(1000)]

    assert len(set(ids)) == 1000
    assert all(is_scan_id(scan_id) for scan_id in ids)
    assert ids[7] == bulk_child_scan_id(BULK_ID, 7)
    assert bulk_child_scan_id("c" * 32, 7) != ids[7]
    with pytest.raises(ValueError):
        bulk_child_scan_id(BULK_ID, -1)


def test_given_job_names_when_parsed_then_bulk_and_single_names_do_not_mix():
    assert bulk_id_from_job_name(bulk_job_name(BULK_ID)) == BULK_ID
    assert bulk_id_from_job_name(f"filescan-{BULK_ID}") is None
    assert bulk_id_from_job_name("filescan-bulk-xyz") is None
    assert scan_id_from_job_name(bulk_job_name(BULK_ID)) is None


def _detail(array: dict | None, name: str = bulk_job_name(BULK_ID)) -> Any:
    # Imported here, under the functions' environment: batch_events creates the shared Powertools
    # metrics singleton, which must not be created without its namespace.
    from filescan_shared.batch_events import JobStateDetail  # noqa: PLC0415

    detail = load_event("status_job_running.json")["detail"]
    detail["jobName"] = name
    detail["parameters"] = {}
    if array is not None:
        detail["arrayProperties"] = array
    return JobStateDetail.model_validate(detail)


def test_given_array_child_event_when_parsed_then_its_scan_is_derived_from_bulk_id_and_index(monkeypatch):
    for name, value in StackNames().environment().items():
        monkeypatch.setenv(name, value)
    assert _detail({"index": 3}).scan_id == bulk_child_scan_id(BULK_ID, 3)
    assert _detail({"size": 10, "statusSummary": {}}).scan_id is None  # the parent
    assert _detail(None).scan_id is None
    assert _detail({"index": 3}, name="someone-else").scan_id is None
    assert _detail(None, name=f"filescan-{BULK_ID}").scan_id == BULK_ID


def test_given_bulk_rescan_when_a_child_job_runs_then_status_tracks_that_childs_scan(
    call, stack, monkeypatch, lambda_context
):
    s3 = boto3.client("s3")
    for name in ("a", "b", "c"):
        s3.put_object(Bucket=stack.uploads_bucket, Key=f"uploads/arr/{name}", Body=name.encode())
    _, accepted, _ = call("POST", "/rescans", body={"prefix": "uploads/arr/"})
    event = batch_event("status_job_running.json", stack, "0" * 32, job_id=f"{accepted['job_id']}:1")
    detail = event["detail"]
    detail["jobName"] = accepted["job_name"]
    detail["parameters"] = {}
    detail["arrayProperties"] = {"index": 1}

    status = load_handler("status", monkeypatch, stack.environment())
    result = status.lambda_handler(event, lambda_context)

    assert result == {"outcome": "advanced"}
    states = {scan_id: call("GET", f"/scans/{scan_id}")[1]["status"] for scan_id in accepted["scan_ids"]}
    assert states == {
        accepted["scan_ids"][0]: "SUBMITTED",
        accepted["scan_ids"][1]: "RUNNING",
        accepted["scan_ids"][2]: "SUBMITTED",
    }
