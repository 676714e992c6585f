"""status: Batch progress events move a scan forward only; late, foreign and broken events are no-ops."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from filescan_shared.repository import ScanRepository
from filescan_shared.states import ScanState
from tests.support.stack import StackNames
from tests.unit.pipeline.conftest import batch_event, seed_scan

SCAN = "0123456789abcdef0123456789abcdef"


def _state(stack: StackNames) -> tuple[ScanState, int]:
    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(SCAN)
    assert record is not None
    return record.status, len(record.attempts)


@pytest.fixture
def status_app(handler: Callable[[str], ModuleType]) -> ModuleType:
    return handler("status")


def test_given_a_submitted_scan_when_runnable_then_running_arrive_then_it_advances(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN)

    first = status_app.lambda_handler(batch_event("status_job_runnable.json", stack, SCAN), lambda_context)
    assert first == {"outcome": "advanced"}
    assert _state(stack) == (ScanState.RUNNABLE, 0)
    second = status_app.lambda_handler(batch_event("status_job_running.json", stack, SCAN), lambda_context)

    assert second == {"outcome": "advanced"}
    assert _state(stack) == (ScanState.RUNNING, 0)


def test_given_a_running_scan_when_a_retry_makes_it_runnable_then_the_attempt_is_recorded_not_regressed(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN, "RUNNING")
    retry = batch_event("status_job_runnable_retry.json", stack, SCAN)

    result = status_app.lambda_handler(retry, lambda_context)
    again = status_app.lambda_handler(retry, lambda_context)

    assert result == {"outcome": "attempt_recorded"}
    assert again == {"outcome": "stale"}
    assert _state(stack) == (ScanState.RUNNING, 1)


@pytest.mark.parametrize("terminal", ["COMPLETE", "FAILED"])
def test_given_a_finished_scan_when_running_arrives_late_then_it_stays_finished(
    terminal: str, stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN, terminal)

    result = status_app.lambda_handler(batch_event("status_job_running.json", stack, SCAN), lambda_context)

    assert result == {"outcome": "stale"}
    assert _state(stack)[0] is ScanState(terminal)


def test_given_a_job_on_another_queue_when_it_changes_then_it_is_ignored(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN)
    event = batch_event("status_job_running.json", stack, SCAN)
    event["detail"]["jobQueue"] = "arn:aws:batch:us-east-1:123456789012:job-queue/someone-else"

    assert status_app.lambda_handler(event, lambda_context) == {"outcome": "foreign"}
    assert _state(stack)[0] is ScanState.SUBMITTED


def test_given_an_unknown_scan_when_its_job_changes_then_nothing_is_created(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    result = status_app.lambda_handler(batch_event("status_job_running.json", stack, SCAN), lambda_context)

    assert result == {"outcome": "unknown_scan"}
    assert boto3.client("dynamodb").scan(TableName=stack.scans_table)["Count"] == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda event: event.pop("detail"),
        lambda event: event["detail"].pop("jobId"),
        lambda event: event["detail"].update(attempts="many"),
        lambda event: event.update(detail=["not", "an", "object"]),
        # Numbers DynamoDB cannot store, more attempts than Batch allows, an id no ARN is as long as.
        lambda event: event["detail"].update(attempts=[{"container": {"exitCode": 10**40}}]),
        lambda event: event["detail"].update(createdAt=10**40),
        lambda event: event["detail"].update(attempts=[{"startedAt": 1}] * 11),
        lambda event: event["detail"].update(jobId="j" * 5000),
    ],
)
def test_given_a_malformed_event_when_handled_then_it_is_ignored_without_raising(
    mangle: Callable[[dict[str, Any]], Any], stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN)
    event = batch_event("status_job_running.json", stack, SCAN)
    mangle(event)

    assert status_app.lambda_handler(event, lambda_context) == {"outcome": "malformed"}
    assert _state(stack)[0] is ScanState.SUBMITTED


def test_given_huge_attempt_texts_when_recorded_then_they_are_truncated_and_the_record_still_fits(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN, "RUNNING")
    retry = batch_event("status_job_runnable_retry.json", stack, SCAN)
    attempt = retry["detail"]["attempts"][0]
    attempt["container"]["logStreamName"] = "s" * 50_000
    huge = {**attempt, "statusReason": "r" * 50_000}
    retry["detail"]["attempts"] = [{**huge, "startedAt": n} for n in range(10)]

    result = status_app.lambda_handler(retry, lambda_context)

    assert result == {"outcome": "attempt_recorded"}
    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(SCAN)
    assert record is not None
    assert len(record.attempts) == 10
    assert {(len(a.reason or ""), len(a.log_stream or "")) for a in record.attempts} == {(500, 500)}


def test_given_an_attempt_seen_running_when_it_is_interrupted_then_it_is_completed_and_stays_so(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN, "STARTING")
    running = batch_event("status_job_running.json", stack, SCAN)
    running["detail"]["attempts"] = [{"startedAt": 1_000, "container": {"logStreamName": "scan/1"}}]
    retry = batch_event("status_job_runnable_retry.json", stack, SCAN)
    ended = retry["detail"]["attempts"][0]
    ended.update(startedAt=1_000, stoppedAt=9_000, statusReason="Your Spot Task was interrupted.")

    status_app.lambda_handler(running, lambda_context)
    status_app.lambda_handler(retry, lambda_context)
    status_app.lambda_handler(running, lambda_context)  # a late, older snapshot changes nothing

    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(SCAN)
    assert record is not None
    (attempt,) = record.attempts
    assert (attempt.number, attempt.started_at, attempt.stopped_at) == (1, 1_000, 9_000)
    assert attempt.reason == "Your Spot Task was interrupted."
    assert attempt.interrupted is True


def test_given_an_attempt_seen_running_when_it_exits_then_its_exit_code_is_recorded(
    stack: StackNames, status_app: ModuleType, lambda_context: Any
) -> None:
    seed_scan(stack, SCAN, "STARTING")
    running = batch_event("status_job_running.json", stack, SCAN)
    running["detail"]["attempts"] = [{"startedAt": 1_000}]
    retry = batch_event("status_job_runnable_retry.json", stack, SCAN)
    retry["detail"]["attempts"] = [
        {"startedAt": 1_000, "stoppedAt": 5_000, "container": {"exitCode": 137, "reason": "OutOfMemoryError"}}
    ]

    status_app.lambda_handler(running, lambda_context)
    status_app.lambda_handler(retry, lambda_context)

    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(SCAN)
    assert record is not None
    (attempt,) = record.attempts
    assert (attempt.exit_code, attempt.stopped_at, attempt.reason) == (137, 5_000, "OutOfMemoryError")
    assert attempt.interrupted is False
