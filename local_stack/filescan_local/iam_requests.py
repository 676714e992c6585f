"""What an HTTP request to an AWS API asks IAM for: the caller's key, the actions and resources.

Covers the APIs the pipeline calls: S3 (REST, path-style), and the JSON protocols of DynamoDB, SQS,
EventBridge and Secrets Manager (``X-Amz-Target``). S3's mapping of operations to actions follows
https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
(HeadObject is authorised as ``s3:GetObject``; the multipart operations as ``s3:PutObject`` except
``AbortMultipartUpload``; a copy needs ``s3:GetObject`` on the source; tags sent with an upload need
``s3:PutObjectTagging``).

Tags sent with CreateMultipartUpload (``x-amz-tagging``) are modelled as *invisible* to policies:
AWS documents ``s3:RequestObjectTagKeys`` for "PutObjectTagging and PutObject, and POST object
requests" (https://docs.aws.amazon.com/AmazonS3/latest/userguide/tagging-and-policies.html) and
does not say that CreateMultipartUpload's tags are checked, so the local stack assumes the worst
for the read gate: a multipart upload can arrive carrying any tag (docs/security.md).
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import Any

from filescan_local.template import ACCOUNT, REGION

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
VERDICT_REQUEST_TAG_KEYS = "s3:requestobjecttagkeys"


@dataclasses.dataclass(frozen=True)
class Check:
    """One action on one resource, with the request's condition keys for it."""

    action: str
    resource: str
    context: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    object_ref: tuple[str, str, str | None] | None = None
    """(bucket, key, version id) of an existing-object check: its tags and 403/404 depend on it."""


@dataclasses.dataclass(frozen=True)
class Caller:
    """The access key and signing scope of a request."""

    access_key: str
    service: str


def caller(headers: Mapping[str, str], query: Mapping[str, list[str]]) -> Caller | None:
    """The SigV4 signer of a request (header or presigned query); ``None`` when unsigned."""
    text = headers.get("authorization", "")
    if "X-Amz-Credential" in query:
        text = "Credential=" + query["X-Amz-Credential"][0]
    match = _CREDENTIAL.search(text)
    return Caller(match.group(1), match.group(3)) if match else None


def s3_checks(
    method: str,
    raw_path: str,
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: Callable[[], bytes],
) -> list[Check]:
    """The checks of an S3 REST request (path-style addressing, as boto3 uses for a loopback endpoint)."""
    path = raw_path.split("?", 1)[0].lstrip("/")
    bucket, _, encoded_key = path.partition("/")
    bucket = urllib.parse.unquote(bucket)
    key = urllib.parse.unquote(encoded_key)
    if not key:
        return [_bucket_check(method, bucket, query)]
    version = query.get("versionId", [None])[0]
    target = _Target(f"arn:aws:s3:::{bucket}/{key}", (bucket, key, version), "Version" if version else "")
    if method in {"GET", "HEAD"}:
        return [_read_check(target, query)]
    if method == "DELETE":
        return [_delete_check(target, query)]
    if method == "PUT" and "tagging" in query:
        keys = {VERDICT_REQUEST_TAG_KEYS: _tag_keys_from_xml(body())}
        return [Check(f"s3:PutObject{target.versioned}Tagging", target.arn, keys, target.existing)]
    if method == "PUT" or (method == "POST" and ("uploads" in query or "uploadId" in query)):
        # CreateMultipartUpload (POST ?uploads): its x-amz-tagging is not evaluated (module docstring).
        return _write_checks(target.arn, headers, tags_checked="uploads" not in query)
    return [Check(f"s3:Unmapped{method}", target.arn)]


@dataclasses.dataclass(frozen=True)
class _Target:
    arn: str
    existing: tuple[str, str, str | None]
    versioned: str
    """``Version`` when the request names a version (``s3:GetObjectVersion``...), else empty."""


def _read_check(target: _Target, query: Mapping[str, list[str]]) -> Check:
    if "tagging" in query:
        return Check(f"s3:GetObject{target.versioned}Tagging", target.arn, object_ref=target.existing)
    if "uploadId" in query:
        return Check("s3:ListMultipartUploadParts", target.arn)
    return Check(f"s3:GetObject{target.versioned}", target.arn, object_ref=target.existing)


def _delete_check(target: _Target, query: Mapping[str, list[str]]) -> Check:
    if "tagging" in query:
        return Check(f"s3:DeleteObject{target.versioned}Tagging", target.arn, object_ref=target.existing)
    if "uploadId" in query:
        return Check("s3:AbortMultipartUpload", target.arn)
    return Check(f"s3:DeleteObject{target.versioned}", target.arn)


def _write_checks(resource: str, headers: Mapping[str, str], *, tags_checked: bool) -> list[Check]:
    """PutObject, CopyObject, CreateMultipartUpload, UploadPart(Copy), CompleteMultipartUpload."""
    tag_keys = _tag_keys_from_header(headers.get("x-amz-tagging", "")) if tags_checked else []
    context: dict[str, list[str]] = {VERDICT_REQUEST_TAG_KEYS: tag_keys} if tag_keys else {}
    source = headers.get("x-amz-copy-source")
    if source:
        context["s3:x-amz-copy-source"] = [source]
    checks = [Check("s3:PutObject", resource, context)]
    if tag_keys:
        checks.append(Check("s3:PutObjectTagging", resource, context))
    if source:
        checks.append(_copy_source_check(source))
    return checks


