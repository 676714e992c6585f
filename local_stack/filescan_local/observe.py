"""Uploading to the local stack and watching scans finish (used by the demo, the tests and the bench)."""

from __future__ import annotations

import dataclasses
import json
import time
import urllib.error
import urllib.request
from typing import Any

from filescan_shared.ids import derive_scan_id

TERMINAL = frozenset({"COMPLETE", "FAILED", "SKIPPED"})


@dataclasses.dataclass(frozen=True)
class Upload:
    """One uploaded object and the scan id the pipeline derives for it."""

    key: str
    version_id: str | None
    scan_id: str
    uploaded_at: float


def upload(s3: Any, bucket: str, key: str, body: bytes) -> Upload:
    """Put ``body`` at ``key`` and return the scan id the pipeline will use."""
    started = time.monotonic()
    response = s3.put_object(Bucket=bucket, Key=key, Body=body)
    version = response.get("VersionId")
    scan_id = derive_scan_id(bucket, key, version_id=version, etag=response.get("ETag"))
    return Upload(key=key, version_id=version, scan_id=scan_id, uploaded_at=started)


def scan_records(dynamodb: Any, table: str, scan_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The current records of ``scan_ids`` (missing ones are left out), as plain values."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    deserializer = TypeDeserializer()
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(scan_ids), 100):
        keys = [{"scan_id": {"S": scan_id}} for scan_id in scan_ids[start : start + 100]]
        request: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while request:
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                record = {name: deserializer.deserialize(value) for name, value in item.items()}
                found[str(record["scan_id"])] = record
            request = response.get("UnprocessedKeys") or {}
    return found


def wait_terminal(
    dynamodb: Any, table: str, scan_ids: list[str], *, timeout: float, poll: float = 0.05
) -> tuple[dict[str, dict[str, Any]], dict[str, float]]:
    """Wait until every scan is terminal (or ``timeout``); return the records and when each finished."""
    deadline = time.monotonic() + timeout
    finished: dict[str, float] = {}
    records: dict[str, dict[str, Any]] = {}
    while True:
        pending = [scan_id for scan_id in scan_ids if scan_id not in finished]
        for scan_id, record in scan_records(dynamodb, table, pending).items():
            records[scan_id] = record
            if record.get("status") in TERMINAL:
                finished[scan_id] = time.monotonic()
        if len(finished) == len(scan_ids) or time.monotonic() > deadline:
            return records, finished
        time.sleep(poll)


def api_get(base_url: str, path: str, token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    """GET ``path`` from the local HTTP API; returns (status, decoded JSON or text)."""
    return api_call(base_url, "GET", path, token=token, timeout=timeout)


def api_call(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    timeout: float = 10,
) -> tuple[int, Any]:
    """Call ``method path`` (``body`` sent as JSON) on the local HTTP API; returns (status, decoded body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base_url}{path}", data=data, method=method)  # noqa: S310 - loopback
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")
