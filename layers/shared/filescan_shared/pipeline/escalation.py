"""Spot -> on-demand escalation: a long engine job that Spot keeps interrupting moves to on-demand.

When an engine's job FAILED on the standard (Fargate Spot) queue and at least the engine's
``spot_interruptions_before_on_demand`` of its attempts ended in a Spot interruption, the job is
resubmitted once to the priority (on-demand) queue instead of the engine's run being recorded
terminal, so a two-hour vendor scan does not lose its day to interruptions. The record's run then
tracks the new job (``escalated_at``, new job id and queue, state back to ``submitted``: the one
allowed regression, guarded by the old job id, so a duplicate FAILED event changes nothing). The
new job has the same name and is adopted by name if a concurrent duplicate submitted it already.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from filescan_shared.exit_codes import ExitCode
from filescan_shared.observability import logger
from filescan_shared.pipeline.sizing import JobTargets
from filescan_shared.pipeline.submit import Submission
from filescan_shared.records import EngineJobState, ScanRecord, iso, utc_now

if TYPE_CHECKING:
    from filescan_shared.batch_events import JobStateDetail
    from filescan_shared.pipeline.analysis import AnalysisDeps
    from filescan_shared.pipeline.engine_plan import EnabledEngine


def escalate(detail: JobStateDetail, record: ScanRecord, engine: str, deps: AnalysisDeps) -> bool:
    """Resubmit ``engine``'s FAILED job on demand if Spot interrupted it too often; ``True`` if so.

    A duplicate of the event finds the run tracking the new job and is not escalated again.
    """
    enabled = _escalatable(detail, record, engine, deps)
    if enabled is None or deps.batch is None:
        return False
    now = utc_now()
    targets = deps.settings.job_targets or JobTargets("")
    submission = Submission(deps.repository, deps.batch, targets, now, engines=deps.engine_plan())
    try:
        job = submission.submit_engine(
            record, enabled, queue=deps.settings.job_queue_priority, object_size=record.size or 0
        )
    except ClientError as error:
        # Escalation is a second chance, not the job's only outcome: when it cannot be submitted
        # (no permission, a deleted definition), the job's real failure is recorded instead.
        logger.warning("escalation failed", scan_id=record.scan_id, engine=engine, error=str(error))
        return False
    run = (record.engines or {})[engine]
    escalated = run.model_copy(
        update={
            "state": EngineJobState.SUBMITTED,
            "job_id": job.job_id,
            "job_queue": job.queue,
            "escalated_at": iso(now),
            "attempts": 0,
            "interruptions": 0,
        }
    )
    deps.repository.replace_engine_run(record.scan_id, engine, escalated, job_id=detail.job_id)
    return True


def _escalatable(
    detail: JobStateDetail, record: ScanRecord, engine: str, deps: AnalysisDeps
) -> EnabledEngine | None:
    """The enabled engine whose run of this job is due for on-demand, or ``None``."""
    run = (record.engines or {}).get(engine)
    if run is None or run.job_id != detail.job_id or run.state.terminal:
        return None
    if detail.job_queue != deps.settings.job_queue_standard or detail.last_exit_code == ExitCode.UNSCANNABLE:
        return None
    enabled = next((e for e in deps.engine_plan().engines if e.name == engine), None)
    if enabled is None or (enabled.job_definition is None and deps.settings.job_targets is None):
        return None
    threshold = enabled.spec.spot_interruptions_before_on_demand
    return enabled if threshold > 0 and detail.interruptions >= threshold else None
