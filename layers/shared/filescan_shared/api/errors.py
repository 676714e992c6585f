"""One JSON error shape for every failure the API returns.

``{"error": {"code": "not_found", "message": "...", "request_id": "..."}}``, with optional
``details`` (validation problems: location and type only, never the rejected input or Python
internals). Raise ``ApiError`` (or a subclass) anywhere in request handling; the routes module turns
it into a response.
"""

from __future__ import annotations

import json
from typing import Any

from filescan_shared.observability import logger

ERROR_STATUS = {
    "bad_request": 400,
    "invalid_cursor": 400,
    "too_many_objects": 400,
    "not_found": 404,
    "report_not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "not_released": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "internal_error": 500,
    "upstream_error": 502,
}
"""Every error code the API uses, with its HTTP status."""


class ApiError(Exception):
    """A request that ends in a documented error response."""

    def __init__(self, code: str, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        """``code`` is one of ``ERROR_STATUS``; ``message`` is safe to show to the caller."""
        super().__init__(message)
        self.code = code
        self.status = ERROR_STATUS[code]
        self.message = message
        self.details = details


class NotFound(ApiError):
    """404: the named resource does not exist."""

    def __init__(self, message: str, code: str = "not_found") -> None:
        """A 404 with ``message``."""
        super().__init__(code, message)


class BadRequest(ApiError):
    """400: a parameter is malformed or out of range."""

    def __init__(self, message: str, code: str = "bad_request") -> None:
        """A 400 with ``message``."""
        super().__init__(code, message)


def s3_error(error: Exception) -> ApiError:
    """The API error for an S3 call that failed while answering a request (never a 500).

    A missing bucket is a 404; S3 refusing the request (4xx: a key it will not take) is the caller's
    400, without S3's message. S3 refusing *the API's own credentials* (401/403: its role lacks a
    grant) is the deployment's fault, not the caller's: a 502, logged, like anything else that is
    not the caller's (5xx, throttling, network).
    """
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if code == "NoSuchBucket":
        return NotFound("no such bucket")
    if status in {401, 403}:
        logger.error("S3 refused the API's credentials", extra={"s3_error_code": code[:64]})
        return ApiError("upstream_error", "the API could not read from S3; try again later")
    if 400 <= status < 500 and code not in {"SlowDown", "Throttling", "RequestTimeout"}:
        return BadRequest(f"S3 refused the request ({code[:64] or status})")
    return ApiError("upstream_error", "S3 is unavailable; try again")


def error_body(code: str, message: str, request_id: str | None, details: Any = None) -> str:
    """The JSON error document."""
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details:
        error["details"] = details
    return json.dumps({"error": error}, separators=(",", ":"))
