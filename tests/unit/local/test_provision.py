"""Provisioning reads template.yaml: editing a rule's pattern in a copy changes what is enqueued."""

from __future__ import annotations

import json
import time

import pytest

from filescan_local.provision import provision, session_client
from filescan_local.template import TEMPLATE_PATH, Template
from filescan_local.topology import build
from tests.support.moto_server import reset_moto


def _ingest_messages(moto_url: str, queue_name: str) -> list[dict[str, object]]:
    sqs = session_client("sqs", moto_url)
    url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    deadline = time.monotonic() + 2
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        found += [
            json.loads(m["Body"])
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        ]
    return found


@pytest.mark.parametrize("prefix", ["uploads/", "incoming/"])
def test_given_an_edited_scan_prefix_when_provisioned_then_the_ingest_rule_follows_it(
    moto_url: str, prefix: str
) -> None:
    reset_moto(moto_url)
    text = TEMPLATE_PATH.read_text()
    edited = text.replace("    Default: uploads/\n", f"    Default: {prefix}\n", 1)
    assert (edited != text) == (prefix != "uploads/")
    topology = build(Template.from_text(edited))
    provision(topology, moto_url)
    s3 = session_client("s3", moto_url)
    bucket = topology.bucket("UploadsBucket")
    s3.put_object(Bucket=bucket, Key="uploads/a.txt", Body=b"a")
    s3.put_object(Bucket=bucket, Key="incoming/b.txt", Body=b"b")
    keys = [
        m["detail"]["object"]["key"] for m in _ingest_messages(moto_url, topology.queue("IngestQueue").name)
    ]  # type: ignore[index]
    assert keys == [f"{prefix}{'a' if prefix == 'uploads/' else 'b'}.txt"]


def test_given_the_template_when_provisioned_then_queues_table_and_rules_come_from_it(moto_url: str) -> None:
    reset_moto(moto_url)
    template = Template.load()
    topology = build(template)
    provision(topology, moto_url)
    sqs = session_client("sqs", moto_url)
    url = sqs.get_queue_url(QueueName=topology.queue("IngestQueue").name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    assert redrive["deadLetterTargetArn"].endswith(topology.queue("IngestDLQ").name)
    table = session_client("dynamodb", moto_url).describe_table(
        TableName=template.physical_name("ScansTable")
    )
    assert {i["IndexName"] for i in table["Table"]["GlobalSecondaryIndexes"]} == {
        "ByObject",
        "ByStatus",
        "ByContent",
    }
    rules = session_client("events", moto_url).list_rules()["Rules"]
    patterns = {r["Name"]: json.loads(r["EventPattern"]) for r in rules}
    status = patterns[template.physical_name("StatusFunctionJobProgress")]
    assert status["detail"]["status"] == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"]
    assert all(q.startswith("arn:aws:batch:") for q in status["detail"]["jobQueue"])
