"""Rescans: a new scan of an object version already scanned, or of every object under a prefix.

Single: the new scan id is ``derive_scan_id(..., rescan_nonce=)``, so a repeated request with the
same nonce finds the same scan; the record and its job go through ``submit.Submission`` like an
upload's.

Bulk: the prefix's current object versions (at most ``MAX_BULK_OBJECTS``) go into a JSON-lines
manifest ``s3://<reports>/manifests/<bulk_id>.jsonl``; line ``i`` is scanned by array child ``i``,
whose scan id is ``bulk_child_scan_id(bulk_id, i)``, so the job events of a child map back to its
scan without a lookup. One object gets an ordinary job (Batch arrays need two children or more).

Nothing here speaks HTTP: a request that cannot be served raises ``RescanRefused`` with a
``Refusal``, which the API maps to its error responses.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import is_missing_object
from filescan_shared.ids import batch_job_name, bulk_child_scan_id, bulk_job_name, derive_scan_id
from filescan_shared.pipeline.rescan_results import BulkRescan, Rescan
from filescan_shared.pipeline.submit import Submission
from filescan_shared.records import ScanRecord, iso
from filescan_shared.settings import ApiSettings
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_s3 import S3Client

    from filescan_shared.pipeline.engine_plan import EnginePlan
    from filescan_shared.repository import ScanStore

MAX_BULK_OBJECTS = 10_000
"""Objects one bulk rescan may cover; narrow the prefix (or call again per sub-prefix) beyond."""
MAX_LISTED_VERSIONS = 100_000
"""Object versions listed at most to find the current ones (noncurrent versions are skipped)."""
MANIFEST_PREFIX = "manifests/"
_WRITERS = 16


class Refusal(enum.StrEnum):
    """Why a rescan is not done."""

    NO_SUCH_SCAN = "no_such_scan"
    NO_VERSION = "no_version"
    """The scan names no object version to pin (an unversioned bucket)."""
    OUT_OF_SCOPE = "out_of_scope"
    """Not the uploads bucket, or a prefix outside the scan prefix."""
    NOTHING_TO_RESCAN = "nothing_to_rescan"
    TOO_MANY_OBJECTS = "too_many_objects"
    IN_PROGRESS = "in_progress"
    """Another request with the same Idempotency-Key holds the bulk's submit claim right now."""


class RescanRefused(Exception):
    """A rescan that cannot be done; ``message`` is safe to show to the caller."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        """Refused for ``refusal``, explained by ``message``."""
        super().__init__(message)
        self.refusal = refusal
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class RescanDeps:
    """What rescans use: settings, the scans table, S3 and Batch."""

    settings: ApiSettings
    repository: ScanStore
    s3: S3Client
    batch: BatchClient
    engines: EnginePlan | None = None
    """The engines a rescan runs; ``None``: the settings' (every enabled engine)."""


def rescan_one(scan_id: str, nonce: str, deps: RescanDeps, now: dt.datetime) -> Rescan:
    """Record and submit a new scan of the object version ``scan_id`` scanned."""
    original = deps.repository.get(scan_id, consistent=False)
    if original is None:
        raise RescanRefused(Refusal.NO_SUCH_SCAN, f"no scan {scan_id}")
    if not original.version_id:
        raise RescanRefused(
            Refusal.NO_VERSION, "the scan names no object version to pin; upload the object again"
        )
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
    submission = Submission(
        deps.repository,
        deps.batch,
        deps.settings.job_targets,
        now,
        engines=deps.engines or deps.settings.engine_plan(),
    )
    existing = submission.open(record)
    if existing is not None:
        return Rescan(scan_id=new_id, rescan_of=scan_id, status=existing.status, job_id=existing.job_id)
    queue = deps.settings.job_queue_standard
    job_id = submission.submit(record, queue=queue, object_size=record.size or 0)
    return Rescan(scan_id=new_id, rescan_of=scan_id, status=ScanState.SUBMITTED, job_id=job_id)


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


