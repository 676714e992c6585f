"""The e2e suites start a real local stack (moto + local Batch + dispatcher + API) on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from filescan_local.dispatcher import DispatchSettings
from filescan_local.observe import Upload, api_get, upload, wait_terminal
from filescan_local.stack import LocalStack, StackConfig


@dataclasses.dataclass
class Pipeline:
    """A running stack with helpers for the tests."""

    stack: LocalStack

    @property
    def bucket(self) -> str:
        assert self.stack.topology is not None
        return self.stack.topology.bucket("UploadsBucket")

    @property
    def table(self) -> str:
        assert self.stack.topology is not None
        return self.stack.topology.template.physical_name("ScansTable")

    def put(self, key: str, body: bytes) -> Upload:
        return upload(self.stack.client("s3"), self.bucket, key, body)

    def wait(self, uploads: list[Upload], timeout: float = 120) -> dict[str, dict[str, Any]]:
        records, finished = wait_terminal(
            self.stack.client("dynamodb"), self.table, [u.scan_id for u in uploads], timeout=timeout
        )
        missing = [u.key for u in uploads if u.scan_id not in finished]
        assert not missing, f"not terminal after {timeout}s: {missing[:5]} ({len(missing)})"
        return records

    def api(self, path: str) -> tuple[int, Any]:
        assert self.stack.api is not None
        return api_get(self.stack.api.url, path, self.stack.config.api_token)

    def jobs_named(self, scan_id: str) -> list[Any]:
        assert self.stack.batch is not None
        return [job for job in self.stack.batch.jobs() if job.name == f"filescan-{scan_id}"]

    def queue_depth(self, logical_id: str) -> int:
        assert self.stack.topology is not None
        sqs = self.stack.client("sqs")
        url = sqs.get_queue_url(QueueName=self.stack.topology.queue(logical_id).name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def resend_ingest(self, body: dict[str, Any]) -> None:
        assert self.stack.topology is not None
        sqs = self.stack.client("sqs")
        url = sqs.get_queue_url(QueueName=self.stack.topology.queue("IngestQueue").name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))


def start_pipeline(**overrides: Any) -> Iterator[Pipeline]:
    """Start a stack (free ports everywhere), yield it, stop it."""
    config = StackConfig(
        api_port=0,
        max_visibility_timeout=3,
        dispatch=DispatchSettings(retry_delays=(0.2, 0.4), sweep_interval=0),
        **overrides,
    )
    stack = LocalStack(config)
    stack.start()
    try:
        yield Pipeline(stack)
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def pipeline() -> Iterator[Pipeline]:
    """One stack per test module."""
    yield from start_pipeline()


def wait_until(predicate: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
