"""Per-engine job progress: each engine's run moves forward on its own job's events only."""

from __future__ import annotations

from typing import Any

from filescan_shared.pipeline.job_status import StatusOutcome, apply_job_progress
from filescan_shared.pipeline.sizing import JobTargets
from filescan_shared.pipeline.submit import Submission
from filescan_shared.records import EngineJobState, ScanRecord
from filescan_shared.states import ScanState
from tests.support.memory_store import MemoryScanStore
from tests.unit.pipeline.engine_support import (
    PRIORITY,
    SCAN,
    STANDARD,
    T0,
    FakeBatch,
    job_detail,
    queued_record,
    three_engines,
)

QUEUES = frozenset({STANDARD, PRIORITY})


def _submitted() -> tuple[MemoryScanStore, dict[str, str]]:
    store, batch = MemoryScanStore(), FakeBatch()
    fake: Any = batch
    submission = Submission(store, fake, JobTargets("arn:jobdef/filescan"), T0, engines=three_engines())
    submission.open(queued_record())
    submission.submit(queued_record(), queue=STANDARD, object_size=5)
    record = _record(store)
    assert record.engines is not None
    return store, {name: str(run.job_id) for name, run in record.engines.items()}


def _record(store: MemoryScanStore) -> ScanRecord:
    record = store.get(SCAN)
    assert record is not None
    return record


def test_given_three_engines_when_one_engine_runs_then_its_run_and_the_scan_move_to_running() -> None:
    store, jobs = _submitted()

    outcome = apply_job_progress(
        job_detail("alpha", jobs["alpha"], "RUNNING"), repository=store, our_queues=QUEUES
    )

    record = _record(store)
    assert outcome is StatusOutcome.ADVANCED
    assert record.engines is not None
    assert record.status is ScanState.RUNNING
    assert {name: run.state for name, run in record.engines.items()} == {
        "filescan": EngineJobState.SUBMITTED,
        "alpha": EngineJobState.RUNNING,
        "beta": EngineJobState.SUBMITTED,
    }
    assert record.job_id == jobs["filescan"]
    assert record.attempts == []


def test_given_a_running_engine_when_duplicates_stale_or_foreign_job_events_arrive_then_nothing_changes() -> (
    None
):
    store, jobs = _submitted()
    running = job_detail("beta", jobs["beta"], "RUNNING")
    apply_job_progress(running, repository=store, our_queues=QUEUES)
    before = _record(store)

    outcomes = [
        apply_job_progress(running, repository=store, our_queues=QUEUES),
        apply_job_progress(job_detail("beta", jobs["beta"], "RUNNABLE"), repository=store, our_queues=QUEUES),
        apply_job_progress(
            job_detail("beta", "a-replaced-job", "RUNNING"), repository=store, our_queues=QUEUES
        ),
        apply_job_progress(job_detail("gamma", "job-x", "RUNNING"), repository=store, our_queues=QUEUES),
    ]

    assert outcomes == [StatusOutcome.STALE] * 4
    assert _record(store) == before


def test_given_an_interrupted_attempt_when_the_engine_retries_then_its_attempts_and_interruptions_count() -> (
    None
):
    store, jobs = _submitted()
    apply_job_progress(job_detail("beta", jobs["beta"], "RUNNING"), repository=store, our_queues=QUEUES)

    retry = job_detail("beta", jobs["beta"], "RUNNABLE", interrupted=1)
    assert apply_job_progress(retry, repository=store, our_queues=QUEUES) is StatusOutcome.ADVANCED

    record = _record(store)
    assert record.engines is not None
    beta = record.engines["beta"]
    assert (beta.state, beta.attempts, beta.interruptions) == (EngineJobState.RUNNING, 1, 1)
    assert record.status is ScanState.RUNNING
