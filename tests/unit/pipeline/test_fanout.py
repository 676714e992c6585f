"""Fan-out: one job per enabled engine, recorded per engine with the move to SUBMITTED, never twice."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from botocore.exceptions import ClientError

from filescan_shared.ids import batch_job_name, engine_job_name
from filescan_shared.pipeline.engine_plan import EngineConfigurationError, plan_engines
from filescan_shared.pipeline.sizing import JobTargets
from filescan_shared.pipeline.submit import CLAIM_STALE_AFTER, Submission
from filescan_shared.records import EngineJobState
from filescan_shared.settings import ApiSettings, ConfigurationError, JobTrackingSettings, load_settings
from filescan_shared.states import ScanState
from tests.support.memory_store import MemoryScanStore
from tests.unit.pipeline.engine_support import (
    DEFINITIONS,
    SCAN,
    STANDARD,
    T0,
    FakeBatch,
    engine_catalogue,
    queued_record,
    three_engines,
)

TARGETS = JobTargets("arn:jobdef/filescan")


def _submission(store: MemoryScanStore, batch: FakeBatch, **kwargs: Any) -> Submission:
    fake: Any = batch
    return Submission(store, fake, TARGETS, T0, engines=three_engines(), **kwargs)


def test_given_three_engines_when_a_scan_is_submitted_then_each_engine_gets_one_job_recorded_per_engine() -> (
    None
):
    store, batch = MemoryScanStore(), FakeBatch()
    submission = _submission(store, batch)
    assert submission.open(queued_record()) is None

    job_id = submission.submit(queued_record(), queue=STANDARD, object_size=5)

    [filescan] = batch.named(batch_job_name(SCAN))
    [alpha] = batch.named(engine_job_name(SCAN, "alpha"))
    [beta] = batch.named(engine_job_name(SCAN, "beta"))
    assert job_id == filescan["jobId"]
    assert filescan["jobDefinition"] == "arn:jobdef/filescan"
    assert alpha["jobDefinition"] == DEFINITIONS["alpha"]
    assert alpha["parameters"] == {
        "bucket": "uploads",
        "key": "uploads/a b+c.txt",
        "version_id": "v1",
        "scan_id": SCAN,
    }
    assert alpha["timeout"] == {"attemptDurationSeconds": 600}
    assert beta["timeout"] == {"attemptDurationSeconds": 3600}
    record = store.get(SCAN)
    assert record is not None and record.engines is not None
    assert (record.status, record.job_id) == (ScanState.SUBMITTED, filescan["jobId"])
    assert {
        name: (run.state, run.job_id, run.job_queue, run.required) for name, run in record.engines.items()
    } == {
        "filescan": (EngineJobState.SUBMITTED, filescan["jobId"], STANDARD, True),
        "alpha": (EngineJobState.SUBMITTED, alpha["jobId"], STANDARD, True),
        "beta": (EngineJobState.SUBMITTED, beta["jobId"], STANDARD, False),
    }


def test_given_one_engine_failing_to_submit_when_retried_then_the_jobs_already_submitted_are_adopted() -> (
    None
):
    store = MemoryScanStore()
    batch = FakeBatch(fail_names=(engine_job_name(SCAN, "beta"),))
    first = _submission(store, batch)
    first.open(queued_record())

    with pytest.raises(ClientError):
        first.submit(queued_record(), queue=STANDARD, object_size=5)
    assert store.get(SCAN).status is ScanState.QUEUED  # type: ignore[union-attr]
    retry = dataclasses.replace(_submission(store, batch), now=T0 + CLAIM_STALE_AFTER / 10)
    assert retry.open(queued_record()) is None  # the failed claimant released its claim
    retry.submit(queued_record(), queue=STANDARD, object_size=5)

    assert len(batch.jobs) == 3
    record = store.get(SCAN)
    assert record is not None and record.engines is not None
    assert {run.job_id for run in record.engines.values()} == {job["jobId"] for job in batch.jobs}


def test_given_filescan_only_when_a_scan_is_submitted_then_it_is_todays_single_job_with_an_engines_map() -> (
    None
):
    store, batch = MemoryScanStore(), FakeBatch()
    fake: Any = batch
    submission = Submission(store, fake, TARGETS, T0)
    submission.open(queued_record())

    submission.submit(queued_record(), queue=STANDARD, object_size=5)

    [job] = batch.jobs
    assert job["jobName"] == batch_job_name(SCAN)
    record = store.get(SCAN)
    assert record is not None and record.engines is not None
    assert list(record.engines) == ["filescan"]
    assert (record.job_id, record.engines["filescan"].job_id) == (job["jobId"], job["jobId"])


def test_given_an_engine_missing_from_the_catalogue_or_its_job_definition_when_planned_then_it_is_named() -> (
    None
):
    with pytest.raises(EngineConfigurationError, match="'gamma' is not in the engine catalogue"):
        plan_engines(["filescan", "gamma"], DEFINITIONS, engine_catalogue())
    with pytest.raises(EngineConfigurationError, match="'alpha' has no job definition"):
        plan_engines(["alpha"], {}, engine_catalogue())
    assert plan_engines(["beta", "filescan"], DEFINITIONS, engine_catalogue()).names == ("beta", "filescan")


def test_given_an_unknown_enabled_engine_when_settings_load_then_the_cold_start_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = {
        "SCANS_TABLE": "scans",
        "UPLOADS_BUCKET": "uploads",
        "REPORTS_BUCKET": "reports",
        "EVENT_BUS_NAME": "bus",
        "JOB_QUEUE_STANDARD": "q",
        "JOB_QUEUE_PRIORITY": "p",
        "JOB_DEFINITION": "d",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ENABLED_ENGINES", "filescan, vendor-x")
    load_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="vendor-x"):
            load_settings(JobTrackingSettings)
        monkeypatch.setenv("ENABLED_ENGINES", "filescan")
        monkeypatch.setenv("ENGINE_JOB_DEFINITIONS", "{not json")
        with pytest.raises(ConfigurationError, match="ENGINE_JOB_DEFINITIONS"):
            load_settings(ApiSettings)
        monkeypatch.setenv("ENGINE_JOB_DEFINITIONS", "")
        assert load_settings(ApiSettings).engine_plan().names == ("filescan",)
    finally:
        load_settings.cache_clear()


def test_given_three_engines_when_a_scan_is_rescanned_then_the_rescan_runs_every_engine() -> None:
    from filescan_shared.pipeline.rescan import RescanDeps, rescan_one  # noqa: PLC0415

    store, batch = MemoryScanStore(), FakeBatch()
    original = queued_record().model_copy(update={"status": ScanState.COMPLETE})
    store.create(original, claim="done")
    settings = ApiSettings.model_validate(
        {
            "scans_table": "scans",
            "uploads_bucket": "uploads",
            "reports_bucket": "reports",
            "event_bus_name": "bus",
            "job_queue_standard": STANDARD,
            "job_queue_priority": "queue-priority",
            "job_definition": "arn:jobdef/filescan",
        }
    )
    fake: Any = batch
    deps = RescanDeps(settings=settings, repository=store, s3=fake, batch=fake, engines=three_engines())

    rescan = rescan_one(SCAN, "nonce-1", deps, T0)

    assert len(batch.named(engine_job_name(rescan.scan_id, "alpha"))) == 1
    assert len(batch.named(engine_job_name(rescan.scan_id, "beta"))) == 1
    assert len(batch.named(batch_job_name(rescan.scan_id))) == 1
    record = store.get(rescan.scan_id)
    assert record is not None and record.engines is not None
    assert sorted(record.engines) == ["alpha", "beta", "filescan"]
