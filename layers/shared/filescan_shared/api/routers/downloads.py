"""Downloads: a clean file's exact version, released by its scan record (never by its tag alone)."""

from __future__ import annotations

from filescan_shared import clients
from filescan_shared.api import downloads
from filescan_shared.api.errors import ApiError, NotFound
from filescan_shared.api.models import DownloadLink
from filescan_shared.api.routing import ScanIdPath, new_router, repository, responses, settings
from filescan_shared.records import utc_now

router = new_router()


@router.get(
    "/scans/<scan_id>/download",
    summary="A short-lived link to the scanned file, once its scan is COMPLETE and clean",
    responses=responses(200, DownloadLink, 400, 404, 409, 502),
)
def download_link(scan_id: ScanIdPath) -> DownloadLink:
    """A presigned GET of the version ``scan_id`` scanned, valid ``DOWNLOAD_URL_TTL_SECONDS``."""
    config = settings()
    record = repository().get(scan_id, consistent=True)
    if record is None:
        raise NotFound(f"no scan {scan_id}")
    latest = None
    if record.version_id:
        latest = repository().latest_for_object(record.bucket, record.key, record.version_id)
    refusal = downloads.refusal(record, latest, config.uploads_bucket, config.scan_prefix)
    if refusal is not None:
        raise ApiError("not_released", refusal)
    return downloads.presign_download(
        clients.s3(),
        clients.s3_presigner(),
        record,
        ttl_seconds=config.download_url_ttl_seconds,
        now=utc_now(),
    )
