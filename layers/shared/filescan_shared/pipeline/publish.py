"""Publishing a finished scan: the object's verdict tag, optional quarantine, and the outcome event.

The read gate in the uploads bucket policy releases an object only when its ``filescan-verdict`` tag
says ``clean``, so every finished scan tags its object (failed ones with ``error``), clean included.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import is_missing_object
from filescan_shared.records import ScanFields, ScanRecord, iso, utc_now
from filescan_shared.repository import ScanStore
from filescan_shared.severity import Verdict
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

_DETAIL_TYPES = {
    ScanState.COMPLETE: "Scan Completed",
    ScanState.FAILED: "Scan Failed",
    ScanState.SKIPPED: "Scan Skipped",
}
VERDICT_TAG = "filescan-verdict"
SCAN_ID_TAG = "filescan-scan-id"
EVENT_SOURCE = "filescan"
MAX_OBJECT_TAGS = 10


def verdict_tag_value(record: ScanRecord) -> str:
    """The tag value for a finished scan: its verdict, ``skipped``, or ``error`` when it has none."""
    if record.shown_verdict:
        return record.shown_verdict
    return "skipped" if record.status is ScanState.SKIPPED else "error"


def tag_object(s3: S3Client, record: ScanRecord) -> None:
    """Set the verdict and scan-id tags on the scanned object version, keeping the uploader's other tags.

    A missing object (deleted meanwhile) is not an error: there is nothing left to gate.
    A rescan that FAILED (no scan result: its record's verdict is only ``error``) leaves the
    version's tag alone: the version keeps the verdict of its earlier scan (a clean, readable file
    does not become unreadable because a rescan failed).
    """
    if record.rescan_of and record.status is ScanState.FAILED:
        return
    target: dict[str, Any] = {"Bucket": record.bucket, "Key": record.key}
    if record.version_id:
        target["VersionId"] = record.version_id
    try:
        existing = s3.get_object_tagging(**target)["TagSet"]
    except ClientError as error:
        if is_missing_object(error):
            return
        raise
    ours = {VERDICT_TAG: verdict_tag_value(record), SCAN_ID_TAG: record.scan_id}
    kept = [tag for tag in existing if tag["Key"] not in ours][: MAX_OBJECT_TAGS - len(ours)]
    tags = kept + [{"Key": key, "Value": value} for key, value in ours.items()]
    try:
        s3.put_object_tagging(**target, Tagging={"TagSet": tags})
    except ClientError as error:
        if not is_missing_object(error):
            raise


def quarantine(s3: S3Client, record: ScanRecord, *, mode: Literal["tag", "move"], prefix: str) -> str | None:
    """Move a malicious object under ``prefix`` when ``mode`` is ``move``; return its new key.

    ``tag`` (the default) leaves the object where it is: the verdict tag already denies reads.
    The copy keeps the object's tags; the original version is deleted only after the copy succeeded.
    Idempotent: the destination is named after the scan, so a retry that finds it skips the copy
    and only deletes the original (the quarantine prefix is unreadable whatever the copy's tags).
    """
    if mode != "move" or record.verdict is not Verdict.MALICIOUS:
        return None
    destination = f"{prefix}{record.scan_id}/{record.key}"
    source: dict[str, Any] = {"Bucket": record.bucket, "Key": record.key}
    if record.version_id:
        source["VersionId"] = record.version_id
    try:
        if not _exists(s3, record.bucket, destination):
            s3.copy(source, record.bucket, destination, ExtraArgs={"TaggingDirective": "COPY"})  # type: ignore[arg-type]
        s3.delete_object(**source)
    except ClientError as error:
        if is_missing_object(error):
            return None
        raise
    return destination


def _exists(s3: S3Client, bucket: str, key: str) -> bool:
    """Whether ``key`` exists (a 404 needs ``s3:ListBucket``: without it S3 answers 403)."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing_object(error):
            return False
        raise
    return True


def put_outcome_event(events: EventBridgeClient, bus_name: str, record: ScanRecord) -> None:
    """Announce the finished scan on the filescan bus ("Scan Completed" or "Scan Failed")."""
    detail_type = _DETAIL_TYPES[record.status]
    detail = {
        "scan_id": record.scan_id,
        "status": record.status.value,
        "bucket": record.bucket,
        "key": record.key,
        "version_id": record.version_id,
        "verdict": record.verdict,
        "severity": record.severity.label if record.severity is not None else None,
        "report_key": record.report_key,
        "reason": record.failure_reason or record.skip_reason,
        "cached_from": record.cached_from,
    }
    response = events.put_events(
        Entries=[
            {
                "EventBusName": bus_name,
                "Source": EVENT_SOURCE,
                "DetailType": detail_type,
                "Resources": [],
                "Detail": json.dumps({k: v for k, v in detail.items() if v is not None}),
            }
        ]
    )
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"EventBridge rejected the outcome event: {response.get('Entries')}")


def publish_outcome(
    record: ScanRecord,
    *,
    s3: S3Client,
    events: EventBridgeClient,
    repository: ScanStore,
    bus_name: str,
    quarantine_mode: Literal["tag", "move"] = "tag",
    quarantine_prefix: str = "",
) -> None:
    """Tag the object, quarantine it if configured, announce the outcome, and mark it published.

    Each step is idempotent, so a publication interrupted half-way is simply done again.
    """
    tag_object(s3, record)
    moved = quarantine(s3, record, mode=quarantine_mode, prefix=quarantine_prefix)
    put_outcome_event(events, bus_name, record)
    repository.set_fields(record.scan_id, ScanFields(published_at=iso(utc_now()), quarantine_key=moved))