def _bucket_check(method: str, bucket: str, query: Mapping[str, list[str]]) -> Check:
    resource = f"arn:aws:s3:::{bucket}"
    if method in {"GET", "HEAD"}:
        prefix = {"s3:prefix": [query["prefix"][0]]} if "prefix" in query else {}
        if "versions" in query:
            return Check("s3:ListBucketVersions", resource, prefix)
        if "uploads" in query:
            return Check("s3:ListBucketMultipartUploads", resource)
        if not set(query) - {"list-type", "prefix", "delimiter", "max-keys", "continuation-token",
                             "start-after", "encoding-type", "marker", "fetch-owner"}:  # fmt: skip
            return Check("s3:ListBucket", resource, prefix)
    # Bucket configuration and creation: only the operator (provisioning) does these locally.
    return Check(f"s3:Bucket{method}{'&'.join(sorted(query))}", resource)


def _copy_source_check(source: str) -> Check:
    path, _, query = urllib.parse.unquote(source).lstrip("/").partition("?versionId=")
    bucket, _, key = path.partition("/")
    action = "s3:GetObjectVersion" if query else "s3:GetObject"
    return Check(action, f"arn:aws:s3:::{bucket}/{key}", object_ref=(bucket, key, query or None))


def _tag_keys_from_header(value: str) -> list[str]:
    return [name for name, _ in urllib.parse.parse_qsl(value, keep_blank_values=True)]


def _tag_keys_from_xml(body: bytes) -> list[str]:
    if not body:
        return []
    root = ET.fromstring(body)  # noqa: S314 - local clients only
    return [element.text or "" for element in root.iter() if element.tag.endswith("Key")]


def json_checks(service: str, target: str, body: bytes) -> list[Check]:
    """The checks of a JSON-protocol request (``X-Amz-Target: <prefix>.<Operation>``)."""
    operation = target.rsplit(".", 1)[-1]
    payload: dict[str, Any] = json.loads(body or b"{}")
    if service == "dynamodb":
        return _dynamodb_checks(operation, payload)
    if service == "sqs":
        url = str(payload.get("QueueUrl", ""))
        name = url.rstrip("/").rsplit("/", 1)[-1] if url else str(payload.get("QueueName", ""))
        return [Check(f"sqs:{operation}", f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")]
    if service == "events" and operation == "PutEvents":
        buses = {str(entry.get("EventBusName") or "default") for entry in payload.get("Entries", [])}
        return [Check("events:PutEvents", _bus_arn(bus)) for bus in sorted(buses)]
    if service == "secretsmanager" and "SecretId" in payload:
        secret = str(payload["SecretId"])
        arn = (
            secret
            if secret.startswith("arn:")
            else f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}"
        )
        return [Check(f"secretsmanager:{operation}", arn)]
    return [Check(f"{service}:{operation}", "*")]


def _bus_arn(bus: str) -> str:
    return bus if bus.startswith("arn:") else f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}"


def _table_arn(table: str, index: str | None = None) -> str:
    arn = table if table.startswith("arn:") else f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _dynamodb_checks(operation: str, payload: dict[str, Any]) -> list[Check]:
    if operation in {"BatchGetItem", "BatchWriteItem"}:
        return [Check(f"dynamodb:{operation}", _table_arn(t)) for t in payload.get("RequestItems", {})]
    if operation in {"TransactWriteItems", "TransactGetItems"}:
        kinds = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                 "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}  # fmt: skip
        return [
            Check(f"dynamodb:{kinds[kind]}", _table_arn(str(spec["TableName"])))
            for item in payload.get("TransactItems", [])
            for kind, spec in item.items()
        ]
    table = str(payload.get("TableName", "*"))
    return [Check(f"dynamodb:{operation}", _table_arn(table, payload.get("IndexName")))]


def control_checks(path: str, body: bytes, function_arn: Callable[[str], str]) -> list[Check]:
    """The checks of a call to the local Batch API or Lambda Invoke (``control_api``).

    Batch: https://docs.aws.amazon.com/batch/latest/userguide/batch-supported-iam-actions-resources.html
    (SubmitJob on the queue and the job definition, plus TagResource when the job is tagged;
    TerminateJob/CancelJob on the job; DescribeJobs/ListJobs have no resource-level permissions).
    """
    if path.startswith("/2015-03-31/functions/"):
        name = urllib.parse.unquote(path.split("/")[3]).rsplit(":", 1)[-1]
        return [Check("lambda:InvokeFunction", function_arn(name))]
    operations = {"submitjob": "SubmitJob", "describejobs": "DescribeJobs", "listjobs": "ListJobs",
                  "canceljob": "CancelJob", "terminatejob": "TerminateJob"}  # fmt: skip
    operation = operations.get(path.rsplit("/", 1)[-1])
    if operation is None:
        return [Check(f"batch:Unmapped{path}", "*")]
    payload: dict[str, Any] = json.loads(body or b"{}")
    batch_arn = f"arn:aws:batch:{REGION}:{ACCOUNT}"
    if operation == "SubmitJob":
        queue = str(payload.get("jobQueue", ""))
        definition = str(payload.get("jobDefinition", ""))
        if not definition.startswith("arn:"):
            definition = f"{batch_arn}:job-definition/{definition}{'' if ':' in definition else ':1'}"
        checks = [
            Check("batch:SubmitJob", queue if queue.startswith("arn:") else f"{batch_arn}:job-queue/{queue}"),
            Check("batch:SubmitJob", definition),
        ]
        if payload.get("tags") or payload.get("propagateTags"):
            checks.append(Check("batch:TagResource", f"{batch_arn}:job/new"))
        return checks
    if operation in {"CancelJob", "TerminateJob"}:
        return [Check(f"batch:{operation}", f"{batch_arn}:job/{payload.get('jobId', '')}")]
    return [Check(f"batch:{operation}", "*")]
