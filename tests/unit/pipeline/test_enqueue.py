"""enqueue: notifications become exactly one scan job each, or a recorded skip; nothing is lost."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from filescan_shared import clients
from filescan_shared.ids import batch_job_name, derive_scan_id
from filescan_shared.pipeline.enqueue import EnqueueOutcome, UploadedObject, enqueue_upload
from filescan_shared.process_caches import reset_process_caches
from filescan_shared.records import ScanFields, ScanRecord, iso, utc_now
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import EnqueueSettings, load_settings
from filescan_shared.states import ScanState
from tests.support.stack import StackNames, outcome_events
from tests.unit.pipeline.conftest import put_upload, sqs_event_for, verdict_tag

HOSTILE_KEYS = [
    "uploads/with space.txt",
    "uploads/plus+sign.txt",
    "uploads/100%25 literal%.txt",
    "uploads/ünïcødé/文件.txt",
    "uploads/../../etc/passwd",
    "uploads/" + "k" * 1000,
]


def _jobs(stack: StackNames) -> list[dict[str, Any]]:
    batch = boto3.client("batch")
    jobs = []
    for queue in (stack.job_queue_standard, stack.job_queue_priority):
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
            jobs.extend(batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"])
    unique = {job["jobId"]: job for job in jobs}
    return [batch.describe_jobs(jobs=[job_id])["jobs"][0] for job_id in unique]


def _record(stack: StackNames, scan_id: str) -> ScanRecord:
    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(scan_id)
    assert record is not None
    return record


def _scan_id(stack: StackNames, upload: dict[str, Any]) -> str:
    return derive_scan_id(stack.uploads_bucket, upload["key"], version_id=upload["version_id"])


def test_given_an_upload_when_enqueued_then_one_job_is_submitted_and_recorded(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    upload = put_upload(stack, "uploads/report.pdf")
    app = handler("enqueue")

    response = app.lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)

    assert response == {"batchItemFailures": []}
    record = _record(stack, _scan_id(stack, upload))
    assert record.status is ScanState.SUBMITTED
    jobs = _jobs(stack)
    assert [job["jobName"] for job in jobs] == [batch_job_name(record.scan_id)]
    assert jobs[0]["jobId"] == record.job_id
    assert jobs[0]["parameters"]["key"] == "uploads/report.pdf"
    assert jobs[0]["parameters"]["version_id"] == upload["version_id"]
    assert record.job_queue == stack.job_queue_standard
    assert set(record.timestamps) == {"QUEUED", "SUBMITTED"}


def test_given_a_triplicated_event_when_enqueued_then_exactly_one_job_exists(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    upload = put_upload(stack, "uploads/dup.bin")
    app = handler("enqueue")
    event = sqs_event_for([upload, upload, upload], bucket=stack.uploads_bucket)

    first = app.lambda_handler(event, lambda_context)
    again = app.lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)

    assert first == again == {"batchItemFailures": []}
    assert len(_jobs(stack)) == 1
    assert _record(stack, _scan_id(stack, upload)).status is ScanState.SUBMITTED


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_given_a_hostile_key_when_enqueued_then_the_exact_key_reaches_the_job(
    key: str, stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    upload = put_upload(stack, key)

    handler("enqueue").lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)

    (job,) = _jobs(stack)
    assert job["parameters"]["key"] == key
    assert _record(stack, _scan_id(stack, upload)).key == key


def test_given_a_form_encoded_key_when_enqueued_then_the_real_key_is_found(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    upload = put_upload(stack, "uploads/q3 summary.pdf")
    encoded = {**upload, "key": "uploads/q3+summary.pdf"}

    handler("enqueue").lambda_handler(sqs_event_for([encoded], bucket=stack.uploads_bucket), lambda_context)

    (job,) = _jobs(stack)
    assert job["parameters"]["key"] == "uploads/q3 summary.pdf"


def test_given_another_bucket_or_prefix_when_enqueued_then_it_is_ignored(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    outside = put_upload(stack, "elsewhere/file.txt")
    app = handler("enqueue")

    response = app.lambda_handler(sqs_event_for([outside], bucket=stack.uploads_bucket), lambda_context)
    foreign = app.lambda_handler(sqs_event_for([outside], bucket="someone-elses-bucket"), lambda_context)

    assert response == foreign == {"batchItemFailures": []}
    assert _jobs(stack) == []
    assert boto3.client("dynamodb").scan(TableName=stack.scans_table)["Count"] == 0


@pytest.mark.parametrize(
    ("key", "size", "reason"),
    [("uploads/big.bin", 10 * 1024 * 1024 + 1, "over the"), ("uploads/disk.ISO", 10, "excluded")],
)
def test_given_an_out_of_scope_object_when_enqueued_then_it_is_recorded_as_skipped(
    key: str,
    size: int,
    reason: str,
    stack: StackNames,
    handler: Callable[[str], ModuleType],
    lambda_context: Any,
) -> None:
    upload = put_upload(stack, key, b"\0" * size)

    handler("enqueue").lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)

    record = _record(stack, _scan_id(stack, upload))
    assert record.status is ScanState.SKIPPED
    assert record.skip_reason is not None and reason in record.skip_reason
    assert _jobs(stack) == []
    assert verdict_tag(stack, upload) == "skipped"
    (event,) = outcome_events(stack)
    assert event["detail-type"] == "Scan Skipped"
    assert reason in event["detail"]["reason"]


def test_given_a_deleted_object_when_enqueued_then_it_is_skipped_not_lost(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    upload = put_upload(stack, "uploads/gone.txt")
    boto3.client("s3").delete_object(
        Bucket=stack.uploads_bucket, Key=upload["key"], VersionId=upload["version_id"]
    )

    handler("enqueue").lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)

    record = _record(stack, _scan_id(stack, upload))
    assert record.status is ScanState.SKIPPED
    assert "no longer exists" in (record.skip_reason or "")


def test_given_a_priority_prefix_when_enqueued_then_the_priority_queue_is_used(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    upload = put_upload(stack, "uploads/priority/urgent.txt")

    handler("enqueue").lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)

    assert _record(stack, _scan_id(stack, upload)).job_queue == stack.job_queue_priority


def test_given_a_malformed_message_when_enqueued_then_only_it_is_reported_failed(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    good = put_upload(stack, "uploads/good.txt")
    event = sqs_event_for([good, good], bucket=stack.uploads_bucket)
    event["Records"][1]["body"] = '{"detail-type": "Object Created", "detail": "not an object"'

    response = handler("enqueue").lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert len(_jobs(stack)) == 1


def test_given_a_batch_of_only_malformed_messages_when_enqueued_then_each_is_reported_not_raised(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    event = sqs_event_for([put_upload(stack, "uploads/a.txt")] * 2, bucket=stack.uploads_bucket)
    event["Records"][0]["body"] = "not json"
    event["Records"][1]["body"] = '{"detail-type": "Object Deleted", "detail": {}}'

    response = handler("enqueue").lambda_handler(event, lambda_context)

    assert response == {
        "batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-1"}]
    }
    assert _jobs(stack) == []


def test_given_a_malformed_message_when_enqueued_then_a_warning_is_logged(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any, caplog: Any
) -> None:
    from filescan_shared.observability import logger  # noqa: PLC0415 - the functions' logger

    event = sqs_event_for([put_upload(stack, "uploads/a.txt")], bucket=stack.uploads_bucket)
    event["Records"][0]["body"] = "not json"
    functions_logger = logging.getLogger(logger.name)
    functions_logger.addHandler(caplog.handler)
    try:
        handler("enqueue").lambda_handler(event, lambda_context)
    finally:
        functions_logger.removeHandler(caplog.handler)

    warnings = [r for r in caplog.records if r.name == logger.name and r.levelno == logging.WARNING]
    assert warnings, caplog.records
    assert warnings[0].exc_info and warnings[0].exc_info[0].__name__ == "ValidationError"


class _ThrottledOnce:
    """A Batch client whose first SubmitJob is throttled, as AWS does under load."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.throttled = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def submit_job(self, **kwargs: Any) -> Any:
        if not self.throttled:
            self.throttled = True
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate"}}, "SubmitJob")
        return self._real.submit_job(**kwargs)


