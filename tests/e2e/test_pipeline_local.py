"""End to end through the real pipeline: S3 -> EventBridge -> SQS -> enqueue -> local Batch ->
filescan-scan -> job events -> status/analysis -> DynamoDB -> HTTP API."""

from __future__ import annotations

import time

import pytest

from filescan_local.faults import parse_fault
from filescan_local.samples import demo_samples
from tests.e2e.conftest import Pipeline

pytestmark = pytest.mark.slow


def test_given_the_demo_samples_when_uploaded_then_the_api_shows_their_verdicts(pipeline: Pipeline) -> None:
    samples = demo_samples()
    uploads = [pipeline.put(f"uploads/e2e/samples/{s.name}", s.body) for s in samples]
    pipeline.wait(uploads)
    for sample, item in zip(samples, uploads, strict=True):
        status, body = pipeline.api(f"/scans/{item.scan_id}")
        assert status == 200, body
        assert body["status"] == "COMPLETE"
        assert body["verdict"] in sample.expected, (sample.name, body["verdict"])


def test_given_a_burst_of_200_small_files_when_uploaded_then_none_is_lost(pipeline: Pipeline) -> None:
    uploads = [pipeline.put(f"uploads/e2e/burst/file-{i:03d}.txt", b"burst %d\n" % i) for i in range(200)]
    records = pipeline.wait(uploads, timeout=240)
    assert len(records) == 200
    assert {record["status"] for record in records.values()} == {"COMPLETE"}
    assert len({u.scan_id for u in uploads}) == 200
    assert pipeline.queue_depth("IngestDLQ") == 0
    for item in uploads[:20]:
        assert len(pipeline.jobs_named(item.scan_id)) == 1


def test_given_a_crash_on_the_first_attempt_when_scanned_then_it_is_retried(pipeline: Pipeline) -> None:
    pipeline.stack.inject_fault(parse_fault("crash:1", pattern="uploads/e2e/crash-once/*"))
    item = pipeline.put("uploads/e2e/crash-once/a.txt", b"crash once\n")
    record = pipeline.wait([item])[item.scan_id]
    assert record["status"] == "COMPLETE"
    assert record["verdict"] == "clean"
    (job,) = pipeline.jobs_named(item.scan_id)
    assert [a.exit_code for a in job.attempts] == [1, 0]


def test_given_a_persistent_crash_when_scanned_then_it_ends_failed_and_shows_in_the_api(
    pipeline: Pipeline,
) -> None:
    pipeline.stack.inject_fault(parse_fault("crash", pattern="uploads/e2e/crash-always/*"))
    item = pipeline.put("uploads/e2e/crash-always/a.txt", b"crash always\n")
    record = pipeline.wait([item])[item.scan_id]
    assert record["status"] == "FAILED"
    (job,) = pipeline.jobs_named(item.scan_id)
    assert len(job.attempts) == 3  # the template's RetryStrategy.Attempts
    status, body = pipeline.api(f"/scans/{item.scan_id}")
    assert status == 200
    assert body["status"] == "FAILED"


def test_given_a_spot_interruption_when_scanned_then_it_is_retried(pipeline: Pipeline) -> None:
    pipeline.stack.inject_fault(parse_fault("spot:1", pattern="uploads/e2e/spot/*"))
    item = pipeline.put("uploads/e2e/spot/a.txt", b"spot\n")
    record = pipeline.wait([item])[item.scan_id]
    assert record["status"] == "COMPLETE"
    (job,) = pipeline.jobs_named(item.scan_id)
    assert job.attempts[0].status_reason == "Your Spot Task was interrupted."
    assert job.attempts[0].exit_code is None
    assert job.attempts[1].exit_code == 0


def test_given_bad_input_exit_65_when_scanned_then_it_is_not_retried_and_completes_unscannable(
    pipeline: Pipeline,
) -> None:
    pipeline.stack.inject_fault(parse_fault("exit=65", pattern="uploads/e2e/bad-input/*"))
    item = pipeline.put("uploads/e2e/bad-input/a.bin", b"bad input\n")
    record = pipeline.wait([item])[item.scan_id]
    assert record["status"] == "COMPLETE"
    assert record["verdict"] == "unscannable"
    (job,) = pipeline.jobs_named(item.scan_id)
    assert [a.exit_code for a in job.attempts] == [65]
    assert job.status == "FAILED"


def test_given_duplicate_content_keys_and_events_when_ingested_then_one_scan_and_job_per_version(
    pipeline: Pipeline,
) -> None:
    body = b"the same content\n" * 10
    first = pipeline.put("uploads/e2e/dup/one.txt", body)
    second = pipeline.put("uploads/e2e/dup/two.txt", body)
    again = pipeline.put("uploads/e2e/dup/one.txt", body)  # same key: a new version, a new scan
    records = pipeline.wait([first, second, again])
    assert len({first.scan_id, second.scan_id, again.scan_id}) == 3
    assert {records[u.scan_id]["status"] for u in (first, second, again)} == {"COMPLETE"}
    # The same notification delivered again is a no-op: still one job for the scan.
    pipeline.resend_ingest(
        {
            "version": "0",
            "id": "redelivered",
            "detail-type": "Object Created",
            "source": "aws.s3",
            "detail": {
                "bucket": {"name": pipeline.bucket},
                "object": {"key": first.key, "size": len(body), "version-id": first.version_id},
            },
        }
    )
    pipeline.wait([first])
    time.sleep(2)
    assert len(pipeline.jobs_named(first.scan_id)) == 1
    assert pipeline.queue_depth("IngestQueue") == 0
