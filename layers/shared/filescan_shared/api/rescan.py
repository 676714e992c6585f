"""Rescans: a new scan of an object version already scanned, or of every object under a prefix.

Single: the new scan id is ``derive_scan_id(..., rescan_nonce=)`` with a fresh nonce (or one derived
from the caller's ``Idempotency-Key``, so a repeated request returns the same scan); the record is
created QUEUED with a submit claim and the job submitted exactly once, as enqueue does.

Bulk: the prefix's current object versions (at most ``MAX_BULK_OBJECTS``) go into a JSON-lines
manifest ``s3://<reports>/manifests/<bulk_id>.jsonl``; line ``i`` is scanned by array child ``i``,
whose scan id is ``bulk_child_scan_id(bulk_id, i)``, so the job events of a child map back to its
scan without a lookup. One object gets an ordinary job (Batch arrays need two children or more).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import secrets
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.api.errors import ApiError, BadRequest, NotFound
from filescan_shared.api.models import BulkRescanAccepted, BulkRescanRequest, RescanAccepted
from filescan_shared.aws_errors import is_missing_object
from filescan_shared.ids import bulk_child_scan_id, bulk_job_name, derive_scan_id
from filescan_shared.pipeline.enqueue import CLAIM_STALE_AFTER, find_job, submit_scan_job
from filescan_shared.pipeline.sizing import size_job
from filescan_shared.records import ScanRecord, iso
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import ApiSettings
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_s3 import S3Client

MAX_BULK_OBJECTS = 10_000
"""Objects one ``POST /rescans`` may cover; narrow the prefix (or call again per sub-prefix) beyond."""
MAX_LISTED_VERSIONS = 100_000
"""Object versions listed at most to find the current ones (noncurrent versions are skipped)."""
MANIFEST_PREFIX = "manifests/"
_WRITERS = 16


@dataclasses.dataclass(frozen=True, slots=True)
class RescanDeps:
    """What rescans use: settings, the scans table, S3 and Batch."""

    settings: ApiSettings
    repository: ScanRepository
    s3: S3Client
    batch: BatchClient


def nonce_for(idempotency_key: str | None) -> str:
    """A rescan nonce: from the caller's idempotency key (repeatable), else random."""
    if idempotency_key:
        return "idem:" + hashlib.sha256(idempotency_key.encode()).hexdigest()
    return uuid.uuid4().hex


def rescan_one(scan_id: str, nonce: str, deps: RescanDeps, now: dt.datetime) -> RescanAccepted:
    """Record and submit a new scan of the object version ``scan_id`` scanned."""
    original = deps.repository.get(scan_id, consistent=False)
    if original is None:
        raise NotFound(f"no scan {scan_id}")
    if not original.version_id:
        raise ApiError("conflict", "the scan names no object version to pin; upload the object again")
    new_id = derive_scan_id(original.bucket, original.key, version_id=original.version_id, rescan_nonce=nonce)
    stamp = iso(now)
    record = ScanRecord(
        scan_id=new_id,
        status=ScanState.QUEUED,
        bucket=original.bucket,
        key=original.key,
        version_id=original.version_id,
        etag=original.etag,
        size=original.size,
        sha256=original.sha256,
        created_at=stamp,
        updated_at=stamp,
        timestamps={ScanState.QUEUED.value: stamp},
        rescan_of=scan_id,
    )
    claim = secrets.token_hex(8)
    if not deps.repository.create(record, claim=claim):
        existing = deps.repository.get(new_id)
        assert existing is not None  # scan records are never deleted
        stale = now - CLAIM_STALE_AFTER
        if not deps.repository.claim_submit(new_id, claim, stale_before=stale, now=now):
            return RescanAccepted(
                scan_id=new_id, rescan_of=scan_id, status=existing.status, job_id=existing.job_id
            )
    job_id, queue = submit_scan_job(
        record,
        queue=deps.settings.job_queue_standard,
        targets=deps.settings.job_targets,
        object_size=record.size or 0,
        repository=deps.repository,
        batch=deps.batch,
        claim=claim,
    )
    deps.repository.advance(new_id, ScanState.SUBMITTED, {"job_id": job_id, "job_queue": queue}, now=now)
    return RescanAccepted(scan_id=new_id, rescan_of=scan_id, status=ScanState.SUBMITTED, job_id=job_id)


@dataclasses.dataclass(frozen=True, slots=True)
class _Entry:
    bucket: str
    key: str
    version_id: str | None
    scan_id: str
    size: int

    def line(self) -> str:
        doc = {"bucket": self.bucket, "key": self.key, "version_id": self.version_id, "scan_id": self.scan_id}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def bulk_id_for(idempotency_key: str | None) -> str:
    """A bulk id (32 hex): from the caller's idempotency key (repeatable), else random."""
    if idempotency_key:
        return hashlib.sha256(f"bulk\x00{idempotency_key}".encode()).hexdigest()[:32]
    return uuid.uuid4().hex


