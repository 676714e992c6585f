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
import secrets
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import is_missing_object
from filescan_shared.ids import batch_job_name, derive_scan_id
from filescan_shared.pipeline.sizing import JobTargets, size_job
from filescan_shared.records import ScanRecord, iso, utc_now
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import EnqueueSettings
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_s3 import S3Client

REUSABLE_VERDICTS = frozenset({"clean", "suspicious"})
"""Content-cache hits reuse only these verdicts. ``malicious`` is scanned again so analysis applies the
quarantine action; ``error`` and ``unscannable`` describe a failed attempt, not the content."""

CLAIM_STALE_AFTER = dt.timedelta(minutes=5)
"""A submit claim older than this belongs to a claimant that died; the next delivery may take over."""


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
    repository: ScanRepository,
    s3: S3Client,
    batch: BatchClient,
    publish: Callable[[ScanRecord], None],
    now: dt.datetime | None = None,
) -> EnqueueResult:
    """Record the scan of ``upload`` and submit its job; safe to call any number of times per upload.

    Scans that end here (skipped, or completed from the content cache) are handed to ``publish``
    (verdict tag and outcome event). Raises on transient failures (throttling, network): the caller
    reports a batch item failure so SQS delivers the notification again. Never submits two jobs for
    one scan.
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
    claim = secrets.token_hex(8)
    existing = repository.get(scan_id)
    if existing is not None and not _take_over(existing, repository, claim, moment):
        return _already_handled(existing, publish)

    facts = _head_object(s3, upload, version_id)
    record = existing or _new_record(
        scan_id, upload=upload, version_id=version_id, facts=facts, settings=settings, moment=moment
    )
    if existing is None and not repository.create(record, claim=claim):
        return EnqueueResult(EnqueueOutcome.DUPLICATE, scan_id, "created concurrently")

    skip_reason = _out_of_scope(facts, settings)
    if skip_reason is not None:
        repository.advance(scan_id, ScanState.SKIPPED, {"skip_reason": skip_reason}, now=moment)
        return _finished(EnqueueOutcome.SKIPPED, scan_id, skip_reason, repository, publish)

    if record.content_key:
        cached = repository.find_by_content(record.content_key)
        if cached is not None and cached.scan_id != scan_id and cached.verdict in REUSABLE_VERDICTS:
            fields = {
                "verdict": cached.verdict,
                "severity": cached.severity,
                "report_key": cached.report_key,
                "analysis": cached.analysis,
                "cached_from": cached.scan_id,
            }
            repository.advance(scan_id, ScanState.COMPLETE, fields, now=moment)
            detail = f"same content as {cached.scan_id}"
            return _finished(EnqueueOutcome.CACHED, scan_id, detail, repository, publish)

    job_id, queue = _submit_once(
        record, facts=facts, settings=settings, repository=repository, batch=batch, claim=claim
    )
    repository.advance(scan_id, ScanState.SUBMITTED, {"job_id": job_id, "job_queue": queue}, now=moment)
    return EnqueueResult(EnqueueOutcome.SUBMITTED, scan_id, job_id, record)


def _finished(
    outcome: EnqueueOutcome,
    scan_id: str,
    detail: str,
    repository: ScanRepository,
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


def _take_over(existing: ScanRecord, repository: ScanRepository, claim: str, moment: dt.datetime) -> bool:
    """Whether this delivery should finish an existing scan that never got past QUEUED."""
    if existing.status is not ScanState.QUEUED:
        return False
    stale_before = moment - CLAIM_STALE_AFTER
    return repository.claim_submit(existing.scan_id, claim, stale_before=stale_before, now=moment)


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


def _submit_once(
    record: ScanRecord,
    *,
    facts: _ObjectFacts | None,
    settings: EnqueueSettings,
    repository: ScanRepository,
    batch: BatchClient,
    claim: str,
) -> tuple[str, str]:
    """Submit the scan's job, or adopt the one an earlier, crashed delivery submitted."""
    queue = settings.job_queue_priority if record.priority == "priority" else settings.job_queue_standard
    return submit_scan_job(
        record,
        queue=queue,
        targets=settings.job_targets,
        object_size=facts.size if facts else record.size or 0,
        repository=repository,
        batch=batch,
        claim=claim,
    )


def submit_scan_job(
    record: ScanRecord,
    *,
    queue: str,
    targets: JobTargets,
    object_size: int,
    repository: ScanRepository,
    batch: BatchClient,
    claim: str,
) -> tuple[str, str]:
    """Submit the Batch job of one recorded scan at most once; return its job id and queue.

    The object's size class (``sizing.size_job``) picks the job definition, and the EC2 class its own
    queue instead of ``queue``.

    The caller must hold the scan's submit ``claim`` (``ScanRepository.create(..., claim=)`` or
    ``claim_submit``). A job already named after the scan on ``queue`` (submitted by a claimant that
    crashed before recording it) is adopted instead of submitting a second one. On a SubmitJob
    failure the claim is released, so a retry may submit at once, and the error is raised.
    """
    size = size_job(object_size)
    queue = targets.queue(size, queue)
    name = batch_job_name(record.scan_id)
    orphan = find_job(batch, queue, name)
    if orphan is not None:
        return orphan, queue
    try:
        response = batch.submit_job(
            jobName=name,
            jobQueue=queue,
            jobDefinition=targets.definition(size),
            parameters={
                "bucket": record.bucket,
                "key": record.key,
                "version_id": record.version_id or "",
                "scan_id": record.scan_id,
            },
            containerOverrides=size.container_overrides(),
            timeout={"attemptDurationSeconds": size.timeout_seconds},
            tags={"filescan:scan-id": record.scan_id, "filescan:size-class": size.name},
            propagateTags=True,
        )
    except ClientError:
        repository.release_submit(record.scan_id, claim)
        raise
    return response["jobId"], queue


def find_job(batch: BatchClient, queue: str, name: str) -> str | None:
    """The id of a live or finished job named ``name`` on ``queue``, if one exists."""
    response = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])
    for summary in response.get("jobSummaryList", []):
        # Array children ("<parent id>:<index>") share the parent's name; the parent is the job.
        if summary.get("jobName") == name and ":" not in summary["jobId"]:
            return summary["jobId"]
    return None
