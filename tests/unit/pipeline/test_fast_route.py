"""Enqueue routes by size class: the smallest class to the fast scan queue, the rest to Batch."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest

from filescan_shared.ids import derive_scan_id
from filescan_shared.pipeline.fast_route import QUEUE_MARKER, FastScanMessage, is_fast_path, takes_fast_path
from filescan_shared.pipeline.sizing import MiB
from filescan_shared.repository import ScanRepository
from filescan_shared.states import ScanState
from tests.support.stack import StackNames
from tests.unit.pipeline.conftest import put_upload, sqs_event_for

LIMIT = 1024


@pytest.fixture
def fast_queue(stack: StackNames) -> str:
    return boto3.client("sqs").create_queue(QueueName="filescan-fast-scan")["QueueUrl"]


def _enqueue(
    stack: StackNames,
    handler: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
    uploads: list[dict[str, Any]],
    *,
    queue_url: str,
    max_bytes: int,
) -> None:
    monkeypatch.setenv("FAST_SCAN_QUEUE_URL", queue_url)
    monkeypatch.setenv("FAST_PATH_MAX_BYTES", str(max_bytes))
    app = handler("enqueue")
    assert app.lambda_handler(sqs_event_for(uploads, bucket=stack.uploads_bucket), lambda_context) == {
        "batchItemFailures": []
    }


def _messages(queue_url: str) -> list[FastScanMessage]:
    found = (
        boto3.client("sqs").receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
    )
    return [FastScanMessage.model_validate(json.loads(message["Body"])) for message in found]


def _record(stack: StackNames, upload: dict[str, Any]) -> Any:
    scan_id = derive_scan_id(stack.uploads_bucket, upload["key"], version_id=upload["version_id"])
    record = ScanRepository(boto3.client("dynamodb"), stack.scans_table).get(scan_id)
    assert record is not None
    return record


def test_given_small_and_larger_uploads_when_enqueued_then_only_the_small_one_takes_the_fast_queue(
    stack: StackNames,
    fast_queue: str,
    handler: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    small = put_upload(stack, "uploads/small ü+.txt", b"s" * LIMIT)
    larger = put_upload(stack, "uploads/larger.bin", b"l" * (LIMIT + 1))

    _enqueue(
        stack, handler, monkeypatch, lambda_context, [small, larger], queue_url=fast_queue, max_bytes=LIMIT
    )

    fast, batch = _record(stack, small), _record(stack, larger)
    assert fast.status is ScanState.SUBMITTED and fast.job_id is None
    assert fast.job_queue == f"{QUEUE_MARKER}filescan-fast-scan" and is_fast_path(fast)
    assert batch.job_id is not None and batch.job_queue == stack.job_queue_standard
    (message,) = _messages(fast_queue)
    assert (message.scan_id, message.key, message.version_id) == (
        fast.scan_id,
        small["key"],
        small["version_id"],
    )


def test_given_the_fast_path_is_off_when_a_small_file_is_enqueued_then_it_gets_a_batch_job(
    stack: StackNames,
    fast_queue: str,
    handler: Callable[[str], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: Any,
) -> None:
    small = put_upload(stack, "uploads/tiny.txt", b"t")

    _enqueue(stack, handler, monkeypatch, lambda_context, [small], queue_url=fast_queue, max_bytes=0)

    assert _record(stack, small).job_id is not None
    assert _messages(fast_queue) == []


@pytest.mark.parametrize(
    ("size", "max_bytes", "fast"),
    [(0, 0, False), (10, 10, True), (11, 10, False), (64 * MiB, 10**12, True), (64 * MiB + 1, 10**12, False)],
)
def test_given_a_size_and_threshold_when_routing_then_only_the_smallest_class_under_it_is_fast(
    size: int, max_bytes: int, fast: bool
) -> None:
    assert takes_fast_path(size, max_bytes=max_bytes) is fast
