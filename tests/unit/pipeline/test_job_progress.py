"""Job progress logic on the in-memory scans table: forward only, retries as attempts, others ignored.

The status function's wiring (event parsing, DynamoDB limits) is covered by ``test_status.py``
against moto; these cases exercise ``apply_job_progress`` itself, fast.
"""

from __future__ import annotations

from typing import Any

import pytest

from filescan_shared.batch_events import JobStateDetail, parse_job_event
from filescan_shared.ids import batch_job_name
from filescan_shared.pipeline.job_status import StatusOutcome, apply_job_progress
from filescan_shared.records import ScanRecord, iso, utc_now
from filescan_shared.states import ScanState
from tests.support.memory_store import MemoryScanStore
from tests.unit.pipeline.conftest import load_event

SCAN = "0123456789abcdef0123456789abcdef"
QUEUE = "arn:aws:batch:us-east-1:123456789012:job-queue/filescan-standard"


@pytest.fixture
def store() -> MemoryScanStore:
    return MemoryScanStore()


def _seed(store: MemoryScanStore, state: ScanState = ScanState.SUBMITTED) -> None:
    stamp = iso(utc_now())
    record = ScanRecord(
        scan_id=SCAN, status=ScanState.QUEUED, bucket="b", key="uploads/a", created_at=stamp, updated_at=stamp
    )
    assert store.create(record)
    if state is not ScanState.QUEUED:
        assert store.advance(SCAN, state)


def _detail(name: str, **changes: Any) -> JobStateDetail:
    event = load_event(name)
    event["detail"].update({"jobName": batch_job_name(SCAN), "jobId": "job-1", "jobQueue": QUEUE} | changes)
    event["detail"]["parameters"]["scan_id"] = SCAN
    detail = parse_job_event(event)
    assert detail is not None
    return detail


def _apply(store: MemoryScanStore, detail: JobStateDetail) -> StatusOutcome:
    return apply_job_progress(detail, repository=store, our_queues=frozenset({QUEUE}))


def _state(store: MemoryScanStore) -> tuple[ScanState, int]:
    record = store.get(SCAN)
    assert record is not None
    return record.status, len(record.attempts)


def test_given_a_submitted_scan_when_runnable_then_running_arrive_then_it_advances(store) -> None:
    _seed(store)

    assert _apply(store, _detail("status_job_runnable.json")) is StatusOutcome.ADVANCED
    assert _state(store) == (ScanState.RUNNABLE, 0)
    assert _apply(store, _detail("status_job_running.json")) is StatusOutcome.ADVANCED
    assert _state(store) == (ScanState.RUNNING, 0)
    record = store.get(SCAN)
    assert record is not None
    assert (record.job_id, record.job_queue) == ("job-1", QUEUE)


def test_given_a_running_scan_when_a_retry_makes_it_runnable_then_the_attempt_is_recorded_not_regressed(
    store,
) -> None:
    _seed(store, ScanState.RUNNING)
    retry = _detail("status_job_runnable_retry.json")

    assert _apply(store, retry) is StatusOutcome.ATTEMPT_RECORDED
    assert _apply(store, retry) is StatusOutcome.STALE
    assert _state(store) == (ScanState.RUNNING, 1)


@pytest.mark.parametrize("terminal", [ScanState.COMPLETE, ScanState.FAILED, ScanState.SKIPPED])
def test_given_a_finished_scan_when_running_arrives_late_then_it_stays_finished(store, terminal) -> None:
    _seed(store, terminal)

    assert _apply(store, _detail("status_job_running.json")) is StatusOutcome.STALE
    assert _state(store)[0] is terminal


def test_given_a_job_on_another_queue_when_it_changes_then_it_is_ignored(store) -> None:
    _seed(store)
    other = "arn:aws:batch:us-east-1:123456789012:job-queue/someone-else"

    assert _apply(store, _detail("status_job_running.json", jobQueue=other)) is StatusOutcome.FOREIGN
    assert _state(store)[0] is ScanState.SUBMITTED


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_given_a_finished_job_when_its_event_arrives_then_status_leaves_it_to_analysis(store, status) -> None:
    _seed(store, ScanState.RUNNING)

    assert _apply(store, _detail("status_job_running.json", status=status)) is StatusOutcome.FOREIGN
    assert _state(store)[0] is ScanState.RUNNING


def test_given_an_unknown_scan_when_its_job_changes_then_nothing_is_created(store) -> None:
    assert _apply(store, _detail("status_job_running.json")) is StatusOutcome.UNKNOWN_SCAN
    assert store.items == {}


def test_given_an_attempt_seen_running_when_it_is_interrupted_then_it_is_completed_and_stays_so(
    store,
) -> None:
    _seed(store, ScanState.STARTING)
    running = _detail(
        "status_job_running.json", attempts=[{"startedAt": 1_000, "container": {"logStreamName": "scan/1"}}]
    )
    ended = {**load_event("status_job_runnable_retry.json")["detail"]["attempts"][0]}
    ended.update(startedAt=1_000, stoppedAt=9_000, statusReason="Your Spot Task was interrupted.")
    retry = _detail("status_job_runnable_retry.json", attempts=[ended])

    _apply(store, running)
    _apply(store, retry)
    _apply(store, running)  # a late, older snapshot changes nothing

    record = store.get(SCAN)
    assert record is not None
    (attempt,) = record.attempts
    assert (attempt.number, attempt.started_at, attempt.stopped_at) == (1, 1_000, 9_000)
    assert attempt.reason == "Your Spot Task was interrupted."
    assert attempt.interrupted is True


def test_given_an_attempt_seen_running_when_it_exits_then_its_exit_code_is_recorded(store) -> None:
    _seed(store, ScanState.STARTING)
    exited = {
        "startedAt": 1_000,
        "stoppedAt": 5_000,
        "container": {"exitCode": 137, "reason": "OutOfMemoryError"},
    }

    _apply(store, _detail("status_job_running.json", attempts=[{"startedAt": 1_000}]))
    _apply(store, _detail("status_job_runnable_retry.json", attempts=[exited]))

    record = store.get(SCAN)
    assert record is not None
    (attempt,) = record.attempts
    assert (attempt.exit_code, attempt.stopped_at, attempt.reason) == (137, 5_000, "OutOfMemoryError")
    assert attempt.interrupted is False
