"""Work that stops half-way still ends: unpublished enqueue outcomes, jobs stuck before RUNNING,
jobs the queues cancel, and content-cache entries that describe a failed attempt, not the content.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from filescan_shared import clients
from filescan_shared.ids import derive_scan_id
from filescan_shared.pipeline.enqueue import EnqueueOutcome, UploadedObject, enqueue_upload
from filescan_shared.pipeline.publish import publish_outcome
from filescan_shared.pipeline.sweeper import SweepAction, sweep
from filescan_shared.process_caches import reset_process_caches
from filescan_shared.records import ScanFields, ScanRecord, utc_now
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import EnqueueSettings, SweeperSettings, load_settings
from filescan_shared.states import ScanState
from tests.support.stack import StackNames, outcome_events
from tests.unit.pipeline.conftest import batch_event, put_upload, seed_scan, verdict_tag

SCAN = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def env(stack: StackNames, monkeypatch: pytest.MonkeyPatch) -> StackNames:
    """The functions' environment set for direct calls of the pipeline logic."""
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    reset_process_caches()
    return stack


def _repository(stack: StackNames) -> ScanRepository:
    return ScanRepository(boto3.client("dynamodb"), stack.scans_table)


def _enqueue(stack: StackNames, upload: dict[str, Any], publish: Callable[[ScanRecord], None]) -> Any:
    return enqueue_upload(
        UploadedObject(
            stack.uploads_bucket, upload["key"], upload["version_id"], upload["etag"], None, upload["size"]
        ),
        settings=load_settings(EnqueueSettings),
        repository=_repository(stack),
        s3=clients.s3(),
        batch=clients.batch(),
        publish=publish,
    )


def _real_publish(stack: StackNames) -> Callable[[ScanRecord], None]:
    return functools.partial(
        publish_outcome,
        s3=clients.s3(),
        events=clients.events(),
        repository=_repository(stack),
        bus_name=stack.event_bus,
    )


def _failing_publish(record: ScanRecord) -> None:
    raise RuntimeError("EventBridge unavailable")


def test_given_a_skip_whose_publishing_failed_when_redelivered_then_it_is_published(env: StackNames) -> None:
    upload = put_upload(env, "uploads/excluded.iso")
    with pytest.raises(RuntimeError):
        _enqueue(env, upload, _failing_publish)
    scan_id = derive_scan_id(env.uploads_bucket, upload["key"], version_id=upload["version_id"])
    assert verdict_tag(env, upload) is None

    redelivered = _enqueue(env, upload, _real_publish(env))

    assert redelivered.outcome is EnqueueOutcome.REPUBLISHED
    assert verdict_tag(env, upload) == "skipped"
    assert [event["detail-type"] for event in outcome_events(env)] == ["Scan Skipped"]
    record = _repository(env).get(scan_id)
    assert record is not None and record.published_at is not None
    assert _enqueue(env, upload, _real_publish(env)).outcome is EnqueueOutcome.DUPLICATE


def _checksummed(stack: StackNames, key: str, body: bytes) -> dict[str, Any]:
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return put_upload(stack, key, body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)


def test_given_a_cache_hit_whose_publishing_failed_when_redelivered_then_it_is_published(
    env: StackNames,
) -> None:
    first = _checksummed(env, "uploads/a.txt", b"same bytes")
    _enqueue(env, first, _real_publish(env))
    first_id = derive_scan_id(env.uploads_bucket, first["key"], version_id=first["version_id"])
    _repository(env).advance(first_id, ScanState.COMPLETE, ScanFields(verdict="clean", severity="none"))
    second = _checksummed(env, "uploads/b.txt", b"same bytes")
    with pytest.raises(RuntimeError):
        _enqueue(env, second, _failing_publish)

    assert _enqueue(env, second, _real_publish(env)).outcome is EnqueueOutcome.REPUBLISHED
    assert verdict_tag(env, second) == "clean"


@pytest.mark.parametrize("verdict", ["error", "unscannable"])
def test_given_a_failed_attempt_on_identical_content_when_enqueued_then_it_is_scanned_again(
    verdict: str, env: StackNames
) -> None:
    first = _checksummed(env, "uploads/a.bin", b"content")
    _enqueue(env, first, _real_publish(env))
    first_id = derive_scan_id(env.uploads_bucket, first["key"], version_id=first["version_id"])
    _repository(env).advance(first_id, ScanState.COMPLETE, ScanFields(verdict=verdict, severity="none"))
    second = _checksummed(env, "uploads/b.bin", b"content")

    result = _enqueue(env, second, _real_publish(env))

    assert result.outcome is EnqueueOutcome.SUBMITTED
    assert verdict_tag(env, second) is None


