"""The HTTP API v2 routes: one Powertools resolver with request validation and an OpenAPI document.

Every failure leaves as ``{"error": {"code", "message", "request_id"}}`` (see ``errors``): 400 for
bad parameters (validation details give the location and type only), 404, 405, 409, 413, 415 and a
bare 500 that never carries exception text. CORS is answered by API Gateway, so the resolver's is off.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from botocore.exceptions import BotoCoreError, ClientError

from filescan_shared import clients
from filescan_shared.api import cursor as cursors
from filescan_shared.api import queries
from filescan_shared.api.errors import ApiError, BadRequest, NotFound, error_body, s3_error
from filescan_shared.api.models import (
    SCAN_ID_PATTERN,
    BulkRescanAccepted,
    BulkRescanRequest,
    ErrorResponse,
    ReportLink,
    RescanAccepted,
    ScanPage,
    ScanView,
    UploadRequest,
    UploadTicket,
)
from filescan_shared.observability import logger
from filescan_shared.records import iso, utc_now
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import ApiSettings, load_settings
from filescan_shared.states import ScanState

app = APIGatewayHttpResolver(enable_validation=True)

_JSON = "application/json"
_ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^/scans/[^/]+$"), "GET"),
    (re.compile(r"^/scans$"), "GET"),
    (re.compile(r"^/objects/scan$"), "GET"),
    (re.compile(r"^/scans/[^/]+/report$"), "GET"),
    (re.compile(r"^/uploads$"), "POST"),
    (re.compile(r"^/scans/[^/]+/rescan$"), "POST"),
    (re.compile(r"^/rescans$"), "POST"),
    (re.compile(r"^/openapi\.json$"), "GET"),
)
"""Every route (for 405 answers: a known path with another method)."""


def _responses(ok: int, model: type[Any], *codes: int) -> dict[int, Any]:
    """The documented responses of a route: its success and the errors it can answer."""
    described = {
        400: "bad parameters",
        404: "not found",
        409: "conflict",
        413: "too large",
        415: "the body is not JSON",
        502: "S3 failed",
    }
    responses: dict[int, Any] = {ok: {"description": "success", "content": {_JSON: {"model": model}}}}
    for code in codes:
        responses[code] = {"description": described[code], "content": {_JSON: {"model": ErrorResponse}}}
    return responses


CONTROL_FREE = r"^[^\x00-\x1f\x7f]*$"
"""No C0 control character or DEL: S3 lists them as characters that need special handling
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html), and a NUL is refused."""
ScanIdPath = Annotated[str, Path(pattern=SCAN_ID_PATTERN, description="scan id: 32 lower-case hex digits")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        min_length=1,
        max_length=128,
        description="repeat a request with the same key to get the same rescan instead of a new one",
    ),
]


def _settings() -> ApiSettings:
    settings: ApiSettings = load_settings(ApiSettings)
    return settings


def _repository() -> ScanRepository:
    return ScanRepository(clients.dynamodb(), _settings().scans_table)


def _request_id() -> str | None:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return None


def _error(status: int, code: str, message: str, details: Any = None, **headers: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type=_JSON,
        body=error_body(code, message, _request_id(), details),
        headers=headers or None,
    )


@app.get("/scans/<scan_id>", summary="One scan by id", responses=_responses(200, ScanView, 400, 404))
def get_scan(scan_id: ScanIdPath) -> ScanView:
    """The scan ``scan_id``."""
    record = _repository().get(scan_id, consistent=False)
    if record is None:
        raise NotFound(f"no scan {scan_id}")
    return ScanView.of(record)


@app.get(
    "/scans",
    summary="Scans in one state, newest first, paginated",
    responses=_responses(200, ScanPage, 400),
)
def list_scans(
    status: Annotated[ScanState | None, Query(description="the state (default COMPLETE)")] = None,
    since: Annotated[
        dt.datetime | None, Query(description="updated at or after (default: until - 7 days)")
    ] = None,
    until: Annotated[dt.datetime | None, Query(description="updated at or before (default: now)")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 25,
    cursor: Annotated[str | None, Query(min_length=1, max_length=cursors.MAX_CURSOR_CHARS)] = None,
) -> ScanPage:
    """Scans whose state is ``status`` and that were last updated within ``[since, until]``."""
    settings = _settings()
    key = cursors.signing_key(settings.scans_table, settings.cursor_key)
    for moment in (since, until):
        if moment is not None and not cursors.EARLIEST <= queries.as_utc(moment) < cursors.LATEST:
            raise BadRequest("since and until must lie between the years 2000 and 9000")
    if cursor is not None:
        position = cursors.decode(cursor, key)
        given_since, given_until = (iso(queries.as_utc(m)) if m else None for m in (since, until))
        if (
            (status is not None and status != position.status)
            or (given_since is not None and given_since != position.since)
            or (given_until is not None and given_until != position.until)
        ):
            raise cursors.InvalidCursor("the cursor belongs to a query with other parameters")
    else:
        start, end = queries.resolve_window(since, until, utc_now())
        position = queries.first_position(status or ScanState.COMPLETE, start, end)
    page = queries.list_scans(clients.dynamodb(), settings.scans_table, position, limit)
    following = cursors.encode(page.next_position, key) if page.next_position else None
    return ScanPage(
        items=[ScanView.of(record) for record in page.records],
        next_cursor=following,
        status=position.status,
        since=position.since,
        until=position.until,
    )


@app.get(
    "/objects/scan",
    summary="The latest scan of an object",
    responses=_responses(200, ScanView, 400, 404, 502),
)
def object_scan(
    bucket: Annotated[str, Query(min_length=3, max_length=63)],
    key: Annotated[
        str,
        Query(
            min_length=1,
            max_length=1024,
            pattern=CONTROL_FREE,
            description="the object key (no control characters: ASCII 0-31 and 127)",
        ),
    ],
    version_id: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> ScanView:
    """The most recent scan of ``bucket/key`` (its current version unless ``version_id`` is given)."""
    settings = _settings()
    client = clients.dynamodb()
    record = None
    if version_id is not None:
        record = queries.latest_for_object(client, settings.scans_table, bucket, key, version_id)
    elif bucket == settings.uploads_bucket and key.startswith(settings.scan_prefix):
        try:
            current = queries.current_version(clients.s3(), bucket, key)
        except (ClientError, BotoCoreError) as error:
            raise s3_error(error) from None
        record = queries.latest_for_object(client, settings.scans_table, bucket, key, current)
    if record is None:
        raise NotFound("no scan of this object")
    return ScanView.of(record)


@app.get(
    "/scans/<scan_id>/report",
    summary="A short-lived link to the JSON report",
    responses=_responses(200, ReportLink, 400, 404),
)
def report_link(scan_id: ScanIdPath) -> ReportLink:
    """A presigned GET of the scan's report, valid for ``REPORT_URL_TTL_SECONDS``."""
    settings = _settings()
    record = _repository().get(scan_id, consistent=False)
    if record is None:
        raise NotFound(f"no scan {scan_id}")
    key = record.report_key or settings.report_key(scan_id)
    ttl = settings.report_url_ttl_seconds
    url = queries.presigned_report(clients.s3_presigner(), settings.reports_bucket, key, ttl)
    expires = utc_now() + dt.timedelta(seconds=ttl)
    return ReportLink(scan_id=scan_id, url=url, expires_at=iso(expires), expires_in=ttl)


