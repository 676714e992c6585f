"""Provision filescan's resources in a moto server and load Lambda handlers against them."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from filescan_shared.process_caches import reset_process_caches

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True)
class StackNames:
    """Names and ARNs of the provisioned resources (what the template's outputs would be)."""

    uploads_bucket: str = "filescan-uploads"
    reports_bucket: str = "filescan-reports"
    scans_table: str = "filescan-scans"
    idempotency_table: str = "filescan-idempotency"
    event_bus: str = "filescan-events"
    scan_prefix: str = "uploads/"
    job_queue_standard: str = ""
    job_queue_priority: str = ""
    job_definition: str = ""
    outcome_queue_url: str = ""
    """An SQS queue subscribed to every event on the filescan bus (to observe outcome events)."""

    def environment(self) -> dict[str, str]:
        """The functions' environment variables, as template.yaml sets them."""
        return {
            "SCANS_TABLE": self.scans_table,
            "IDEMPOTENCY_TABLE": self.idempotency_table,
            "UPLOADS_BUCKET": self.uploads_bucket,
            "SCAN_PREFIX": self.scan_prefix,
            "REPORTS_BUCKET": self.reports_bucket,
            "REPORTS_PREFIX": "reports/",
            "EVENT_BUS_NAME": self.event_bus,
            "JOB_QUEUE_STANDARD": self.job_queue_standard,
            "JOB_QUEUE_PRIORITY": self.job_queue_priority,
            "JOB_DEFINITION": self.job_definition,
            "SCANNER_VERSION": "test-1",
            "ANALYSIS_FUNCTION_NAME": "filescan-analysis",
            "PRIORITY_PREFIXES": "uploads/priority/",
            "EXCLUDED_EXTENSIONS": ".iso",
            "MAX_OBJECT_BYTES": str(10 * 1024 * 1024),
            "POWERTOOLS_SERVICE_NAME": "filescan",
            "POWERTOOLS_METRICS_NAMESPACE": "filescan",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }


def _gsi(name: str, hash_key: str, range_key: str | None = None) -> dict[str, Any]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return {"IndexName": name, "KeySchema": schema, "Projection": {"ProjectionType": "ALL"}}


def provision() -> StackNames:
    """Create buckets, the scans table, the event bus and Batch queues in the current endpoint."""
    names = StackNames()
    s3 = boto3.client("s3")
    for bucket in (names.uploads_bucket, names.reports_bucket):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=names.uploads_bucket, VersioningConfiguration={"Status": "Enabled"})
    boto3.client("dynamodb").create_table(
        TableName=names.scans_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("scan_id", "object_ref", "created_at", "status_day", "updated_at", "content_key")
        ],
        KeySchema=[{"AttributeName": "scan_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            _gsi("ByObject", "object_ref", "created_at"),
            _gsi("ByStatus", "status_day", "updated_at"),
            _gsi("ByContent", "content_key"),
        ],
    )
    boto3.client("dynamodb").create_table(
        TableName=names.idempotency_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
    )
    outcome_queue_url = _subscribe_queue_to_bus(names.event_bus)
    role = boto3.client("iam").create_role(RoleName="filescan-batch-service", AssumeRolePolicyDocument="{}")
    batch = boto3.client("batch")
    environment = batch.create_compute_environment(
        computeEnvironmentName="filescan-spot",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=role["Role"]["Arn"],
    )["computeEnvironmentArn"]
    queues = {}
    for queue, priority in (("filescan-standard", 10), ("filescan-priority", 100)):
        queues[queue] = batch.create_job_queue(
            jobQueueName=queue,
            state="ENABLED",
            priority=priority,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )["jobQueueArn"]
    definition = batch.register_job_definition(
        jobDefinitionName="filescan-scanner",
        type="container",
        containerProperties={"image": "filescan-scanner:test", "vcpus": 1, "memory": 2048},
    )["jobDefinitionArn"]
    return dataclasses.replace(
        names,
        job_queue_standard=queues["filescan-standard"],
        job_queue_priority=queues["filescan-priority"],
        job_definition=definition,
        outcome_queue_url=outcome_queue_url,
    )


def _subscribe_queue_to_bus(bus: str) -> str:
    events = boto3.client("events")
    sqs = boto3.client("sqs")
    events.create_event_bus(Name=bus)
    queue_url = sqs.create_queue(QueueName="filescan-outcomes")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="all-outcomes", EventBusName=bus, EventPattern='{"source": ["filescan"]}')
    events.put_targets(Rule="all-outcomes", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


def outcome_events(names: StackNames) -> list[dict[str, Any]]:
    """Every event published on the filescan bus so far (drained from the observer queue)."""
    sqs = boto3.client("sqs")
    received: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=names.outcome_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        if not batch:
            return received
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=names.outcome_queue_url, ReceiptHandle=message["ReceiptHandle"])


def load_handler(function: str, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> ModuleType:
    """Import ``functions/<function>/app.py`` afresh (a cold start) with ``environment`` set."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    reset_process_caches()
    module_name = f"filescan_test_{function}_app"
    spec = importlib.util.spec_from_file_location(module_name, REPO / "functions" / function / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module
