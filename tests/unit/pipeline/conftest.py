"""Fixtures for the pipeline functions: a provisioned moto stack and handler loading."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from tests.support.stack import StackNames, load_handler, provision

EVENTS = Path(__file__).resolve().parents[3] / "events"


@pytest.fixture
def stack(aws: str) -> StackNames:
    """Freshly provisioned resources in the moto server."""
    return provision()


@pytest.fixture
def handler(stack: StackNames, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """Cold-start a function's handler module against the stack."""

    def load(function: str) -> ModuleType:
        return load_handler(function, monkeypatch, stack.environment())

    return load


@pytest.fixture
def lambda_context() -> Any:
    """A minimal Lambda context object (what Powertools reads from it)."""

    class Context:
        function_name = "filescan-test"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:filescan-test"
        memory_limit_in_mb = 512
        aws_request_id = "00000000-0000-0000-0000-000000000000"
        log_group_name = "/aws/lambda/filescan-test"
        log_stream_name = "2026/11/25/[$LATEST]0000"

        @staticmethod
        def get_remaining_time_in_millis() -> int:
            return 60_000

    return Context()


def load_event(name: str) -> dict[str, Any]:
    """A payload from ``events/`` (the same files ``sam local invoke`` uses)."""
    return json.loads((EVENTS / name).read_text())


def sqs_event_for(uploads: list[dict[str, Any]], *, bucket: str) -> dict[str, Any]:
    """The ``events/enqueue_object_created.json`` shape, one SQS record per upload.

    Each upload is ``{"key":..., "version_id":..., "size":..., "etag":...}`` as S3 reported it.
    """
    template = load_event("enqueue_object_created.json")["Records"][0]
    records = []
    for index, upload in enumerate(uploads):
        record = copy.deepcopy(template)
        body = json.loads(record["body"])
        body["detail"]["bucket"]["name"] = bucket
        body["resources"] = [f"arn:aws:s3:::{bucket}"]
        obj = body["detail"]["object"]
        obj.update({"key": upload["key"], "size": upload["size"], "etag": upload["etag"]})
        if upload.get("version_id"):
            obj["version-id"] = upload["version_id"]
        else:
            obj.pop("version-id", None)
        record["body"] = json.dumps(body)
        record["messageId"] = f"message-{index}"
        records.append(record)
    return {"Records": records}


def put_upload(stack: StackNames, key: str, body: bytes = b"hello", **extra: Any) -> dict[str, Any]:
    """Upload ``body`` under ``key`` and describe it as the notification would."""
    response = boto3.client("s3").put_object(Bucket=stack.uploads_bucket, Key=key, Body=body, **extra)
    return {
        "key": key,
        "version_id": response.get("VersionId"),
        "size": len(body),
        "etag": response["ETag"].strip('"'),
    }


def batch_event(name: str, stack: StackNames, scan_id: str, *, job_id: str = "job-1") -> dict[str, Any]:
    """A "Batch Job State Change" payload from ``events/``, aimed at ``scan_id`` on the stack's queue."""
    event = load_event(name)
    detail = event["detail"]
    detail["jobName"] = f"filescan-{scan_id}"
    detail["jobId"] = job_id
    detail["jobQueue"] = stack.job_queue_standard
    detail["parameters"]["scan_id"] = scan_id
    return event


def seed_scan(stack: StackNames, scan_id: str, state: str = "SUBMITTED", **fields: Any) -> None:
    """Store a scan record in ``state`` (created QUEUED, then advanced)."""
    from filescan_shared.records import ScanFields, ScanRecord, iso, utc_now  # noqa: PLC0415
    from filescan_shared.repository import ScanRepository  # noqa: PLC0415
    from filescan_shared.states import ScanState  # noqa: PLC0415

    repository = ScanRepository(boto3.client("dynamodb"), stack.scans_table)
    now = iso(utc_now())
    record = ScanRecord(
        scan_id=scan_id,
        status=ScanState.QUEUED,
        bucket=fields.pop("bucket", stack.uploads_bucket),
        key=fields.pop("key", "uploads/file.txt"),
        version_id=fields.pop("version_id", None),
        created_at=now,
        updated_at=now,
    )
    assert repository.create(record)
    if state != "QUEUED":
        assert repository.advance(scan_id, ScanState(state), ScanFields(**fields))


def verdict_tag(stack: StackNames, upload: dict[str, Any]) -> str | None:
    """The ``filescan-verdict`` tag of an uploaded object version, if set."""
    tags = boto3.client("s3").get_object_tagging(
        Bucket=stack.uploads_bucket, Key=upload["key"], VersionId=upload["version_id"]
    )["TagSet"]
    return next((tag["Value"] for tag in tags if tag["Key"] == "filescan-verdict"), None)
