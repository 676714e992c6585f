"""Create the template's resources in a moto server (S3, DynamoDB, SQS, EventBridge, Secrets Manager)."""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config

from filescan_local.topology import QueueSpec, Topology

_TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


def session_client(service: str, endpoint: str) -> Any:
    """A boto3 client for ``service`` at ``endpoint`` with the local stack's fake credentials."""
    return boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's well-known fake credentials
        region_name="us-east-1",
    ).client(  # type: ignore[call-overload]
        service, endpoint_url=endpoint, config=Config(max_pool_connections=64, retries={"mode": "standard"})
    )


def provision(topology: Topology, endpoint: str, *, max_visibility_timeout: int | None = None) -> None:
    """Create every bucket, table, queue, bus and rule of ``topology`` in the moto server at ``endpoint``.

    ``max_visibility_timeout`` caps queue visibility timeouts (tests use a few seconds so a failed
    message reappears quickly); ``None`` keeps the template's values.
    """
    _buckets(topology, session_client("s3", endpoint))
    _tables(topology, session_client("dynamodb", endpoint))
    _queues(topology, session_client("sqs", endpoint), max_visibility_timeout)
    _events(topology, session_client("events", endpoint))


def _buckets(topology: Topology, s3: Any) -> None:
    for name, props in topology.buckets.items():
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        if (
            props.get("NotificationConfiguration", {})
            .get("EventBridgeConfiguration", {})
            .get("EventBridgeEnabled")
        ):
            s3.put_bucket_notification_configuration(
                Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}}
            )


def _tables(topology: Topology, dynamodb: Any) -> None:
    for name, props in topology.tables.items():
        request = {key: props[key] for key in _TABLE_KEYS if key in props}
        for index in request.get("GlobalSecondaryIndexes", []):
            index.setdefault("Projection", {"ProjectionType": "ALL"})
        dynamodb.create_table(TableName=name, **request)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )


def _queues(topology: Topology, sqs: Any, max_visibility: int | None) -> None:
    # Dead-letter queues first: a redrive policy names an existing queue (and a DLQ may have its
    # own DLQ: the fast scan queue -> its DLQ -> the fallback's DLQ).
    created: set[str] = set()
    pending = list(topology.queues)
    while pending:
        ready = [queue for queue in pending if queue.dlq_arn is None or queue.dlq_arn in created]
        if not ready:
            raise ValueError(
                f"redrive policies form a cycle or name unknown queues: {[q.name for q in pending]}"
            )
        for queue in ready:
            sqs.create_queue(QueueName=queue.name, Attributes=_queue_attributes(queue, max_visibility))
            created.add(queue.arn)
            pending.remove(queue)


def _queue_attributes(queue: QueueSpec, max_visibility: int | None) -> dict[str, str]:
    visibility = queue.visibility_timeout
    # Mailboxes are local plumbing (a message is held while its async invoke and retries run).
    if max_visibility is not None and not queue.logical_id.endswith("Mailbox"):
        visibility = min(visibility, max_visibility)
    attributes = {
        "VisibilityTimeout": str(visibility),
        "MessageRetentionPeriod": str(queue.retention_seconds),
    }
    if queue.dlq_arn and queue.max_receive_count:
        attributes["RedrivePolicy"] = json.dumps(
            {"deadLetterTargetArn": queue.dlq_arn, "maxReceiveCount": queue.max_receive_count}
        )
    return attributes


def _events(topology: Topology, events: Any) -> None:
    for bus in topology.buses:
        events.create_event_bus(Name=bus)
    for rule in topology.rules:
        events.put_rule(Name=rule.name, EventBusName=rule.bus, EventPattern=json.dumps(rule.pattern))
        targets = [{"Id": f"target-{index}", "Arn": arn} for index, arn in enumerate(rule.target_arns)]
        events.put_targets(Rule=rule.name, EventBusName=rule.bus, Targets=targets)


def store_secret(endpoint: str, name: str, value: str) -> str:
    """Store ``value`` in local Secrets Manager under ``name``; return the secret's ARN."""
    client = session_client("secretsmanager", endpoint)
    return str(client.create_secret(Name=name, SecretString=value)["ARN"])
