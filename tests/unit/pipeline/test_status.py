"""The status function on moto (component): wiring, malformed events, DynamoDB's item size limit.

The progress rules themselves (forward only, retries as attempts, foreign and late events) are
tested fast on the in-memory table in ``test_job_progress.py``.
"""

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
