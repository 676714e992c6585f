"""Submitting scan jobs exactly once: the one path enqueue, rescans and bulk rescans take.

A scan's job is submitted only by the holder of its *submit claim*: the caller that created the
record (``create``) or took over a QUEUED scan whose earlier claim went stale (``take_over``: its
claimant died). Before submitting, the holder looks for a job already named after the scan
(``ids.batch_job_name``): a claimant that crashed between SubmitJob and recording the job id left
one, and it is adopted instead of a second being submitted. The job id is recorded with the move to
SUBMITTED (``submitted``); a repeated move is a no-op.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.ids import batch_job_name, bulk_job_name
from filescan_shared.pipeline.sizing import JobTargets, size_job
from filescan_shared.records import ScanFields, ScanRecord
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

    from filescan_shared.repository import ScanStore

CLAIM_STALE_AFTER = dt.timedelta(minutes=5)
"""A submit claim older than this belongs to a claimant that died; the next delivery may take over."""


def new_claim() -> str:
    """A fresh submit-claim token (unguessable, so two callers never hold the same claim)."""
    return secrets.token_hex(8)


@dataclasses.dataclass(frozen=True, slots=True)
class Submission:
    """One caller's turn at submitting scan jobs, under its own submit claim."""

    repository: ScanStore
    batch: BatchClient
    targets: JobTargets
    """The deployment's job definitions per size class, and the EC2 class's queue."""
    now: dt.datetime
    claim: str = dataclasses.field(default_factory=new_claim)

    def create(self, record: ScanRecord) -> bool:
        """Record a new scan holding this claim; ``False`` when the scan exists already."""
        return self.repository.create(record, claim=self.claim)

    def take_over(self, existing: ScanRecord) -> bool:
        """Claim an existing scan that is still QUEUED and whose earlier claim is absent or stale."""
        if existing.status is not ScanState.QUEUED:
            return False
        stale_before = self.now - CLAIM_STALE_AFTER
        return self.repository.claim_submit(
            existing.scan_id, self.claim, stale_before=stale_before, now=self.now
        )

    def open(self, record: ScanRecord) -> ScanRecord | None:
        """Create ``record``, or take over the scan if it exists unsubmitted with a stale claim.

        ``None`` when this caller now holds the claim (and must submit); otherwise the existing
        record, which another caller handles or handled.
        """
        if self.create(record):
            return None
        existing = self.repository.get(record.scan_id)
        assert existing is not None  # scan records are never deleted
        return None if self.take_over(existing) else existing

    def submit(self, record: ScanRecord, *, queue: str, object_size: int) -> str:
        """Submit (or adopt) the scan's job and record it with the move to SUBMITTED; return its id."""
        job_id, queue = self.submit_job(record, queue=queue, object_size=object_size)
        self.submitted(record.scan_id, job_id, queue)
        return job_id

    def submitted(self, scan_id: str, job_id: str, queue: str) -> None:
        """Move the scan to SUBMITTED with its job (a no-op if a job event already moved it on)."""
        self.repository.advance(
            scan_id, ScanState.SUBMITTED, ScanFields(job_id=job_id, job_queue=queue), now=self.now
        )

    def submit_job(self, record: ScanRecord, *, queue: str, object_size: int) -> tuple[str, str]:
        """Submit the Batch job of one recorded scan at most once; return its job id and queue.

        The object's size class (``sizing.size_job``) picks the job definition, and the EC2 class its
        own queue instead of ``queue``. The caller must hold the scan's submit claim. A job already
        named after the scan on that queue is adopted. On a SubmitJob failure the claim is released,
        so a retry may submit at once, and the error is raised.
        """
        size = size_job(object_size)
        queue = self.targets.queue(size, queue)
        name = batch_job_name(record.scan_id)
        orphan = find_job(self.batch, queue, name)
        if orphan is not None:
            return orphan, queue
        try:
            response = self.batch.submit_job(
                jobName=name,
                jobQueue=queue,
                jobDefinition=self.targets.definition(size),
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
            self.repository.release_submit(record.scan_id, self.claim)
            raise
        return response["jobId"], queue

    def submit_array(
        self, bulk_id: str, *, queue: str, size: int, manifest_uri: str, largest: int, claimed: str
    ) -> tuple[str, str]:
        """Submit (or adopt) bulk rescan ``bulk_id``'s array job over a manifest of ``size`` objects.

        Every child is sized like the ``largest`` object (bytes), whose class also picks the job
        definition and queue. Returns the array job's id and queue. The caller holds the submit
        claim of scan ``claimed`` (the bulk's first child); on a SubmitJob failure it is released,
        so a retry may submit at once, and the error is raised.
        """
        sizing = size_job(largest)
        queue = self.targets.queue(sizing, queue)
        name = bulk_job_name(bulk_id)
        found = find_job(self.batch, queue, name)
        if found is not None:
            return found, queue
        overrides: Any = {
            **sizing.container_overrides(),
            "command": ["filescan-scan", "--manifest", manifest_uri],
        }
        try:
            response = self.batch.submit_job(
                jobName=name,
                jobQueue=queue,
                jobDefinition=self.targets.definition(sizing),
                arrayProperties={"size": size},
                containerOverrides=overrides,
                timeout={"attemptDurationSeconds": sizing.timeout_seconds},
                tags={"filescan:bulk-id": bulk_id, "filescan:size-class": sizing.name},
                propagateTags=True,
            )
        except ClientError:
            self.repository.release_submit(claimed, self.claim)
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