def bulk_rescan(
    prefix: str, bucket: str | None, bulk_id: str, deps: RescanDeps, now: dt.datetime
) -> BulkRescan:
    """Rescan every current object version under ``prefix`` (in the uploads bucket) with one array job."""
    settings = deps.settings
    bucket = bucket or settings.uploads_bucket
    if bucket != settings.uploads_bucket:
        raise RescanRefused(
            Refusal.OUT_OF_SCOPE, f"only the uploads bucket {settings.uploads_bucket} is scanned"
        )
    if not prefix.startswith(settings.scan_prefix):
        raise RescanRefused(
            Refusal.OUT_OF_SCOPE, f"prefix must start with the scan prefix {settings.scan_prefix!r}"
        )
    manifest_key = f"{MANIFEST_PREFIX}{bulk_id}.jsonl"
    manifest_uri = f"s3://{settings.reports_bucket}/{manifest_key}"
    entries = _read_manifest(deps.s3, settings.reports_bucket, manifest_key)
    if entries is None:
        objects = _current_versions(deps.s3, bucket, prefix)
        entries = [
            _Entry(bucket, key, version, bulk_child_scan_id(bulk_id, index), size)
            for index, (key, version, size) in enumerate(objects)
        ]
        if not entries:
            raise RescanRefused(Refusal.NOTHING_TO_RESCAN, f"no objects under s3://{bucket}/{prefix}")
        body = "".join(entry.line() + "\n" for entry in entries).encode()
        deps.s3.put_object(
            Bucket=settings.reports_bucket, Key=manifest_key, Body=body, ContentType="application/x-ndjson"
        )
    submission = Submission(deps.repository, deps.batch, settings.job_targets, now)
    stamp = iso(now)
    # The first child's submit claim is the bulk's: only its holder submits, so two concurrent
    # requests with the same Idempotency-Key cannot both find no job and submit two.
    first = submission.open(_record(entries[0], bulk_id, stamp))
    if first is not None and first.status is ScanState.QUEUED:
        raise RescanRefused(
            Refusal.IN_PROGRESS, "a bulk rescan with this Idempotency-Key is being submitted: retry shortly"
        )
    _concurrently(lambda entry: submission.create(_record(entry, bulk_id, stamp)), entries[1:])
    queue = settings.job_queue_standard
    largest = max(entry.size for entry in entries)
    if len(entries) == 1:
        record = deps.repository.get(entries[0].scan_id)
        assert record is not None  # just created
        job_id, queue = submission.submit_job(record, queue=queue, object_size=largest)
        job_ids, name = [job_id], batch_job_name(record.scan_id)
    else:
        job_id, queue = submission.submit_array(
            bulk_id,
            queue=queue,
            size=len(entries),
            manifest_uri=manifest_uri,
            largest=largest,
            claimed=entries[0].scan_id,
        )
        job_ids, name = [f"{job_id}:{index}" for index in range(len(entries))], bulk_job_name(bulk_id)
    _concurrently(
        lambda pair: submission.submitted(pair[0].scan_id, pair[1], queue),
        list(zip(entries, job_ids, strict=True)),
    )
    return BulkRescan(
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
                raise RescanRefused(
                    Refusal.TOO_MANY_OBJECTS,
                    f"more than {MAX_BULK_OBJECTS} objects under the prefix: narrow it",
                )
        if listed > MAX_LISTED_VERSIONS:
            raise RescanRefused(
                Refusal.TOO_MANY_OBJECTS, "too many object versions under the prefix: narrow it"
            )
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


def _record(entry: _Entry, bulk_id: str, stamp: str) -> ScanRecord:
    return ScanRecord(
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


def _concurrently[T](work: Callable[[T], object], items: Iterable[T]) -> None:
    """Run ``work`` over ``items`` on a few threads (boto3 clients are thread-safe); re-raise failures."""
    with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
        for _ in pool.map(work, items):
            pass
