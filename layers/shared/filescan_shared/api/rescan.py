"""The rescan routes' side of rescans: idempotency keys to ids, results and refusals to HTTP.

The work itself (records, manifest, the one submit path) is ``pipeline.rescan``'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from filescan_shared.api.errors import ApiError
from filescan_shared.api.models import BulkRescanAccepted, BulkRescanRequest, RescanAccepted
from filescan_shared.pipeline import rescan as rescans
from filescan_shared.pipeline.rescan import Refusal, RescanDeps, RescanRefused

__all__ = ["RescanDeps", "bulk_id_for", "bulk_rescan", "nonce_for", "rescan_one"]

_ERROR_CODES = {
    Refusal.NO_SUCH_SCAN: "not_found",
    Refusal.NO_VERSION: "conflict",
    Refusal.OUT_OF_SCOPE: "bad_request",
    Refusal.NOTHING_TO_RESCAN: "not_found",
    Refusal.TOO_MANY_OBJECTS: "too_many_objects",
    Refusal.IN_PROGRESS: "conflict",
}


def nonce_for(idempotency_key: str | None) -> str:
    """A rescan nonce: from the caller's idempotency key (repeatable), else random."""
    if idempotency_key:
        return "idem:" + hashlib.sha256(idempotency_key.encode()).hexdigest()
    return uuid.uuid4().hex


def bulk_id_for(idempotency_key: str | None) -> str:
    """A bulk id (32 hex): from the caller's idempotency key (repeatable), else random."""
    if idempotency_key:
        return hashlib.sha256(f"bulk\x00{idempotency_key}".encode()).hexdigest()[:32]
    return uuid.uuid4().hex


def rescan_one(scan_id: str, nonce: str, deps: RescanDeps, now: dt.datetime) -> RescanAccepted:
    """Record and submit a new scan of the object version ``scan_id`` scanned."""
    try:
        done = rescans.rescan_one(scan_id, nonce, deps, now)
    except RescanRefused as refused:
        raise _api_error(refused) from None
    return RescanAccepted.model_validate(done.model_dump())


def bulk_rescan(
    request: BulkRescanRequest, bulk_id: str, deps: RescanDeps, now: dt.datetime
) -> BulkRescanAccepted:
    """Rescan every current object version under ``request.prefix`` with one array job."""
    try:
        done = rescans.bulk_rescan(request.prefix, request.bucket, bulk_id, deps, now)
    except RescanRefused as refused:
        raise _api_error(refused) from None
    return BulkRescanAccepted.model_validate(done.model_dump())


def _api_error(refused: RescanRefused) -> ApiError:
    return ApiError(_ERROR_CODES[refused.refusal], refused.message)
