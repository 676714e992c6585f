"""The submit claim on the in-memory table: one holder at a time, a dead holder's claim taken over.

Submitting and adopting the Batch job itself is covered against moto by the enqueue and rescan
tests; these cases check who may submit, fast.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from filescan_shared.pipeline.sizing import JobTargets
from filescan_shared.pipeline.submit import CLAIM_STALE_AFTER, Submission
from filescan_shared.records import ScanRecord, iso
from filescan_shared.states import ScanState
from tests.support.memory_store import MemoryScanStore

SCAN = "0123456789abcdef0123456789abcdef"
T0 = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
NO_BATCH: Any = None
"""Claims never call Batch."""


def _record() -> ScanRecord:
    stamp = iso(T0)
    return ScanRecord(
        scan_id=SCAN, status=ScanState.QUEUED, bucket="b", key="uploads/a", created_at=stamp, updated_at=stamp
    )


def _submission(store: MemoryScanStore, now: dt.datetime) -> Submission:
    return Submission(store, NO_BATCH, JobTargets("filescan-scan"), now)


def test_given_a_new_scan_when_opened_then_this_caller_holds_the_claim() -> None:
    store = MemoryScanStore()
    first = _submission(store, T0)

    assert first.open(_record()) is None
    assert store.items[SCAN]["submit_claim"] == first.claim


def test_given_a_live_claim_when_another_caller_opens_the_scan_then_it_gets_the_existing_record() -> None:
    store = MemoryScanStore()
    _submission(store, T0).open(_record())

    existing = _submission(store, T0 + CLAIM_STALE_AFTER / 2).open(_record())

    assert existing is not None
    assert existing.status is ScanState.QUEUED


def test_given_a_stale_claim_when_another_caller_opens_the_scan_then_it_takes_over() -> None:
    store = MemoryScanStore()
    _submission(store, T0).open(_record())
    later = _submission(store, T0 + CLAIM_STALE_AFTER + dt.timedelta(seconds=1))

    assert later.open(_record()) is None
    assert store.items[SCAN]["submit_claim"] == later.claim


def test_given_a_submitted_scan_when_opened_again_then_nobody_takes_it_over() -> None:
    store = MemoryScanStore()
    first = _submission(store, T0)
    first.open(_record())
    first.submitted(SCAN, "job-1", "queue")

    existing = _submission(store, T0 + dt.timedelta(days=1)).open(_record())

    assert existing is not None
    assert (existing.status, existing.job_id, existing.job_queue) == (ScanState.SUBMITTED, "job-1", "queue")