def bulk_rescan(
    request: BulkRescanRequest, bulk_id: str, deps: RescanDeps, now: dt.datetime
) -> BulkRescanAccepted:
    """Rescan every current object version under ``request.prefix`` with one array job."""
    settings = deps.settings
    bucket = request.bucket or settings.uploads_bucket
    if bucket != settings.uploads_bucket:
        raise BadRequest(f"only the uploads bucket {settings.uploads_bucket} is scanned")
    if not request.prefix.startswith(settings.scan_prefix):
        raise BadRequest(f"prefix must start with the scan prefix {settings.scan_prefix!r}")
    manifest_key = f"{MANIFEST_PREFIX}{bulk_id}.jsonl"
    manifest_uri = f"s3://{settings.reports_bucket}/{manifest_key}"
    entries = _read_manifest(deps.s3, settings.reports_bucket, manifest_key)
    if entries is None:
        objects = _current_versions(deps.s3, bucket, request.prefix)
        entries = [
            _Entry(bucket, key, version, bulk_child_scan_id(bulk_id, index), size)
            for index, (key, version, size) in enumerate(objects)
        ]
        if not entries:
            raise NotFound(f"no objects under s3://{bucket}/{request.prefix}")
        body = "".join(entry.line() + "\n" for entry in entries).encode()
        deps.s3.put_object(
            Bucket=settings.reports_bucket, Key=manifest_key, Body=body, ContentType="application/x-ndjson"
        )
    claim = secrets.token_hex(8)
    stamp = iso(now)
    _concurrently(lambda entry: _create(entry, bulk_id, stamp, claim, deps.repository), entries)
    job_id, job_ids, queue = _submit_bulk(entries, bulk_id, manifest_uri, claim, deps)
    _concurrently(
        lambda pair: deps.repository.advance(
            pair[0].scan_id, ScanState.SUBMITTED, {"job_id": pair[1], "job_queue": queue}, now=now
        ),
        list(zip(entries, job_ids, strict=True)),
    )
    name = bulk_job_name(bulk_id) if len(entries) > 1 else f"filescan-{entries[0].scan_id}"
    return BulkRescanAccepted(
        bulk_id=bulk_id,
        count=len(entries),
        manifest=manifest_uri,
        job_id=job_id,
        job_name=name,
        scan_ids=[entry.scan_id for entry in entries],
    )


def _current_versions(s3: S3Client, bucket: str, prefix: str) -> list[tuple[str, str | None, int]]:
    """(key, version id, size) of each current object under ``prefix``, in key order."""
    found: list[tuple[str, str | None, int]] = []
    listed = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            listed += 1
            key = version.get("Key", "")
            if not version.get("IsLatest") or key.endswith("/"):
                continue
            version_id = version.get("VersionId")
            found.append((key, None if version_id in (None, "null") else version_id, version.get("Size", 0)))
            if len(found) > MAX_BULK_OBJECTS:
                raise ApiError(
                    "too_many_objects", f"more than {MAX_BULK_OBJECTS} objects under the prefix: narrow it"
                )
        if listed > MAX_LISTED_VERSIONS:
            raise ApiError("too_many_objects", "too many object versions under the prefix: narrow it")
    return found


def _read_manifest(s3: S3Client, bucket: str, key: str) -> list[_Entry] | None:
    """The entries of an existing manifest (a repeated request with the same idempotency key)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except ClientError as error:
        if is_missing_object(error):
            return None
        raise
    entries = []
    for line in body.splitlines():
        if line.strip():
            doc = json.loads(line)
            entries.append(_Entry(doc["bucket"], doc["key"], doc.get("version_id"), doc["scan_id"], 0))
    return entries


def _create(entry: _Entry, bulk_id: str, stamp: str, claim: str, repository: ScanRepository) -> bool:
    record = ScanRecord(
        scan_id=entry.scan_id,
        status=ScanState.QUEUED,
        bucket=entry.bucket,
        key=entry.key,
        version_id=entry.version_id,
        size=entry.size or None,
        created_at=stamp,
        updated_at=stamp,
        timestamps={ScanState.QUEUED.value: stamp},
        bulk_id=bulk_id,
    )
    return repository.create(record, claim=claim)


def _submit_bulk(
    entries: list[_Entry], bulk_id: str, manifest_uri: str, claim: str, deps: RescanDeps
) -> tuple[str, list[str], str]:
    """Submit one array job for all entries (or one job for one); return its id, each child's, the queue.

    The largest entry's size class picks the job definition and queue for the whole array.
    """
    settings = deps.settings
    largest = max(entry.size for entry in entries)
    queue = settings.job_targets.queue(size_job(largest), settings.job_queue_standard)
    if len(entries) == 1:
        (entry,) = entries
        record = deps.repository.get(entry.scan_id)
        assert record is not None  # just created
        job_id, queue = submit_scan_job(
            record,
            queue=settings.job_queue_standard,
            targets=settings.job_targets,
            object_size=largest,
            repository=deps.repository,
            batch=deps.batch,
            claim=claim,
        )
        return job_id, [job_id], queue
    name = bulk_job_name(bulk_id)
    job_id = find_job(deps.batch, queue, name) or _submit_array(
        deps.batch,
        settings=settings,
        queue=queue,
        name=name,
        size=len(entries),
        manifest_uri=manifest_uri,
        largest=largest,
        bulk=bulk_id,
    )
    return job_id, [f"{job_id}:{index}" for index in range(len(entries))], queue


def _submit_array(
    batch: BatchClient,
    *,
    settings: ApiSettings,
    queue: str,
    name: str,
    size: int,
    manifest_uri: str,
    largest: int,
    bulk: str,
) -> str:
    sizing = size_job(largest)
    overrides: Any = {
        **sizing.container_overrides(),
        "command": ["filescan-scan", "--manifest", manifest_uri],
    }
    response = batch.submit_job(
        jobName=name,
        jobQueue=queue,
        jobDefinition=settings.job_targets.definition(sizing),
        arrayProperties={"size": size},
        containerOverrides=overrides,
        timeout={"attemptDurationSeconds": sizing.timeout_seconds},
        tags={"filescan:bulk-id": bulk, "filescan:size-class": sizing.name},
        propagateTags=True,
    )
    return response["jobId"]


def _concurrently[T](work: Callable[[T], object], items: Iterable[T]) -> None:
    """Run ``work`` over ``items`` on a few threads (boto3 clients are thread-safe); re-raise failures."""
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for _ in pool.map(work, items):
            pass
