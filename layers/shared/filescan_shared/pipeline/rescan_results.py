"""What a rescan returns (kept apart from ``rescan`` so the API's models import it without the work)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from filescan_shared.states import ScanState


class Rescan(BaseModel):
    """A recorded rescan: the new scan, the one it repeats, where it is and its job."""

    # Built on first use: the API imports these (through its response models) on every cold start.
    model_config = ConfigDict(defer_build=True)

    scan_id: str
    rescan_of: str
    status: ScanState
    job_id: str | None = None


class BulkRescan(BaseModel):
    """A bulk rescan: one scan per object, one Batch array job (a single job for one object)."""

    model_config = ConfigDict(defer_build=True)

    bulk_id: str
    count: int
    manifest: str
    job_id: str
    job_name: str
    scan_ids: list[str]
