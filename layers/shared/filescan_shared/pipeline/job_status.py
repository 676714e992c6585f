"""Job-state tracking: Batch progress events move a scan forward, never back.

Batch retries make a job go RUNNING -> RUNNABLE again; that is recorded as a new attempt, not as a
regression of the scan's state. Events for other queues, other jobs, unknown scans, late duplicates
and malformed payloads are ignored with a reason (the handler logs and counts them).
"""

from __future__ import annotations

import enum

from filescan_shared.batch_events import JobStateDetail
from filescan_shared.records import ScanFields
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
    if detail.job_queue not in our_queues or scan_id is None:
        return StatusOutcome.FOREIGN
    try:
        state = ScanState(detail.status)
    except ValueError:
        return StatusOutcome.FOREIGN
    if state not in BATCH_PROGRESS_STATES:
        return StatusOutcome.FOREIGN
    record = repository.get(scan_id)
    if record is None:
        return StatusOutcome.UNKNOWN_SCAN
    new_attempt = record_attempts(detail, repository=repository, scan_id=scan_id)
    if repository.advance(scan_id, state, ScanFields(job_id=detail.job_id, job_queue=detail.job_queue)):
        return StatusOutcome.ADVANCED
    return StatusOutcome.ATTEMPT_RECORDED if new_attempt else StatusOutcome.STALE


def record_attempts(detail: JobStateDetail, *, repository: ScanStore, scan_id: str) -> bool:
    """Append the event's attempts the record does not hold yet; ``True`` if any was new."""
    added = False
    for attempt in detail.recorded_attempts():
        added = repository.record_attempt(scan_id, attempt) or added
    return added
