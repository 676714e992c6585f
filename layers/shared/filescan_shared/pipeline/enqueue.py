"""Enqueue: turn one "Object Created" notification into exactly one scan job (or a recorded skip).

Duplicates are expected (S3 and EventBridge deliver at least once, SQS redelivers), so every step is
idempotent: the scan id is derived from the object version, the record is created with a conditional
put, and only the holder of a short-lived *submit claim* may call SubmitJob. A claimant that crashed
between SubmitJob and recording the job id leaves a stale claim; the next delivery adopts the job it
finds under the scan's job name instead of submitting a second one.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import enum
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import is_missing_object
from filescan_shared.ids import derive_scan_id
from filescan_shared.pipeline.fast_route import route, takes_fast_path
from filescan_shared.pipeline.submit import Submission
from filescan_shared.records import ScanFields, ScanRecord, iso, utc_now
from filescan_shared.repository import ScanStore
from filescan_shared.settings import EnqueueSettings
from filescan_shared.severity import Verdict
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from filescan_shared.pipeline.engine_plan import EnginePlan

REUSABLE_VERDICTS = frozenset({Verdict.CLEAN, Verdict.SUSPICIOUS})
"""Content-cache hits reuse only these verdicts. ``malicious`` is scanned again so analysis applies the
quarantine action; ``error`` and ``unscannable`` describe a failed attempt, not the content."""


class EnqueueOutcome(enum.StrEnum):
    """What enqueue did with one notification."""

    IGNORED = "ignored"
    """Not our bucket or prefix (a mis-routed event): nothing recorded."""
    DUPLICATE = "duplicate"
    """The scan already exists and is handled: a no-op."""
    REPUBLISHED = "republished"
    """The scan ended here earlier but its publication failed: published now."""
    SKIPPED = "skipped"
    """Out of scope (too large, excluded type, gone): recorded as SKIPPED with the reason."""
    CACHED = "cached"
    """Identical content was already scanned by this scanner version: completed from that result."""
    SUBMITTED = "submitted"
    """A Batch job was submitted (or an orphaned one adopted)."""


@dataclasses.dataclass(frozen=True, slots=True)
class UploadedObject:
    """The object an "Object Created" notification names, as the notification states it."""

    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    sequencer: str | None
    size: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class EnqueueResult:
    """The outcome for one notification, with the scan it concerns (for logs and metrics)."""

    outcome: EnqueueOutcome
    scan_id: str | None = None
    detail: str = ""
    record: ScanRecord | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _ObjectFacts:
    key: str
    size: int
    sha256: str | None


def enqueue_upload(
    upload: UploadedObject,
    *,
    settings: EnqueueSettings,
    repository: ScanStore,
    s3: S3Client,
    batch: BatchClient,
    publish: Callable[[ScanRecord], None],
    now: dt.datetime | None = None,
    engines: EnginePlan | None = None,
    sqs: SQSClient | None = None,
) -> EnqueueResult:
    """Record the scan of ``upload`` and submit its job; safe to call any number of times per upload.

    Scans that end here (skipped, or completed from the content cache) are handed to ``publish``
    (verdict tag and outcome event). Raises on transient failures (throttling, network): the caller
    reports a batch item failure so SQS delivers the notification again. Never submits two jobs for
    one scan per engine. ``engines`` defaults to the settings' enabled engines. Small objects of a
    filescan-only deployment go to the Lambda fast path instead of Batch when it is configured
    (``fast_route``: ``fast_scan_queue_url``, ``fast_path_max_bytes``, an ``sqs`` client).
    """
    if upload.bucket != settings.uploads_bucket or not upload.key.startswith(settings.scan_prefix):
        return EnqueueResult(
            EnqueueOutcome.IGNORED, detail=f"not s3://{settings.uploads_bucket}/{settings.scan_prefix}"
        )
    moment = now or utc_now()
    version_id = None if upload.version_id in (None, "", "null") else upload.version_id
    scan_id = derive_scan_id(
        upload.bucket, upload.key, version_id=version_id, etag=upload.etag, sequencer=upload.sequencer
    )
    plan = engines or settings.engine_plan()
    submission = Submission(repository, batch, settings.job_targets, moment, engines=plan)
    existing = repository.get(scan_id)
    if existing is not None and not submission.take_over(existing):
        return _already_handled(existing, publish)

    facts = _head_object(s3, upload, version_id)
    record = existing or _new_record(
        scan_id, upload=upload, version_id=version_id, facts=facts, settings=settings, moment=moment
    )
    if existing is None and not submission.create(record):
        return EnqueueResult(EnqueueOutcome.DUPLICATE, scan_id, "created concurrently")

    skip_reason = _out_of_scope(facts, settings)
    if skip_reason is not None:
        repository.advance(scan_id, ScanState.SKIPPED, ScanFields(skip_reason=skip_reason), now=moment)
        return _finished(EnqueueOutcome.SKIPPED, scan_id, skip_reason, repository, publish)

    if record.content_key:
        cached = repository.find_by_content(record.content_key)
        if cached is not None and cached.scan_id != scan_id and cached.verdict in REUSABLE_VERDICTS:
            fields = ScanFields(
                verdict=cached.verdict,
                severity=cached.severity,
                report_key=cached.report_key,
                analysis=cached.analysis,
                cached_from=cached.scan_id,
            )
            repository.advance(scan_id, ScanState.COMPLETE, fields, now=moment)
            detail = f"same content as {cached.scan_id}"
            return _finished(EnqueueOutcome.CACHED, scan_id, detail, repository, publish)

    queue = settings.job_queue_priority if record.priority == "priority" else settings.job_queue_standard
    size = facts.size if facts else record.size or 0
    # The fast path runs filescan's own engine only: with other engines enabled every file goes to Batch.
    filescan_only = plan.names == ("filescan",)
    if sqs is not None and filescan_only and takes_fast_path(size, max_bytes=settings.fast_path_max_bytes):
        job_id = route(record, sqs=sqs, queue_url=settings.fast_scan_queue_url, submission=submission)
    else:
        job_id = submission.submit(record, queue=queue, object_size=size)
    return EnqueueResult(EnqueueOutcome.SUBMITTED, scan_id, job_id, record)


def _finished(
    outcome: EnqueueOutcome,
    scan_id: str,
    detail: str,
    repository: ScanStore,
    publish: Callable[[ScanRecord], None],
) -> EnqueueResult:
    """Publish a scan that ended at enqueue time (skipped or cached)."""
    done = repository.get(scan_id)
    assert done is not None  # just written; scan records are never deleted
    publish(done)
    return EnqueueResult(outcome, scan_id, detail, done)


def _already_handled(existing: ScanRecord, publish: Callable[[ScanRecord], None]) -> EnqueueResult:
    """A redelivery of a scan another delivery handled: a no-op, unless its publication is owed.

    The earlier delivery wrote the terminal record, then publishing failed and it raised: this
    redelivery (or a redrive from the ingest DLQ) publishes it. Publishing is idempotent.
    """
    if _ended_here_unpublished(existing):
        publish(existing)
        return EnqueueResult(
            EnqueueOutcome.REPUBLISHED, existing.scan_id, f"{existing.status} published", existing
        )
    return EnqueueResult(EnqueueOutcome.DUPLICATE, existing.scan_id, f"already {existing.status}", existing)


def _ended_here_unpublished(record: ScanRecord) -> bool:
    """Whether enqueue finished this scan (skipped, or a content-cache hit) and never published it."""
    ended_here = record.status is ScanState.SKIPPED or (
        record.status is ScanState.COMPLETE and record.cached_from is not None
    )
    return ended_here and record.published_at is None


def _head_object(s3: S3Client, upload: UploadedObject, version_id: str | None) -> _ObjectFacts | None:
    """Size, checksum and the exact key of the object, or ``None`` when it no longer exists.

    S3's classic notifications URL-encode keys (``a b`` -> ``a+b``); EventBridge's are documented as
    raw. To never corrupt a key holding ``+`` or ``%``, the key is tried as given first and only then
    in its form-decoded spelling.
    """
    candidates = [upload.key]
    decoded = urllib.parse.unquote_plus(upload.key)
    if decoded != upload.key:
        candidates.append(decoded)
    for key in candidates:
        kwargs: dict[str, Any] = {"Bucket": upload.bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version_id:
            kwargs["VersionId"] = version_id
        try:
            head = s3.head_object(**kwargs)
        except ClientError as error:
            if is_missing_object(error):
                continue
            raise
        return _ObjectFacts(key=key, size=int(head.get("ContentLength", 0)), sha256=_hex_sha256(head))
    return None


def _hex_sha256(head: Any) -> str | None:
    """The object's full-object SHA-256 in hex, when S3 stored one (``x-amz-checksum-sha256``)."""
    value = head.get("ChecksumSHA256")
    if not value or head.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def _new_record(
    scan_id: str,
    *,
    upload: UploadedObject,
    version_id: str | None,
    facts: _ObjectFacts | None,
    settings: EnqueueSettings,
    moment: dt.datetime,
) -> ScanRecord:
    key = facts.key if facts else upload.key
    sha256 = facts.sha256 if facts else None
    stamp = iso(moment)
    return ScanRecord(
        scan_id=scan_id,
        status=ScanState.QUEUED,
        bucket=upload.bucket,
        key=key,
        version_id=version_id,
        etag=(upload.etag or "").strip('"') or None,
        sequencer=upload.sequencer,
        size=facts.size if facts else upload.size,
        sha256=sha256,
        content_key=f"{sha256}#{settings.scanner_version}" if sha256 else None,
        created_at=stamp,
        updated_at=stamp,
        timestamps={ScanState.QUEUED.value: stamp},
        priority="priority" if key.startswith(settings.priority_prefixes or ("\x00",)) else "standard",
    )


def _out_of_scope(facts: _ObjectFacts | None, settings: EnqueueSettings) -> str | None:
    """Why the object is not scanned, or ``None`` when it is in scope."""
    if facts is None:
        return "object no longer exists (deleted or overwritten before the scan started)"
    if facts.size > settings.max_object_bytes:
        return f"object is {facts.size} bytes, over the {settings.max_object_bytes}-byte limit"
    lowered = facts.key.lower()
    for extension in settings.excluded_extensions:
        if lowered.endswith(extension.lower()):
            return f"extension {extension} is excluded from scanning"
    return None