def _enqueue_directly(stack: StackNames, upload: dict[str, Any], batch: Any) -> Any:
    for name, value in stack.environment().items():
        import os  # noqa: PLC0415

        os.environ[name] = value
    reset_process_caches()
    return enqueue_upload(
        UploadedObject(stack.uploads_bucket, upload["key"], upload["version_id"], upload["etag"], None, 5),
        settings=load_settings(EnqueueSettings),
        repository=ScanRepository(clients.dynamodb(), stack.scans_table),
        s3=clients.s3(),
        batch=batch,
        publish=lambda record: None,
    )


def test_given_batch_throttling_when_enqueued_then_it_fails_and_the_retry_submits_once(
    stack: StackNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    upload = put_upload(stack, "uploads/throttled.txt")
    batch = _ThrottledOnce(clients.batch())

    with pytest.raises(ClientError):
        _enqueue_directly(stack, upload, batch)
    assert _record(stack, _scan_id(stack, upload)).status is ScanState.QUEUED
    retried = _enqueue_directly(stack, upload, batch)

    assert retried.outcome is EnqueueOutcome.SUBMITTED
    assert len(_jobs(stack)) == 1
    assert _record(stack, _scan_id(stack, upload)).status is ScanState.SUBMITTED


def test_given_a_crash_after_submit_when_redelivered_then_the_orphan_job_is_adopted(
    stack: StackNames, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in stack.environment().items():
        monkeypatch.setenv(name, value)
    upload = put_upload(stack, "uploads/orphan.txt")
    scan_id = _scan_id(stack, upload)
    long_ago = iso(utc_now().replace(year=2020))
    repository = ScanRepository(clients.dynamodb(), stack.scans_table)
    repository.create(
        ScanRecord(
            scan_id=scan_id,
            status=ScanState.QUEUED,
            bucket=stack.uploads_bucket,
            key=upload["key"],
            version_id=upload["version_id"],
            created_at=long_ago,
            updated_at=long_ago,
        ),
        claim="crashed-claimant",
    )
    orphan = clients.batch().submit_job(
        jobName=batch_job_name(scan_id), jobQueue=stack.job_queue_standard, jobDefinition=stack.job_definition
    )["jobId"]

    result = _enqueue_directly(stack, upload, clients.batch())

    assert result.outcome is EnqueueOutcome.SUBMITTED
    assert len(_jobs(stack)) == 1
    assert _record(stack, scan_id).job_id == orphan


def test_given_content_scanned_before_when_enqueued_then_the_cached_result_completes_it(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    body = b"identical bytes"
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    first = put_upload(stack, "uploads/a.txt", body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
    app = handler("enqueue")
    app.lambda_handler(sqs_event_for([first], bucket=stack.uploads_bucket), lambda_context)
    first_id = _scan_id(stack, first)
    cached = ScanFields(verdict="clean", severity="none", report_key="reports/x.json")
    ScanRepository(boto3.client("dynamodb"), stack.scans_table).advance(first_id, ScanState.COMPLETE, cached)
    second = put_upload(stack, "uploads/b.txt", body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)

    app.lambda_handler(sqs_event_for([second], bucket=stack.uploads_bucket), lambda_context)

    record = _record(stack, _scan_id(stack, second))
    assert record.status is ScanState.COMPLETE
    assert record.cached_from == first_id
    assert record.verdict == "clean"
    assert record.sha256 == hashlib.sha256(body).hexdigest()
    assert len(_jobs(stack)) == 1
    assert verdict_tag(stack, second) == "clean"
    assert [event["detail"]["cached_from"] for event in outcome_events(stack)] == [first_id]


def test_given_malicious_content_scanned_before_when_enqueued_then_it_is_scanned_again(
    stack: StackNames, handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    body = b"bad bytes"
    checksum = base64.b64encode(hashlib.sha256(body).digest()).decode()
    first = put_upload(stack, "uploads/a.bin", body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
    app = handler("enqueue")
    app.lambda_handler(sqs_event_for([first], bucket=stack.uploads_bucket), lambda_context)
    ScanRepository(boto3.client("dynamodb"), stack.scans_table).advance(
        _scan_id(stack, first), ScanState.COMPLETE, ScanFields(verdict="malicious", severity="high")
    )
    second = put_upload(stack, "uploads/b.bin", body, ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)

    app.lambda_handler(sqs_event_for([second], bucket=stack.uploads_bucket), lambda_context)

    assert _record(stack, _scan_id(stack, second)).status is ScanState.SUBMITTED
    assert len(_jobs(stack)) == 2


def test_given_concurrent_creates_when_both_write_then_only_one_wins(stack: StackNames) -> None:
    repository = ScanRepository(boto3.client("dynamodb"), stack.scans_table)
    now = iso(utc_now())
    record = ScanRecord(
        scan_id="a" * 32, status=ScanState.QUEUED, bucket="b", key="k", created_at=now, updated_at=now
    )

    results = [repository.create(record, claim="one"), repository.create(record, claim="two")]

    assert results == [True, False]
    stored = boto3.client("dynamodb").get_item(TableName=stack.scans_table, Key={"scan_id": {"S": "a" * 32}})
    assert json.dumps(stored["Item"]["submit_claim"]) == json.dumps({"S": "one"})