@app.post(
    "/uploads",
    summary="A presigned upload into the scan area",
    responses=_responses(200, UploadTicket, 400, 413, 415),
)
def create_upload(request: UploadRequest) -> UploadTicket:
    """A presigned PUT for one file, its SHA-256 bound into the signature."""
    from filescan_shared.api.uploads import presign_upload  # noqa: PLC0415 - keeps cold start light

    settings = _settings()
    return presign_upload(
        clients.s3_presigner(),
        request,
        bucket=settings.uploads_bucket,
        scan_prefix=settings.scan_prefix,
        max_bytes=settings.max_upload_bytes,
        ttl_seconds=settings.upload_url_ttl_seconds,
        now=utc_now(),
    )


@app.post(
    "/scans/<scan_id>/rescan",
    summary="Scan the same object version again",
    responses=_responses(202, RescanAccepted, 400, 404, 409),
)
def rescan(scan_id: ScanIdPath, idempotency_key: IdempotencyKey = None) -> Response[RescanAccepted]:
    """Record a new scan of the version ``scan_id`` scanned and submit its job (202)."""
    from filescan_shared.api import rescan as rescans  # noqa: PLC0415 - keeps cold start light

    accepted = rescans.rescan_one(scan_id, rescans.nonce_for(idempotency_key), _rescan_deps(), utc_now())
    return Response(status_code=202, content_type=_JSON, body=accepted)


