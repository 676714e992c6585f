"""What the pipeline needs from the scans table, as a protocol.

``ScanRepository`` implements it on DynamoDB; tests use an in-memory implementation of the same
protocol (``tests/support/memory_store.py``) for fast pipeline-logic tests, and a contract test runs
both through the same cases. The API's paged listing by status (``ScanRepository.list_by_status``)
walks DynamoDB's index pages and is tested against DynamoDB (moto) only.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

from filescan_shared.records import Attempt, EngineRun, ScanFields, ScanRecord
from filescan_shared.states import ScanState


class ScanStore(Protocol):
    """Reads and conditional writes of scan records: every write only moves a scan forward."""

    def create(self, record: ScanRecord, *, claim: str | None = None) -> bool:
        """Insert ``record`` (with a submit ``claim``) unless the scan exists; ``False``: a duplicate."""
        ...

    def get(self, scan_id: str, *, consistent: bool = True) -> ScanRecord | None:
        """The record of ``scan_id``, or ``None``."""
        ...

    def advance(
        self,
        scan_id: str,
        state: ScanState,
        fields: ScanFields | None = None,
        *,
        now: dt.datetime | None = None,
    ) -> bool:
        """Move the scan to ``state`` and set ``fields`` if that is progress; ``False``: a no-op."""
        ...

    def set_fields(self, scan_id: str, fields: ScanFields) -> None:
        """Set the ``fields`` given on an existing scan without touching its state."""
        ...

    def touch(self, scan_id: str, moment: dt.datetime) -> None:
        """Mark a scan as looked at (``updated_at``) without changing anything else."""
        ...

    def claim_submit(self, scan_id: str, claim: str, *, stale_before: dt.datetime, now: dt.datetime) -> bool:
        """Take the submit claim of a QUEUED scan whose claim is absent or older than ``stale_before``."""
        ...

    def release_submit(self, scan_id: str, claim: str) -> None:
        """Give up a submit claim this caller holds."""
        ...

    def record_engines(self, scan_id: str, runs: dict[str, EngineRun]) -> bool:
        """Record the engines' jobs of a scan being submitted (no map yet, or still QUEUED)."""
        ...

    def progress_engine(
        self, scan_id: str, engine: str, *, job_id: str, running: bool, attempts: int, interruptions: int
    ) -> bool:
        """Move engine ``engine``'s run (job ``job_id``, not terminal) to running and/or more attempts."""
        ...

    def replace_engine_run(
        self, scan_id: str, engine: str, run: EngineRun, *, job_id: str
    ) -> ScanRecord | None:
        """Replace a non-terminal run of job ``job_id``; the updated record, or ``None``: a no-op."""
        ...

    def claim_analysis(
        self, scan_id: str, claim: str, *, stale_before: dt.datetime, now: dt.datetime
    ) -> bool:
        """Take the right to conclude an unfinished scan whose analysis claim is absent or stale."""
        ...

    def release_analysis(self, scan_id: str, claim: str) -> None:
        """Give up an analysis claim this caller holds (its conclusion failed; a retry may take it)."""
        ...

    def record_attempt(self, scan_id: str, attempt: Attempt) -> bool:
        """Append a Batch attempt once and complete it once; ``True`` when something changed."""
        ...

    def stuck(self, state: ScanState, older_than: dt.datetime, days: int, limit: int) -> list[ScanRecord]:
        """Scans in ``state`` last updated before ``older_than`` (``days`` back, ``limit`` at most)."""
        ...

    def find_by_content(self, content_key: str) -> ScanRecord | None:
        """A COMPLETE scan with this ``content_key`` (the content cache), if any."""
        ...

    def latest_for_object(self, bucket: str, key: str, version_id: str | None) -> ScanRecord | None:
        """The most recently created scan of one object version, or ``None``."""
        ...
