"""Submitting scan jobs exactly once: the one path enqueue, rescans and bulk rescans take.

A scan's jobs are submitted only by the holder of its *submit claim*: the caller that created the
record (``create``) or took over a QUEUED scan whose earlier claim went stale (``take_over``: its
claimant died). A scan runs one job per enabled engine (``pipeline/engine_plan.py``; fan-out).
Before submitting an engine's job, the holder looks for a job already named after the scan and the
engine (``ids.engine_job_name``): a claimant that crashed, or failed on a later engine, between
SubmitJob and recording the jobs left it, and it is adopted instead of a second being submitted.
The jobs are recorded per engine (``engines.<name>``, state ``submitted``), then the scan moves to
SUBMITTED with filescan's job id (``record_jobs``); a repeated move is a no-op.

Bulk rescans (one array job) run filescan's engine only; their records carry ``engines.filescan``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.engines.catalogue import FILESCAN_ENGINE
from filescan_shared.ids import batch_job_name, bulk_job_name, engine_job_name
from filescan_shared.pipeline.engine_plan import EnabledEngine, EnginePlan, filescan_only
from filescan_shared.pipeline.sizing import JobTargets, size_job
from filescan_shared.records import EngineJobState, EngineRun, ScanFields, ScanRecord
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

    from filescan_shared.repository import ScanStore

CLAIM_STALE_AFTER = dt.timedelta(minutes=5)
"""A submit claim older than this belongs to a claimant that died; the next delivery may take over."""


def new_claim() -> str:
    """A fresh claim token (unguessable, so two callers never hold the same claim)."""
    return secrets.token_hex(8)


@dataclasses.dataclass(frozen=True, slots=True)
class SubmittedJob:
    """One engine's Batch job: its id and the queue it was submitted to."""

    job_id: str
    queue: str


@dataclasses.dataclass(frozen=True, slots=True)
class Submission:
    """One caller's turn at submitting scan jobs, under its own submit claim."""

    repository: ScanStore
    batch: BatchClient
    targets: JobTargets
    """The deployment's job definitions per size class, and the EC2 class's queue."""
    now: dt.datetime
    claim: str = dataclasses.field(default_factory=new_claim)
    engines: EnginePlan | None = None
    """The engines each scan runs; ``None``: filescan's only (a single-engine deployment)."""

    @property
    def plan(self) -> EnginePlan:
        """The engines each scan runs."""
        return self.engines or filescan_only()

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
        """Submit (or adopt) one job per enabled engine and record them with the move to SUBMITTED.

        Returns filescan's job id (the first engine's when filescan is not enabled). A failure on
        one engine releases the claim and raises; the retry adopts the jobs already submitted.
        """
        jobs = {
            engine.name: self.submit_engine(record, engine, queue=queue, object_size=object_size)
            for engine in self.plan.engines
        }
        self.record_jobs(record.scan_id, jobs)
        return _primary(jobs).job_id

    def submitted(self, scan_id: str, job_id: str, queue: str) -> None:
        """Record filescan's job (the only engine of a bulk rescan) and move the scan to SUBMITTED."""
        self.record_jobs(scan_id, {FILESCAN_ENGINE: SubmittedJob(job_id, queue)})

    def record_jobs(self, scan_id: str, jobs: dict[str, SubmittedJob]) -> None:
        """Record each engine's job (``engines.<name>``), then move the scan to SUBMITTED.

        The engines are recorded first and on their own, so a job event that moved the scan on
        before this call cannot keep them off the record; the move is a no-op in that case.
        """
        runs = {name: self._run(name, job) for name, job in jobs.items()}
        self.repository.record_engines(scan_id, runs)
        primary = _primary(jobs)
        fields = ScanFields(job_id=primary.job_id, job_queue=primary.queue)
        self.repository.advance(scan_id, ScanState.SUBMITTED, fields, now=self.now)

    def _run(self, name: str, job: SubmittedJob) -> EngineRun:
        spec = self.plan.spec(name)
        required = spec.required if spec is not None else True
        return EngineRun(
            state=EngineJobState.SUBMITTED, required=required, job_id=job.job_id, job_queue=job.queue
        )

    def submit_engine(
        self, record: ScanRecord, engine: EnabledEngine, *, queue: str, object_size: int
    ) -> SubmittedJob:
        """Submit (or adopt) one engine's job for a recorded scan on ``queue``.

        filescan's engine is sized by the object (``submit_job``); any other engine runs its own
        job definition with the object's coordinates as parameters and its catalogue timeout. On a
        SubmitJob failure the claim is released and the error raised.
        """
        if engine.job_definition is None:
            job_id, queue = self.submit_job(record, queue=queue, object_size=object_size)
            return SubmittedJob(job_id, queue)
        name = engine_job_name(record.scan_id, engine.name)
        orphan = find_job(self.batch, queue, name)
        if orphan is not None:
            return SubmittedJob(orphan, queue)
        try:
            response = self.batch.submit_job(
                jobName=name,
                jobQueue=queue,
                jobDefinition=engine.job_definition,
                parameters=_parameters(record),
                timeout={"attemptDurationSeconds": engine.spec.timeout_seconds},
                tags={"filescan:scan-id": record.scan_id, "filescan:engine": engine.name},
                propagateTags=True,
            )
        except ClientError:
            self.repository.release_submit(record.scan_id, self.claim)
            raise
        return SubmittedJob(response["jobId"], queue)

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
                parameters=_parameters(record),
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


def _parameters(record: ScanRecord) -> dict[str, str]:
    """The job parameters every engine's job definition substitutes (``Ref::bucket`` ...)."""
    return {
        "bucket": record.bucket,
        "key": record.key,
        "version_id": record.version_id or "",
        "scan_id": record.scan_id,
    }


def _primary(jobs: dict[str, SubmittedJob]) -> SubmittedJob:
    """The job the scan's own ``job_id`` names: filescan's, else the first engine's."""
    return jobs.get(FILESCAN_ENGINE) or next(iter(jobs.values()))


def find_job(batch: BatchClient, queue: str, name: str) -> str | None:
    """The id of a live or finished job named ``name`` on ``queue``, if one exists."""
    response = batch.list_jobs(jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [name]}])
    for summary in response.get("jobSummaryList", []):
        # Array children ("<parent id>:<index>") share the parent's name; the parent is the job.
        if summary.get("jobName") == name and ":" not in summary["jobId"]:
            return summary["jobId"]
    return None
