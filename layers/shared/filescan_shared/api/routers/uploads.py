"""Presigned uploads into the scan area."""

from __future__ import annotations

from filescan_shared import clients
from filescan_shared.api.models import UploadRequest, UploadTicket
from filescan_shared.api.routing import new_router, responses, settings
from filescan_shared.records import utc_now

router = new_router()


@router.post(
    "/uploads",
    summary="A presigned upload into the scan area",
    responses=responses(200, UploadTicket, 400, 413, 415),
)
def create_upload(request: UploadRequest) -> UploadTicket:
    """A presigned PUT for one file, its SHA-256 bound into the signature."""
    from filescan_shared.api.uploads import presign_upload  # noqa: PLC0415 - keeps cold start light

    config = settings()
    return presign_upload(
        clients.s3_presigner(),
        request,
        bucket=config.uploads_bucket,
        scan_prefix=config.scan_prefix,
        max_bytes=config.max_upload_bytes,
        ttl_seconds=config.upload_url_ttl_seconds,
        now=utc_now(),
    )