@app.post(
    "/rescans",
    summary="Rescan every object under a prefix (one array job)",
    responses=_responses(202, BulkRescanAccepted, 400, 404, 415),
)
def bulk_rescan(
    request: BulkRescanRequest, idempotency_key: IdempotencyKey = None
) -> Response[BulkRescanAccepted]:
    """Rescan up to 10,000 current objects under ``prefix`` (202)."""
    from filescan_shared.api import rescan as rescans  # noqa: PLC0415 - keeps cold start light

    bulk_id = rescans.bulk_id_for(idempotency_key)
    accepted = rescans.bulk_rescan(request, bulk_id, _rescan_deps(), utc_now())
    return Response(status_code=202, content_type=_JSON, body=accepted)


def _rescan_deps() -> Any:
    from filescan_shared.api.rescan import RescanDeps  # noqa: PLC0415

    return RescanDeps(settings=_settings(), repository=_repository(), s3=clients.s3(), batch=clients.batch())


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    """The OpenAPI document of this API (generated from the routes and models)."""
    return Response(status_code=200, content_type=_JSON, body=openapi_json())


@functools.cache
def openapi_json() -> str:
    """The OpenAPI document as JSON (built once per container)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn  # noqa: PLC0415

    scheme = APIKey(
        name="Authorization",
        in_=APIKeyIn.header,
        description="AWS SigV4 (IAM, the default) or a JWT bearer token, per the stack's ApiAuth",
    )
    document = json.loads(
        app.get_openapi_json_schema(
            title="filescan results API",
            version="1.0.0",
            description="Scans by id, by object and by state; reports; presigned uploads; rescans.",
            security_schemes={"aws": scheme},
            security=[{"aws": []}],
        )
    )
    # Validation failures answer 400 in the common error shape, not Powertools' default 422.
    for item in document.get("paths", {}).values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    return json.dumps(document, separators=(",", ":"))


def _api_error(error: ApiError) -> Response[str]:
    return _error(error.status, error.code, error.message, error.details)


def _invalid_request(error: RequestValidationError) -> Response[str]:
    details = [{"loc": list(item.get("loc", ())), "type": item.get("type")} for item in error.errors()]
    return _error(400, "bad_request", "the request is invalid", details)


def _undecodable_body(_: UnicodeDecodeError) -> Response[str]:
    # Only the body can be undecodable here: Powertools decodes it before validating it.
    return _error(400, "bad_request", "the request body is not UTF-8 JSON")


def _unsupported_media_type(_: Exception) -> Response[str]:
    return _error(415, "unsupported_media_type", "the request body must be application/json")


def _multipart_without_boundary(error: ValueError) -> Response[str]:
    # Powertools parses a multipart body itself and raises a bare ValueError when the content type
    # names no (or an empty) boundary; any other ValueError is unexpected.
    content_type = app.current_event.headers.get("content-type", "").strip()
    if type(error) is ValueError and content_type.startswith("multipart/form-data"):
        return _unsupported_media_type(error)
    return _unexpected(error)


def _body_too_deep(error: RecursionError) -> Response[str]:
    # The only unbounded recursion a request can cause is parsing its body (json.loads of a deeply
    # nested document, in Powertools' body parsing): a request without a body cannot recurse.
    if not app.current_event.body:
        return _unexpected(error)
    return _error(400, "bad_request", "the request body is nested too deeply")


def _no_route(_: NotFoundError) -> Response[str]:
    event = app.current_event
    allowed = sorted({method for pattern, method in _ROUTES if pattern.match(event.path)})
    if allowed and event.http_method not in allowed:
        return _error(405, "method_not_allowed", "method not allowed", Allow=", ".join(allowed))
    return _error(404, "not_found", "no such route")


def _unexpected(error: Exception) -> Response[str]:
    logger.exception("unhandled error")
    return _error(500, "internal_error", "internal error")


# Registered without decorators: Powertools' decorator is untyped.
app.exception_handler(ApiError)(_api_error)
app.exception_handler(RequestValidationError)(_invalid_request)
app.exception_handler(RequestUnsupportedContentType)(_unsupported_media_type)
app.exception_handler(ValueError)(_multipart_without_boundary)
app.exception_handler(RecursionError)(_body_too_deep)
app.exception_handler(UnicodeDecodeError)(_undecodable_body)
app.exception_handler(NotFoundError)(_no_route)
app.exception_handler(Exception)(_unexpected)
