"""The sweeper: no scan stays in a non-terminal state forever.

Scans not updated for longer than their state's deadline are checked against AWS Batch:

* the job finished (its SUCCEEDED/FAILED event was lost) -> handed to analysis as that event;
* the job is further along than the record -> the record is repaired forward;
* the job is still waiting or running within its deadline -> left alone (``updated_at`` is touched
  so the next sweep looks at other scans first);
* the job is still before RUNNING ``pending_deadline_minutes`` after the scan was created (no
  capacity, a misconfigured compute environment, a queue the job queues' own RUNNABLE time limit
  does not cover) -> the job is cancelled and the scan handed to analysis as FAILED with the reason;
* the job runs past its deadline -> terminated (Batch then reports FAILED, which analysis records);
* the job is unknown to Batch, or the scan was never submitted -> handed to analysis as a FAILED
  event with the reason, so it ends ``FAILED`` and visible;
* a fast-path scan (``fast_route``: routed to the scanner Lambda, no job) past the function's timeout
  -> re-routed to Batch (``reroute``: the fast scan DLQ, whose consumer submits its job).

A scan running several engines is checked engine by engine (each engine's job that is not yet
terminal, with that engine's deadline), and the scan's action is the first one that is not
``WAITING``. A scan whose engines are all terminal but which never concluded (its analysis
claimant died) is handed to analysis as an event of no engine job (a ``sweep-...`` job id, so the
idempotency layer does not answer it from an earlier event): analysis concludes it.

Work per run is bounded by ``sweep_max_items``. The sweeper writes no terminal state itself: scans
that ran end through analysis (the FAILED events above), the way every job-backed scan ends; enqueue
ends the ones that never need a job (skipped, content-cache hits).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from filescan_shared.engines.catalogue import FILESCAN_ENGINE
from filescan_shared.ids import batch_job_name, engine_job_name
from filescan_shared.pipeline.fast_route import RUNNER_DEADLINE, is_fast_path
from filescan_shared.pipeline.sizing import size_job
from filescan_shared.records import ScanRecord, iso, utc_now
from filescan_shared.repository import ScanStore
from filescan_shared.settings import SweeperSettings
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

    from filescan_shared.pipeline.engine_plan import EnginePlan

HandOver = Callable[[dict[str, Any]], None]
"""Deliver a synthetic "Batch Job State Change" event to the analysis function."""
Reroute = Callable[[ScanRecord], None]
"""Hand a fast-path scan to its Batch fallback."""

DESCRIBE_BATCH = 100
_PENDING_STATES = (
    ScanState.QUEUED,
    ScanState.SUBMITTED,
    ScanState.PENDING,
    ScanState.RUNNABLE,
    ScanState.STARTING,
    ScanState.ANALYZING,
)
_BATCH_PROGRESS = {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"}
_BATCH_BEFORE_RUNNING = _BATCH_PROGRESS - {"RUNNING"}


class SweepAction(enum.StrEnum):
    """What the sweeper did with one stuck scan."""

    HANDED_OVER = "handed_over"
    REPAIRED = "repaired"
    WAITING = "waiting"
    TERMINATED = "terminated"
    FAILED_PENDING = "failed_pending"
    FAILED_MISSING = "failed_missing"
    FAILED_UNSUBMITTED = "failed_unsubmitted"
    CONCLUDED = "concluded"
    REROUTED = "rerouted"
    """Every engine had finished but nobody concluded the scan: handed to analysis to conclude."""


@dataclasses.dataclass(frozen=True)
class SweepReport:
    """How many stuck scans were found and what was done with them."""

    examined: int
    actions: Counter[SweepAction]


def sweep(
    *,
    repository: ScanStore,
    batch: BatchClient,
    settings: SweeperSettings,
    hand_over: HandOver,
    now: dt.datetime | None = None,
    engines: EnginePlan | None = None,
    reroute: Reroute | None = None,
) -> SweepReport:
    """Find stuck scans (oldest first, at most ``sweep_max_items``) and resolve each one.

    ``engines`` (the enabled engines and their catalogue) defaults to the settings'.
    """
    plan = engines or settings.engine_plan()
    run = _Sweep(repository, batch, settings, hand_over, now or utc_now(), plan, reroute)
    stuck = run.stuck_scans()
    jobs = _describe(batch, [job_id for record in stuck for _, job_id in _live_jobs(record) if job_id])
    actions = Counter(run.resolve(record, jobs) for record in stuck)
    return SweepReport(examined=len(stuck), actions=actions)


def _live_jobs(record: ScanRecord) -> list[tuple[str, str | None]]:
    """(engine, job id) of each engine job the scan still waits for (filescan's of an older record)."""
    if record.engines is None:
        return [(FILESCAN_ENGINE, record.job_id)]
    return [(name, run.job_id) for name, run in record.engines.items() if not run.state.terminal]


def _describe(batch: BatchClient, job_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = sorted(set(job_ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), DESCRIBE_BATCH):
        for job in batch.describe_jobs(jobs=ids[start : start + DESCRIBE_BATCH])["jobs"]:
            found[job["jobId"]] = dict(job)
    return found


@dataclasses.dataclass(frozen=True)
class _Sweep:
    repository: ScanStore
    batch: BatchClient
    settings: SweeperSettings
    hand_over: HandOver
    moment: dt.datetime
    plan: EnginePlan
    reroute: Reroute | None = None

    def stuck_scans(self) -> list[ScanRecord]:
        budget = self.settings.sweep_max_items
        found: list[ScanRecord] = []
        cutoff = self.moment - dt.timedelta(minutes=self.settings.stuck_after_minutes)
        for state in (*_PENDING_STATES, ScanState.RUNNING):
            if len(found) >= budget:
                break
            candidates = self.repository.stuck(
                state, cutoff, days=self.settings.lookback_days, limit=budget - len(found)
            )
            found.extend(r for r in candidates if state is not ScanState.RUNNING or self.overdue(r))
        return found

    def overdue(self, record: ScanRecord) -> bool:
        """Whether a RUNNING scan outlived every attempt its slowest engine allows, plus the margin.

        filescan's attempts are sized by the object's size class; other engines' by their catalogue
        timeout and attempts.
        """
        if is_fast_path(record):
            return dt.datetime.fromisoformat(record.updated_at) < self.moment - RUNNER_DEADLINE
        live = _live_jobs(record)
        if not live:
            return True  # every engine finished: only the scan's conclusion is missing
        allowed = max(self.allowed_seconds(record, engine) for engine, _ in live)
        deadline = dt.timedelta(seconds=allowed, minutes=self.settings.running_margin_minutes)
        return dt.datetime.fromisoformat(record.updated_at) < self.moment - deadline

    def allowed_seconds(self, record: ScanRecord, engine: str) -> int:
        """How long every attempt of ``engine``'s job may take, in total."""
        spec = self.plan.spec(engine)
        if engine == FILESCAN_ENGINE or spec is None:
            return size_job(record.size or 0).timeout_seconds * self.settings.job_attempts
        return spec.timeout_seconds * spec.attempts

    def pending_too_long(self, record: ScanRecord) -> bool:
        """Whether a scan has waited longer than ``pending_deadline_minutes`` since its creation."""
        deadline = dt.timedelta(minutes=self.settings.pending_deadline_minutes)
        return dt.datetime.fromisoformat(record.created_at) < self.moment - deadline

    def stop_overdue(self, record: ScanRecord, engine: str, job: dict[str, Any]) -> SweepAction | None:
        """Stop a job past its deadline: RUNNING too long, or never started. ``None``: within it."""
        job_id = job["jobId"]
        status = job.get("status", "")
        if record.status is ScanState.RUNNING and status == "RUNNING":
            self.batch.terminate_job(jobId=job_id, reason="filescan sweeper: past the scan's deadline")
            return SweepAction.TERMINATED
        if status in _BATCH_BEFORE_RUNNING and self.pending_too_long(record):
            waited = f"still {status} {self.settings.pending_deadline_minutes} minutes after it was queued"
            why = job.get("statusReason") or "no reason given by AWS Batch"
            # TerminateJob cancels a job that has not reached STARTING (the sweeper's one Batch write).
            self.batch.terminate_job(jobId=job_id, reason=f"filescan sweeper: {waited}")
            self.fail(record, engine, job_id, f"{waited} ({why})")
            return SweepAction.FAILED_PENDING
        return None

    def resolve(self, record: ScanRecord, jobs: dict[str, dict[str, Any]]) -> SweepAction:
        """Resolve one stuck scan: each engine job it waits for, or its missing conclusion."""
        live = _live_jobs(record)
        if not live:
            self.hand_over(self.conclusion_event(record))
            return SweepAction.CONCLUDED
        actions = [
            self.resolve_job(record, engine, job_id, jobs.get(job_id or "")) for engine, job_id in live
        ]
        action = next((a for a in actions if a is not SweepAction.WAITING), SweepAction.WAITING)
        if action is SweepAction.WAITING:
            self.repository.touch(record.scan_id, self.moment)
        return action

    def unsubmitted(self, record: ScanRecord, engine: str) -> SweepAction:
        """An engine without a job: a fast-path scan goes to Batch, any other fails with the reason."""
        if self.reroute is not None and is_fast_path(record):
            self.reroute(record)
            return SweepAction.REROUTED
        self.fail(record, engine, None, "never submitted: enqueue kept failing (see the ingest DLQ)")
        return SweepAction.FAILED_UNSUBMITTED

    def resolve_job(
        self, record: ScanRecord, engine: str, job_id: str | None, job: dict[str, Any] | None
    ) -> SweepAction:
        """Resolve one engine's job of a stuck scan (the scan's only job before engines)."""
        if job_id is None:
            return self.unsubmitted(record, engine)
        if job is None:
            self.fail(record, engine, job_id, "job not found in AWS Batch (expired or deleted)")
            return SweepAction.FAILED_MISSING
        status = job.get("status", "")
        if status in {"SUCCEEDED", "FAILED"}:
            self.hand_over(_job_event(job))
            return SweepAction.HANDED_OVER
        stopped = self.stop_overdue(record, engine, job)
        if stopped is not None:
            return stopped
        if status in _BATCH_PROGRESS and self.repository.advance(
            record.scan_id, ScanState(status), now=self.moment
        ):
            return SweepAction.REPAIRED
        return SweepAction.WAITING

    def fail(self, record: ScanRecord, engine: str, job_id: str | None, reason: str) -> None:
        """Hand engine ``engine``'s job of the scan to analysis as FAILED with ``reason``."""
        queue = record.job_queue
        if record.engines is not None and engine in record.engines:
            queue = record.engines[engine].job_queue or queue
        self.hand_over(
            _job_event(
                {
                    "jobId": job_id or f"unsubmitted-{record.scan_id}",
                    "jobName": engine_job_name(record.scan_id, engine),
                    "jobQueue": queue or self.settings.job_queue_standard,
                    "status": "FAILED",
                    "statusReason": f"{reason} (swept)",
                    "attempts": [],
                    "parameters": {"scan_id": record.scan_id},
                }
            )
        )

    def conclusion_event(self, record: ScanRecord) -> dict[str, Any]:
        """An event that names the scan but none of its engine jobs: analysis only concludes it."""
        return _job_event(
            {
                "jobId": f"sweep-{record.scan_id}-{iso(self.moment)}",
                "jobName": batch_job_name(record.scan_id),
                "jobQueue": record.job_queue or self.settings.job_queue_standard,
                "status": "SUCCEEDED",
                "statusReason": "filescan sweeper: every engine finished, the scan was not concluded",
                "attempts": [],
                "parameters": {"scan_id": record.scan_id},
            }
        )


def _job_event(job: dict[str, Any]) -> dict[str, Any]:
    """A "Batch Job State Change" event carrying a DescribeJobs job (the detail has the same shape)."""
    return {
        "version": "0",
        "source": "aws.batch",
        "detail-type": "Batch Job State Change",
        "detail": job,
    }