class _StuckBatch:
    """The moto Batch client, except that every job reports RUNNABLE with ``reason`` (no capacity)."""

    def __init__(self, real: Any, reason: str) -> None:
        self._real = real
        self._reason = reason
        self.terminated: list[str] = []

    def describe_jobs(self, **kwargs: Any) -> Any:
        jobs = self._real.describe_jobs(**kwargs)["jobs"]
        return {"jobs": [{**job, "status": "RUNNABLE", "statusReason": self._reason} for job in jobs]}

    def terminate_job(self, **kwargs: Any) -> Any:
        self.terminated.append(kwargs["jobId"])
        return self._real.terminate_job(**kwargs)


def _stuck_job(stack: StackNames) -> str:
    return str(
        boto3.client("batch").submit_job(
            jobName=f"filescan-{SCAN}", jobQueue=stack.job_queue_standard, jobDefinition=stack.job_definition
        )["jobId"]
    )


@pytest.fixture
def analysis(handler: Callable[[str], ModuleType], lambda_context: Any) -> Callable[[dict[str, Any]], None]:
    """Hand-over into the analysis handler (what the sweeper's async invoke does)."""
    app = handler("analysis")
    return lambda event: app.lambda_handler(event, lambda_context)


def _sweep(
    batch: Any, hand_over: Callable[[dict[str, Any]], None], stack: StackNames, later: dt.timedelta
) -> Any:
    return sweep(
        repository=_repository(stack),
        batch=batch,
        settings=load_settings(SweeperSettings),
        hand_over=hand_over,
        now=utc_now() + later,
    )


def test_given_a_scan_stuck_runnable_past_the_deadline_when_swept_then_it_fails_visibly(
    stack: StackNames, analysis: Callable[[dict[str, Any]], None]
) -> None:
    job_id = _stuck_job(stack)
    seed_scan(stack, SCAN, "RUNNABLE", job_id=job_id, job_queue=stack.job_queue_standard)
    reason = "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE - CE(s) vCPU cap below the job's"
    batch = _StuckBatch(clients.batch(), reason)
    deadline = dt.timedelta(minutes=load_settings(SweeperSettings).pending_deadline_minutes)

    early = _sweep(batch, analysis, stack, deadline - dt.timedelta(minutes=5))
    assert early.actions == {SweepAction.WAITING: 1}
    # The waiting sweep touched updated_at: the scan is looked at again stuck_after_minutes later.
    report = _sweep(batch, analysis, stack, deadline + dt.timedelta(minutes=40))

    assert report.actions == {SweepAction.FAILED_PENDING: 1}
    assert batch.terminated == [job_id]
    record = _repository(stack).get(SCAN)
    assert record is not None and record.status is ScanState.FAILED
    assert "still RUNNABLE" in (record.failure_reason or "")
    assert "COMPUTE_ENVIRONMENT_MAX_RESOURCE" in (record.failure_reason or "")
    assert [event["detail-type"] for event in outcome_events(stack)] == ["Scan Failed"]


def test_given_a_job_the_queue_cancelled_when_its_event_arrives_then_the_scan_fails_with_the_reason(
    stack: StackNames, analysis: Callable[[dict[str, Any]], None]
) -> None:
    seed_scan(stack, SCAN, "RUNNABLE", job_id="job-1")
    event = batch_event("analysis_job_failed.json", stack, SCAN)
    # What AWS Batch reports after a jobStateTimeLimitActions CANCEL: FAILED, no attempt ever ran.
    # https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_capacity.html
    reason = "Canceled by JobStateTimeLimit action due to reason: CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY"
    event["detail"].update({"status": "FAILED", "statusReason": reason, "attempts": []})
    event["detail"].pop("container", None)

    analysis(event)

    record = _repository(stack).get(SCAN)
    assert record is not None and record.status is ScanState.FAILED
    assert "INSUFFICIENT_INSTANCE_CAPACITY" in (record.failure_reason or "")
