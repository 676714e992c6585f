"""Job-state tracking: Batch progress events move a scan forward, never back.

Batch retries make a job go RUNNING -> RUNNABLE again; that is recorded as a new attempt, not as a
regression of the scan's state. Events for other queues, other jobs, unknown scans, late duplicates
and malformed payloads are ignored with a reason (the handler logs and counts them).

A scan runs one job per engine: each event also moves its engine's run on the record
(``engines.<name>``: ``submitted`` -> ``running``, attempts and Spot interruptions counted), only
for the job the run tracks (an event of a job replaced by an escalation is ignored). The scan's
own state moves forward with any engine (RUNNING as soon as one runs); the scan's ``attempts`` list
and ``job_id`` stay filescan's job's.
"""

from __future__ import annotations

import enum

from filescan_shared.batch_events import JobStateDetail
from filescan_shared.engines.catalogue import FILESCAN_ENGINE
from filescan_shared.records import ScanFields, ScanRecord
from filescan_shared.repository import ScanStore
from filescan_shared.states import BATCH_PROGRESS_STATES, ScanState


class StatusOutcome(enum.StrEnum):
    """What a progress event did."""

    ADVANCED = "advanced"
    ATTEMPT_RECORDED = "attempt_recorded"
    STALE = "stale"
    FOREIGN = "foreign"
    UNKNOWN_SCAN = "unknown_scan"


def apply_job_progress(
    detail: JobStateDetail, *, repository: ScanStore, our_queues: frozenset[str]
) -> StatusOutcome:
    """Record attempts and advance the scan to the job's state if that is progress."""
    scan_id = detail.scan_id
    state = _progress_state(detail, our_queues)
    if state is None or scan_id is None:
        return StatusOutcome.FOREIGN
    record = repository.get(scan_id)
    if record is None:
        return StatusOutcome.UNKNOWN_SCAN
    engine = detail.engine or FILESCAN_ENGINE
    if not tracks_job(record, engine, detail.job_id):
        return StatusOutcome.STALE
    engine_moved = record.engines is not None and repository.progress_engine(
        scan_id,
        engine,
        job_id=detail.job_id,
        running=state is ScanState.RUNNING,
        attempts=len(detail.attempts),
        interruptions=detail.interruptions,
    )
    fields = None
    new_attempt = False
    if engine == FILESCAN_ENGINE:
        new_attempt = record_attempts(detail, repository=repository, scan_id=scan_id)
        fields = ScanFields(job_id=detail.job_id, job_queue=detail.job_queue)
    if repository.advance(scan_id, state, fields) or engine_moved:
        return StatusOutcome.ADVANCED
    return StatusOutcome.ATTEMPT_RECORDED if new_attempt else StatusOutcome.STALE


def _progress_state(detail: JobStateDetail, our_queues: frozenset[str]) -> ScanState | None:
    """The scan state a progress event of one of our jobs reports, or ``None`` for any other event."""
    if detail.job_queue not in our_queues or detail.scan_id is None:
        return None
    try:
        state = ScanState(detail.status)
    except ValueError:
        return None
    return state if state in BATCH_PROGRESS_STATES else None


def tracks_job(record: ScanRecord, engine: str, job_id: str) -> bool:
    """Whether ``job_id`` is the job the record follows for ``engine``.

    A record from before engines (no map) follows whatever filescan job it is told about, as it
    always did; an engine the map does not list, or a job replaced by an escalation, is not followed.
    """
    if record.engines is None:
        return engine == FILESCAN_ENGINE
    run = record.engines.get(engine)
    return run is not None and run.job_id == job_id


def record_attempts(detail: JobStateDetail, *, repository: ScanStore, scan_id: str) -> bool:
    """Append the event's attempts the record does not hold yet; ``True`` if any was new."""
    added = False
    for attempt in detail.recorded_attempts():
        added = repository.record_attempt(scan_id, attempt) or added
    return added
