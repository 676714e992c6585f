"""Rescans: one scanned version again, or every current object under a prefix (202 Accepted)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from filescan_shared import clients
from filescan_shared.api.models import BulkRescanAccepted, BulkRescanRequest, RescanAccepted
from filescan_shared.api.routing import (
    JSON,
    IdempotencyKey,
    ScanIdPath,
    new_router,
    repository,
    responses,
    settings,
)
from filescan_shared.records import utc_now

router = new_router()


@router.post(
    "/scans/<scan_id>/rescan",
    summary="Scan the same object version again",
    responses=responses(202, RescanAccepted, 400, 404, 409),
)
def rescan(scan_id: ScanIdPath, idempotency_key: IdempotencyKey = None) -> Response[RescanAccepted]:
    """Record a new scan of the version ``scan_id`` scanned and submit its job (202)."""
    from filescan_shared.api import rescan as rescans  # noqa: PLC0415 - keeps cold start light

    accepted = rescans.rescan_one(scan_id, rescans.nonce_for(idempotency_key), _rescan_deps(), utc_now())
    return Response(status_code=202, content_type=JSON, body=accepted)


@router.post(
    "/rescans",
    summary="Rescan every object under a prefix (one array job)",
    responses=responses(202, BulkRescanAccepted, 400, 404, 415),
)
def bulk_rescan(
    request: BulkRescanRequest, idempotency_key: IdempotencyKey = None
) -> Response[BulkRescanAccepted]:
    """Rescan up to 10,000 current objects under ``prefix`` (202)."""
    from filescan_shared.api import rescan as rescans  # noqa: PLC0415 - keeps cold start light

    bulk_id = rescans.bulk_id_for(idempotency_key)
    accepted = rescans.bulk_rescan(request, bulk_id, _rescan_deps(), utc_now())
    return Response(status_code=202, content_type=JSON, body=accepted)


def _rescan_deps() -> Any:
    from filescan_shared.api.rescan import RescanDeps  # noqa: PLC0415

    return RescanDeps(settings=settings(), repository=repository(), s3=clients.s3(), batch=clients.batch())
