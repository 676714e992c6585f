"""The small-file fast path: the scanner as a Lambda function, concluding scans, falling back to Batch."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient

from bench.model.pipeline import Stack
from bench.model.simulate import FINAL_WRITE_UNITS, INGEST_SQS_REQUESTS, WRITE_UNITS, Options, Strategy, calls
from filescan_shared.pipeline.cost import LambdaPrices, estimate_lambda_cost
from filescan_shared.pipeline.fast_route import QUEUE_MARKER, FastScanMessage, is_fast_path
from filescan_shared.pipeline.sizing import MiB
from filescan_shared.process_caches import reset_process_caches
from filescan_shared.repository import ScanRepository
from filescan_shared.states import ScanState
from tests.support.stack import REPO, StackNames, outcome_events
from tests.unit.pipeline.conftest import put_upload, seed_scan, sqs_event_for, verdict_tag

SCAN = "fa57fa57fa57fa57fa57fa57fa57fa57"
WRITES = {"PutItem", "UpdateItem"}
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def dlq_url(stack: StackNames) -> str:
    return boto3.client("sqs").create_queue(QueueName="filescan-fast-scan-dlq")["QueueUrl"]


@pytest.fixture
def scan_function(
    stack: StackNames, dlq_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> ModuleType:
    """``filescan_scanner.lambda_handler`` cold-started against the stack."""
    environment = stack.environment() | {
        "FAST_SCAN_DLQ_URL": dlq_url,
        "FILESCAN_WORK_DIR": str(tmp_path / "work"),
        "FILESCAN_RULES_CACHE_DIR": "",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    reset_process_caches()
    path = REPO / "scanner_job" / "filescan_scanner" / "lambda_handler.py"
    spec = importlib.util.spec_from_file_location("filescan_test_scan_function", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _fast_scan(
    stack: StackNames, content: bytes | None, key: str = "uploads/small file ü.txt"
) -> dict[str, Any]:
    """An upload routed to the fast path: its record SUBMITTED on the fast queue, no job."""
    upload = put_upload(stack, key, content or b"gone")
    if content is None:
        boto3.client("s3").delete_object(Bucket=stack.uploads_bucket, Key=key, VersionId=upload["version_id"])
    seed_scan(
        stack, SCAN, "SUBMITTED", key=key, version_id=upload["version_id"], job_queue=f"{QUEUE_MARKER}fast"
    )
    return upload


def _message(stack: StackNames, upload: dict[str, Any], index: int = 0) -> dict[str, Any]:
    body = FastScanMessage(
        scan_id=SCAN, bucket=stack.uploads_bucket, key=upload["key"], version_id=upload["version_id"]
    ).model_dump_json()
    return {
        "messageId": f"m-{index}",
        "receiptHandle": f"r-{index}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:filescan-fast-scan",
        "awsRegion": "us-east-1",
    }


def _record(stack: StackNames) -> Any:
    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(SCAN)
    assert record is not None
    return record


def _reports(stack: StackNames) -> list[str]:
    listed = boto3.client("s3").list_object_versions(Bucket=stack.reports_bucket, Prefix="reports/")
    return [version["Key"] for version in listed.get("Versions", [])]


def test_given_a_small_clean_file_when_its_message_arrives_twice_then_one_report_one_verdict_one_event(
    stack: StackNames, scan_function: ModuleType, lambda_context: Any
) -> None:
    upload = _fast_scan(stack, b"just some harmless words\n")
    event = {"Records": [_message(stack, upload, 0), _message(stack, upload, 1)]}

    first = scan_function.lambda_handler(event, lambda_context)
    again = scan_function.lambda_handler({"Records": [_message(stack, upload, 2)]}, lambda_context)

    assert first == {"batchItemFailures": []} and again == {"batchItemFailures": []}
    record = _record(stack)
    assert (record.status, record.verdict) == (ScanState.COMPLETE, "clean")
    assert record.job_id is None and record.job_queue == f"{QUEUE_MARKER}fast"
    assert record.cost["capacity"] == "lambda" and float(record.cost["usd"]) > 0
    assert record.report_key == f"reports/{SCAN}.json"
    assert _reports(stack) == [f"reports/{SCAN}.json"]
    assert verdict_tag(stack, upload) == "clean"
    assert [e["detail-type"] for e in outcome_events(stack)] == ["Scan Completed"]


def test_given_eicar_when_the_fast_path_scans_it_then_it_is_malicious_and_tagged(
    stack: StackNames, scan_function: ModuleType, lambda_context: Any
) -> None:
    upload = _fast_scan(stack, EICAR, key="uploads/eicar +%.com")

    scan_function.lambda_handler({"Records": [_message(stack, upload)]}, lambda_context)

    record = _record(stack)
    assert (record.status, record.verdict) == (ScanState.COMPLETE, "malicious")
    assert verdict_tag(stack, upload) == "malicious"


def test_given_the_object_version_is_gone_when_the_fast_path_runs_then_it_completes_unscannable(
    stack: StackNames, scan_function: ModuleType, lambda_context: Any
) -> None:
    upload = _fast_scan(stack, None)

    scan_function.lambda_handler({"Records": [_message(stack, upload)]}, lambda_context)

    record = _record(stack)
    assert (record.status, record.verdict) == (ScanState.COMPLETE, "unscannable")
    assert record.verdict_reasons and record.report_key == f"reports/{SCAN}.json"


def test_given_the_scanner_crashes_when_redelivered_then_it_retries_then_falls_back_to_batch(
    stack: StackNames,
    scan_function: ModuleType,
    dlq_url: str,
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
    handler: Callable[[str], ModuleType],
) -> None:
    upload = _fast_scan(stack, b"fine\n")
    message = _message(stack, upload)

    def crash(*_: Any, **__: Any) -> int:
        raise MemoryError("out of memory")

    monkeypatch.setattr(scan_function, "scan_object", crash)
    failed = scan_function.lambda_handler({"Records": [message]}, lambda_context)
    in_progress = scan_function.lambda_handler({"Records": [message]}, lambda_context)

    assert failed == in_progress == {"batchItemFailures": [{"itemIdentifier": "m-0"}]}
    assert _record(stack).status is ScanState.RUNNING
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    monkeypatch.setattr("filescan_shared.pipeline.fast_scan.utc_now", lambda: later)
    assert scan_function.lambda_handler({"Records": [message]}, lambda_context) == {"batchItemFailures": []}
    (parked,) = boto3.client("sqs").receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10)["Messages"]

    fallback = handler("fast_fallback")
    dlq_event = {"Records": [message | {"body": parked["Body"]}] * 2}
    assert fallback.lambda_handler(dlq_event, lambda_context) == {"batchItemFailures": []}

    record = _record(stack)
    assert record.job_id is not None and record.job_queue == stack.job_queue_standard
    assert not is_fast_path(record)
    jobs = boto3.client("batch").list_jobs(
        jobQueue=stack.job_queue_standard, filters=[{"name": "JOB_NAME", "values": [f"filescan-{SCAN}"]}]
    )["jobSummaryList"]
    assert [job["jobId"] for job in jobs] == [record.job_id]


def test_given_a_finished_scan_when_its_message_reaches_the_fallback_then_no_job_is_submitted(
    stack: StackNames, scan_function: ModuleType, lambda_context: Any, handler: Callable[[str], ModuleType]
) -> None:
    upload = _fast_scan(stack, b"fine\n")
    message = _message(stack, upload)
    scan_function.lambda_handler({"Records": [message]}, lambda_context)

    handler("fast_fallback").lambda_handler({"Records": [message]}, lambda_context)

    assert _record(stack).job_id is None
    assert json.loads(message["body"])["scan_id"] == SCAN


def test_given_a_run_when_its_lambda_cost_is_estimated_then_it_is_billed_ms_x_gb_plus_request() -> None:
    cost = estimate_lambda_cost(1.2345, memory_mb=1024, prices=LambdaPrices())

    assert cost["billed_ms"] == 1235
    assert cost["usd"] == f"{1.235 * 0.0000166667 + 0.0000002:.8f}"


def test_given_a_small_file_when_it_takes_the_fast_path_then_the_model_counts_the_requests_it_makes(
    stack: StackNames,
    scan_function: ModuleType,
    handler: Callable[[str], ModuleType],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast_queue = boto3.client("sqs").create_queue(QueueName="filescan-fast-scan")["QueueUrl"]
    monkeypatch.setenv("FAST_SCAN_QUEUE_URL", fast_queue)
    monkeypatch.setenv("FAST_PATH_MAX_BYTES", str(MiB))
    enqueue = handler("enqueue")
    upload = put_upload(stack, "uploads/model check.txt", b"harmless\n")
    made: Counter[tuple[str, str]] = Counter()
    real_call = BaseClient._make_api_call

    def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
        made[(client.meta.service_model.service_name, operation)] += 1
        return real_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    enqueue.lambda_handler(sqs_event_for([upload], bucket=stack.uploads_bucket), lambda_context)
    (sent,) = boto3.client("sqs").receive_message(QueueUrl=fast_queue)["Messages"]
    record = _message(stack, upload) | {"body": sent["Body"]}
    scan_function.lambda_handler({"Records": [record]}, lambda_context)
    monkeypatch.setattr(BaseClient, "_make_api_call", real_call)

    model = calls(Strategy.LAMBDA, 9, small=True, stack=Stack(), options=Options())
    s3_reads = made[("s3", "HeadObject")] + made[("s3", "GetObject")] + made[("s3", "GetObjectTagging")]
    s3_writes = made[("s3", "PutObject")] + made[("s3", "PutObjectTagging")]
    writes = sum(n for (service, op), n in made.items() if service == "dynamodb" and op in WRITES)
    assert (s3_reads, s3_writes) == (model.s3_get, model.s3_put)
    assert writes * WRITE_UNITS + FINAL_WRITE_UNITS - WRITE_UNITS == model.dynamodb_write_units
    # The test's own receive stands in for the event source mapping's; it deletes after the batch.
    assert (
        made[("sqs", "SendMessage")] + made[("sqs", "ReceiveMessage")] + 1 == model.sqs - INGEST_SQS_REQUESTS
    )
    assert made[("events", "PutEvents")] == model.custom_events
