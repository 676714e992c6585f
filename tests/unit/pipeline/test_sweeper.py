"""sweeper: every stuck scan is resolved through Batch's real state; nothing stays pending forever."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from filescan_shared import clients
from filescan_shared.pipeline.sweeper import SweepAction, sweep
from filescan_shared.process_caches import reset_process_caches
from filescan_shared.records import ScanFields, utc_now
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import SweeperSettings, load_settings
from filescan_shared.states import ScanState
from tests.support.stack import StackNames
from tests.unit.pipeline.conftest import seed_scan

SCAN = "fedcba9876543210fedcba9876543210"
LATER = dt.timedelta(hours=2)


@pytest.fixture
def apps(handler: Callable[[str], ModuleType], lambda_context: Any) -> dict[str, Any]:
    """The sweeper wired to hand scans over to the analysis handler (as the async invoke would)."""
    analysis = handler("analysis")
    sweeper = handler("sweeper")
    handed: list[dict[str, Any]] = []

    def hand_over(event: dict[str, Any]) -> None:
        handed.append(event)
        analysis.lambda_handler(event, lambda_context)

    sweeper.hand_over = hand_over
    return {"sweeper": sweeper, "handed": handed, "hand_over": hand_over}


def _repository(stack: StackNames) -> ScanRepository:
    return ScanRepository(boto3.client("dynamodb"), stack.scans_table)


def _sweep(
    stack: StackNames, hand_over: Callable[[dict[str, Any]], None], *, later: dt.timedelta = LATER
) -> Any:
    return sweep(
        repository=_repository(stack),
        batch=clients.batch(),
        settings=load_settings(SweeperSettings),
        hand_over=hand_over,
        now=utc_now() + later,
    )


def _finished_job(stack: StackNames) -> str:
    batch = boto3.client("batch")
    job_id = batch.submit_job(
        jobName=f"filescan-{SCAN}", jobQueue=stack.job_queue_standard, jobDefinition=stack.job_definition
    )["jobId"]
    deadline = time.monotonic() + 30
    while batch.describe_jobs(jobs=[job_id])["jobs"][0]["status"] not in {"SUCCEEDED", "FAILED"}:
        assert time.monotonic() < deadline, "moto's job never finished"
        time.sleep(0.2)
    return job_id


def test_given_a_scan_never_submitted_when_swept_then_it_fails_with_the_reason(
    stack: StackNames, apps: dict[str, Any]
) -> None:
    seed_scan(stack, SCAN, "QUEUED")

    report = _sweep(stack, apps["hand_over"])

    assert report.actions == {SweepAction.FAILED_UNSUBMITTED: 1}
    record = _repository(stack).get(SCAN)
    assert record is not None and record.status is ScanState.FAILED
    assert "never submitted" in (record.failure_reason or "")


def test_given_a_job_batch_no_longer_knows_when_swept_then_the_scan_fails(
    stack: StackNames, apps: dict[str, Any]
) -> None:
    seed_scan(stack, SCAN, "RUNNABLE", job_id="00000000-dead-beef-0000-000000000000")
    _repository(stack).set_fields(SCAN, ScanFields(job_queue=stack.job_queue_standard))

    report = _sweep(stack, apps["hand_over"])

    assert report.actions == {SweepAction.FAILED_MISSING: 1}
    record = _repository(stack).get(SCAN)
    assert record is not None and record.status is ScanState.FAILED
    assert "not found" in (record.failure_reason or "")


def test_given_a_finished_job_whose_event_was_lost_when_swept_then_analysis_concludes_it(
    stack: StackNames, apps: dict[str, Any]
) -> None:
    job_id = _finished_job(stack)
    seed_scan(stack, SCAN, "RUNNABLE", job_id=job_id)

    report = _sweep(stack, apps["hand_over"])

    assert report.actions == {SweepAction.HANDED_OVER: 1}
    (event,) = apps["handed"]
    assert event["detail"]["jobId"] == job_id
    record = _repository(stack).get(SCAN)
    assert record is not None and record.status.terminal


def test_given_fresh_scans_when_swept_then_nothing_is_touched(
    stack: StackNames, apps: dict[str, Any]
) -> None:
    seed_scan(stack, SCAN, "QUEUED")

    report = _sweep(stack, apps["hand_over"], later=dt.timedelta(minutes=1))

    assert report.examined == 0
    assert apps["handed"] == []


def test_given_more_stuck_scans_than_the_budget_when_swept_then_work_is_bounded(
    stack: StackNames, apps: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEP_MAX_ITEMS", "3")
    reset_process_caches()
    for index in range(5):
        seed_scan(stack, f"{index:032x}", "QUEUED")

    report = _sweep(stack, apps["hand_over"])

    assert report.examined == 3
    assert len(apps["handed"]) == 3


def test_given_the_scheduled_handler_when_a_scan_is_stale_then_it_is_resolved(
    stack: StackNames, apps: dict[str, Any], lambda_context: Any
) -> None:
    seed_scan(stack, SCAN, "QUEUED")
    _repository(stack).touch(SCAN, utc_now() - dt.timedelta(hours=3))

    result = apps["sweeper"].lambda_handler(
        {"source": "aws.events", "detail-type": "Scheduled Event"}, lambda_context
    )

    assert result == {"examined": 1, "actions": {"failed_unsubmitted": 1}}
    record = _repository(stack).get(SCAN)
    assert record is not None and record.status is ScanState.FAILED


@pytest.mark.parametrize("state", ["SUBMITTED", "RUNNING"])
def test_given_a_fast_path_scan_stuck_past_the_function_timeout_when_swept_then_it_is_rerouted_to_batch(
    state: str, stack: StackNames, apps: dict[str, Any]
) -> None:
    seed_scan(stack, SCAN, state, job_queue="lambda:filescan-fast-scan")
    rerouted: list[str] = []

    report = sweep(
        repository=_repository(stack),
        batch=clients.batch(),
        settings=load_settings(SweeperSettings),
        hand_over=apps["hand_over"],
        now=utc_now() + LATER,
        reroute=lambda record: rerouted.append(record.scan_id),
    )

    assert report.actions == {SweepAction.REROUTED: 1}
    assert rerouted == [SCAN] and apps["handed"] == []
