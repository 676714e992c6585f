"""An in-memory ``ScanStore``: the scans table's rules without DynamoDB, for fast pipeline-logic tests.

It keeps each scan as the JSON its DynamoDB item holds (plus the same bookkeeping attributes) and
applies the same conditions as ``ScanRepository``'s conditional writes; ``test_scan_store_contract``
runs both through the same cases so the two cannot drift apart.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from typing import Any

from filescan_shared.records import Attempt, EngineJobState, EngineRun, ScanFields, ScanRecord, iso, utc_now
from filescan_shared.repository.items import status_day
from filescan_shared.states import ScanState

_SUBMIT = ("submit_claim", "claimed_at")
_ANALYSIS = ("analysis_claim", "analysis_claimed_at")


class MissingScan(LookupError):
    """A write that requires an existing scan named none (DynamoDB: a failed condition)."""


class MemoryScanStore:
    """Scan records in a dict, written under one lock (each write is atomic, as DynamoDB's are)."""

    def __init__(self) -> None:
        """An empty table."""
        self.items: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def create(self, record: ScanRecord, *, claim: str | None = None) -> bool:
        """Insert ``record`` unless the scan exists."""
        with self._lock:
            if record.scan_id in self.items:
                return False
            item = record.model_dump(mode="json", exclude_none=True)
            item["status_rank"] = record.status.rank
            item["object_ref"] = record.object_ref
            item["status_day"] = status_day(record.status, dt.datetime.fromisoformat(record.updated_at))
            if claim is not None:
                item.update(submit_claim=claim, claimed_at=record.created_at)
            self.items[record.scan_id] = item
            return True

    def get(self, scan_id: str, *, consistent: bool = True) -> ScanRecord | None:
        """The record of ``scan_id``, or ``None``."""
        with self._lock:
            item = self.items.get(scan_id)
            return ScanRecord.model_validate(copy.deepcopy(item)) if item else None

    def advance(
        self,
        scan_id: str,
        state: ScanState,
        fields: ScanFields | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> bool:
        """Move the scan to ``state`` if that is progress."""
        moment = now or utc_now()
        with self._lock:
            item = self.items.get(scan_id)
            if item is None or item["status_rank"] >= state.rank:
                return False
            stamp = iso(moment)
            item.update(status=state.value, status_rank=state.rank, updated_at=stamp)
            item["status_day"] = status_day(state, moment)
            item.setdefault("timestamps", {})[state.value] = stamp
            item.update(copy.deepcopy(fields.assignments()) if fields else {})
            return True

    def set_fields(self, scan_id: str, fields: ScanFields) -> None:
        """Set the ``fields`` given on an existing scan."""
        self._set(scan_id, fields.assignments())

    def touch(self, scan_id: str, moment: dt.datetime) -> None:
        """Mark a scan as looked at."""
        self._set(scan_id, {"updated_at": iso(moment), "swept_at": iso(moment)})

    def _set(self, scan_id: str, assignments: dict[str, Any]) -> None:
        with self._lock:
            if not assignments:
                return
            if scan_id not in self.items:
                raise MissingScan(scan_id)
            self.items[scan_id].update(copy.deepcopy(assignments))

    def claim_submit(self, scan_id: str, claim: str, *, stale_before: dt.datetime, now: dt.datetime) -> bool:
        """Take the submit claim of a QUEUED scan whose claim is absent or stale."""
        queued = ScanState.QUEUED.value
        allowed = lambda item: item["status"] == queued  # noqa: E731
        return self._claim(scan_id, _SUBMIT, claim, allowed, stale_before=stale_before, now=now)

    def release_submit(self, scan_id: str, claim: str) -> None:
        """Give up a submit claim this caller holds."""
        self._release(scan_id, _SUBMIT, claim)

    def _claim(
        self,
        scan_id: str,
        names: tuple[str, str],
        claim: str,
        allowed: Any,
        *,
        stale_before: dt.datetime,
        now: dt.datetime,
    ) -> bool:
        token, taken = names
        with self._lock:
            item = self.items.get(scan_id)
            if item is None or not allowed(item):
                return False
            if token in item and not item[taken] < iso(stale_before):
                return False
            item.update({token: claim, taken: iso(now)})
            return True

    def _release(self, scan_id: str, names: tuple[str, str], claim: str) -> None:
        token, taken = names
        with self._lock:
            item = self.items.get(scan_id)
            if item is not None and item.get(token) == claim:
                del item[token], item[taken]

    def record_engines(self, scan_id: str, runs: dict[str, EngineRun]) -> bool:
        """Record the engines' jobs of a scan with none recorded yet, or still QUEUED."""
        with self._lock:
            item = self.items.get(scan_id)
            if item is None or ("engines" in item and item["status"] != ScanState.QUEUED.value):
                return False
            item["engines"] = {name: run.model_dump(mode="json") for name, run in runs.items()}
            return True

    def progress_engine(
        self, scan_id: str, engine: str, *, job_id: str, running: bool, attempts: int, interruptions: int
    ) -> bool:
        """Move a non-terminal run of job ``job_id`` to running and/or more attempts."""
        with self._lock:
            run = self._live_run(scan_id, engine, job_id)
            if run is None:
                return False
            forward = run["attempts"] < attempts or (running and run["state"] == EngineJobState.SUBMITTED)
            if not forward:
                return False
            run.update(attempts=attempts, interruptions=interruptions)
            if running:
                run["state"] = EngineJobState.RUNNING.value
            return True

    def replace_engine_run(
        self, scan_id: str, engine: str, run: EngineRun, *, job_id: str
    ) -> ScanRecord | None:
        """Replace a non-terminal run of job ``job_id``; the updated record."""
        with self._lock:
            if self._live_run(scan_id, engine, job_id) is None:
                return None
            self.items[scan_id]["engines"][engine] = run.model_dump(mode="json")
            return ScanRecord.model_validate(copy.deepcopy(self.items[scan_id]))

    def _live_run(self, scan_id: str, engine: str, job_id: str) -> dict[str, Any] | None:
        run = self.items.get(scan_id, {}).get("engines", {}).get(engine)
        live = (EngineJobState.SUBMITTED.value, EngineJobState.RUNNING.value)
        if run is None or run.get("job_id") != job_id or run["state"] not in live:
            return None
        return run  # type: ignore[no-any-return]

    def claim_analysis(
        self, scan_id: str, claim: str, *, stale_before: dt.datetime, now: dt.datetime
    ) -> bool:
        """Take the analysis claim of an unfinished scan whose claim is absent or stale."""
        terminal = ScanState.COMPLETE.rank
        allowed = lambda item: item["status_rank"] < terminal  # noqa: E731
        return self._claim(scan_id, _ANALYSIS, claim, allowed, stale_before=stale_before, now=now)

    def release_analysis(self, scan_id: str, claim: str) -> None:
        """Give up an analysis claim this caller holds."""
        self._release(scan_id, _ANALYSIS, claim)

    def record_attempt(self, scan_id: str, attempt: Attempt) -> bool:
        """Append an attempt once, complete it once when it has ended."""
        snapshot = attempt.model_dump(mode="json", exclude_none=True)
        with self._lock:
            item = self.items.get(scan_id)
            if item is None:
                return False
            count = item.get("attempt_count")
            if count is None or count < attempt.number:
                item["attempts"] = [*item.get("attempts", []), snapshot]
                item["attempt_count"] = attempt.number
                return True
            index = attempt.number - 1
            attempts = item.get("attempts", [])
            if not attempt.ended or index >= len(attempts) or "stopped_at" in attempts[index]:
                return False
            attempts[index] = snapshot
            return True

    def stuck(self, state: ScanState, older_than: dt.datetime, days: int, limit: int) -> list[ScanRecord]:
        """Scans in ``state`` last updated before ``older_than``, oldest first per day."""
        found: list[ScanRecord] = []
        for offset in range(days):
            partition = status_day(state, older_than - dt.timedelta(days=offset))
            with self._lock:
                matching = [
                    item
                    for item in self.items.values()
                    if item["status_day"] == partition and item["updated_at"] < iso(older_than)
                ]
            matching.sort(key=lambda item: item["updated_at"])
            found.extend(ScanRecord.model_validate(copy.deepcopy(item)) for item in matching)
            if len(found) >= limit:
                break
        return found[:limit]

    def find_by_content(self, content_key: str) -> ScanRecord | None:
        """A COMPLETE scan with this content key, if any."""
        return self._first(
            lambda item: item.get("content_key") == content_key and item["status"] == ScanState.COMPLETE.value
        )

    def latest_for_object(self, bucket: str, key: str, version_id: str | None) -> ScanRecord | None:
        """The most recently created scan of one object version."""
        wanted = ScanRecord.model_construct(bucket=bucket, key=key, version_id=version_id).object_ref
        with self._lock:
            matching = [item for item in self.items.values() if item["object_ref"] == wanted]
        latest = max(matching, key=lambda item: item["created_at"], default=None)
        return ScanRecord.model_validate(copy.deepcopy(latest)) if latest else None

    def _first(self, match: Any) -> ScanRecord | None:
        with self._lock:
            item = next((item for item in self.items.values() if match(item)), None)
            return ScanRecord.model_validate(copy.deepcopy(item)) if item else None
