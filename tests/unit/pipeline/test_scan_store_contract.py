"""The scans table's rules, run against DynamoDB (moto) and the in-memory fake alike.

The fake stands in for the table in fast pipeline-logic tests; these cases keep it honest: every
behaviour the pipeline relies on (create once, forward-only moves, submit claims, attempts, the
sweeper's and the content cache's lookups) must hold for both.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import boto3
import pytest

from filescan_shared.records import Attempt, EngineJobState, EngineRun, ScanFields, ScanRecord, iso
from filescan_shared.repository import ScanRepository, ScanStore
from filescan_shared.severity import Verdict
from filescan_shared.states import ScanState
from tests.support.memory_store import MemoryScanStore

SCAN = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(params=["memory", pytest.param("dynamodb", marks=pytest.mark.component)])
def store(request: pytest.FixtureRequest) -> Iterator[ScanStore]:
    """The fake, or the real repository on a freshly provisioned moto table."""
    if request.param == "memory":
        yield MemoryScanStore()
        return
    from tests.support.stack import provision  # noqa: PLC0415

    request.getfixturevalue("aws")
    yield ScanRepository(boto3.client("dynamodb"), provision().scans_table)


def _record(scan_id: str = SCAN, *, at: dt.datetime = T0, **fields: object) -> ScanRecord:
    stamp = iso(at)
    data = {"scan_id": scan_id, "status": "QUEUED", "bucket": "uploads", "key": "uploads/a.txt"}
    return ScanRecord.model_validate(data | {"created_at": stamp, "updated_at": stamp} | fields)


def test_given_a_new_scan_when_created_twice_then_it_is_created_once(store: ScanStore) -> None:
    assert store.create(_record())
    assert not store.create(_record(key="uploads/other"))
    found = store.get(SCAN)
    assert found is not None
    assert found.key == "uploads/a.txt"
    assert store.get(OTHER) is None


def test_given_a_scan_when_advanced_then_it_only_moves_forward_and_records_when(store: ScanStore) -> None:
    store.create(_record())
    later = T0 + dt.timedelta(minutes=1)

    assert store.advance(SCAN, ScanState.RUNNING, ScanFields(job_id="j-1"), now=later)
    assert not store.advance(SCAN, ScanState.RUNNABLE, ScanFields(job_id="j-2"), now=later)
    assert not store.advance(SCAN, ScanState.RUNNING, now=later)
    assert store.advance(SCAN, ScanState.COMPLETE, ScanFields(verdict=Verdict.CLEAN, severity="none"))
    assert not store.advance(SCAN, ScanState.FAILED)
    assert not store.advance(OTHER, ScanState.RUNNING)

    record = store.get(SCAN)
    assert record is not None
    assert (record.status, record.job_id, record.verdict) == (ScanState.COMPLETE, "j-1", Verdict.CLEAN)
    assert record.timestamps[ScanState.RUNNING] == iso(later)


def test_given_fields_when_set_then_the_state_stays_and_none_leaves_a_field_alone(store: ScanStore) -> None:
    store.create(_record())
    store.set_fields(SCAN, ScanFields(quarantine_key="q/1", published_at=iso(T0)))
    store.set_fields(SCAN, ScanFields(quarantine_key=None))

    record = store.get(SCAN)
    assert record is not None
    assert (record.status, record.quarantine_key, record.published_at) == (ScanState.QUEUED, "q/1", iso(T0))


def test_given_a_submit_claim_when_claimed_again_then_it_waits_until_stale_or_released(
    store: ScanStore,
) -> None:
    store.create(_record(), claim="first")
    soon, stale_before = T0 + dt.timedelta(minutes=1), T0 - dt.timedelta(minutes=5)

    assert not store.claim_submit(SCAN, "second", stale_before=stale_before, now=soon)
    assert store.claim_submit(SCAN, "second", stale_before=soon, now=soon)
    store.release_submit(SCAN, "first")  # not the holder: nothing happens
    assert not store.claim_submit(SCAN, "third", stale_before=T0, now=soon)
    store.release_submit(SCAN, "second")
    assert store.claim_submit(SCAN, "third", stale_before=T0, now=soon)
    store.advance(SCAN, ScanState.SUBMITTED)
    store.release_submit(SCAN, "third")
    assert not store.claim_submit(SCAN, "fourth", stale_before=soon, now=soon)


def test_given_an_attempt_when_repeated_then_it_is_appended_and_completed_once(store: ScanStore) -> None:
    store.create(_record())
    running = Attempt(number=1, started_at=1_000)
    ended = Attempt(number=1, started_at=1_000, stopped_at=2_000, exit_code=1)

    assert store.record_attempt(SCAN, running)
    assert not store.record_attempt(SCAN, running)
    assert store.record_attempt(SCAN, ended)
    assert not store.record_attempt(SCAN, ended)
    assert store.record_attempt(SCAN, Attempt(number=2, started_at=3_000))

    record = store.get(SCAN)
    assert record is not None
    assert [(a.number, a.stopped_at, a.exit_code) for a in record.attempts] == [
        (1, 2_000, 1),
        (2, None, None),
    ]


def test_given_stuck_scans_when_searched_then_they_are_found_by_state_and_age(store: ScanStore) -> None:
    store.create(_record(SCAN))
    store.create(_record(OTHER, at=T0 + dt.timedelta(hours=2)))
    store.touch(SCAN, T0 + dt.timedelta(minutes=1))

    found = store.stuck(ScanState.QUEUED, T0 + dt.timedelta(hours=1), days=1, limit=10)

    assert [record.scan_id for record in found] == [SCAN]
    assert found[0].updated_at == iso(T0 + dt.timedelta(minutes=1))
    assert store.stuck(ScanState.RUNNING, T0 + dt.timedelta(hours=1), days=1, limit=10) == []


def test_given_the_content_cache_when_looked_up_then_only_complete_scans_are_found(store: ScanStore) -> None:
    store.create(_record(SCAN, content_key="abc#1"))
    assert store.find_by_content("abc#1") is None
    store.advance(SCAN, ScanState.COMPLETE, ScanFields(verdict=Verdict.CLEAN))

    found = store.find_by_content("abc#1")

    assert found is not None
    assert found.scan_id == SCAN


def test_given_an_object_version_when_looked_up_then_its_latest_scan_is_found(store: ScanStore) -> None:
    store.create(_record(SCAN, version_id="v1"))
    store.create(_record(OTHER, at=T0 + dt.timedelta(minutes=1), version_id="v1"))

    latest = store.latest_for_object("uploads", "uploads/a.txt", "v1")

    assert latest is not None
    assert latest.scan_id == OTHER
    assert store.latest_for_object("uploads", "uploads/a.txt", "v2") is None


def _runs(**jobs: str) -> dict[str, EngineRun]:
    return {name: EngineRun(state=EngineJobState.SUBMITTED, job_id=job) for name, job in jobs.items()}


def test_given_engines_when_recorded_then_a_queued_scan_takes_them_and_a_later_one_keeps_its_own(
    store: ScanStore,
) -> None:
    store.create(_record())
    assert store.record_engines(SCAN, _runs(filescan="j-1"))
    assert store.record_engines(SCAN, _runs(filescan="j-1", clamav="j-2"))  # a takeover, still QUEUED
    store.advance(SCAN, ScanState.SUBMITTED)

    assert not store.record_engines(SCAN, _runs(filescan="j-9"))
    assert not store.record_engines(OTHER, _runs(filescan="j-1"))
    record = store.get(SCAN)
    assert record is not None and record.engines is not None
    assert {name: run.job_id for name, run in record.engines.items()} == {"filescan": "j-1", "clamav": "j-2"}


def test_given_an_engine_run_when_progress_arrives_then_it_only_moves_forward_for_its_own_job(
    store: ScanStore,
) -> None:
    store.create(_record())
    store.record_engines(SCAN, _runs(clamav="j-2"))

    assert not store.progress_engine(
        SCAN, "clamav", job_id="other", running=True, attempts=0, interruptions=0
    )
    assert store.progress_engine(SCAN, "clamav", job_id="j-2", running=True, attempts=0, interruptions=0)
    assert not store.progress_engine(SCAN, "clamav", job_id="j-2", running=True, attempts=0, interruptions=0)
    assert store.progress_engine(SCAN, "clamav", job_id="j-2", running=False, attempts=1, interruptions=1)
    assert not store.progress_engine(SCAN, "clamav", job_id="j-2", running=True, attempts=1, interruptions=1)

    record = store.get(SCAN)
    assert record is not None and record.engines is not None
    run = record.engines["clamav"]
    assert (run.state, run.attempts, run.interruptions) == (EngineJobState.RUNNING, 1, 1)


def test_given_an_engine_run_when_replaced_then_only_the_live_run_of_that_job_changes_once(
    store: ScanStore,
) -> None:
    store.create(_record())
    store.record_engines(SCAN, _runs(filescan="j-1", clamav="j-2"))
    ended = EngineRun(state=EngineJobState.SUCCEEDED, job_id="j-2", exit_code=0, duration_seconds=1.5)

    assert store.replace_engine_run(SCAN, "clamav", ended, job_id="other") is None
    updated = store.replace_engine_run(SCAN, "clamav", ended, job_id="j-2")
    assert store.replace_engine_run(SCAN, "clamav", ended, job_id="j-2") is None
    assert store.replace_engine_run(SCAN, "yara", ended, job_id="j-2") is None

    assert updated is not None and updated.engines is not None
    assert updated.engines["clamav"] == ended
    assert updated.engines["filescan"].state is EngineJobState.SUBMITTED
    assert updated == store.get(SCAN)


def test_given_an_analysis_claim_when_claimed_again_then_it_waits_until_stale_released_or_finished(
    store: ScanStore,
) -> None:
    store.create(_record())
    soon = T0 + dt.timedelta(minutes=1)

    assert store.claim_analysis(SCAN, "first", stale_before=T0, now=T0)
    assert not store.claim_analysis(SCAN, "second", stale_before=T0, now=soon)
    assert store.claim_analysis(SCAN, "second", stale_before=soon, now=soon)
    store.release_analysis(SCAN, "first")  # not the holder: nothing happens
    assert not store.claim_analysis(SCAN, "third", stale_before=T0, now=soon)
    store.release_analysis(SCAN, "second")
    assert store.claim_analysis(SCAN, "third", stale_before=T0, now=soon)
    store.release_analysis(SCAN, "third")
    store.advance(SCAN, ScanState.COMPLETE)
    assert not store.claim_analysis(SCAN, "fourth", stale_before=soon, now=soon)
    assert not store.claim_analysis(OTHER, "fourth", stale_before=soon, now=soon)
