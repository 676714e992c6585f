"""The HTTP API v2: one Powertools resolver, the routers of ``routers/`` included, and the error contract.

Every failure leaves as ``{"error": {"code", "message", "request_id"}}`` (see ``errors``): 400 for
bad parameters (validation details give the location and type only), 404, 405, 409, 413, 415 and a
bare 500 that never carries exception text. CORS is answered by API Gateway, so the resolver's is off.

The resolver's registrations are the one route table: the 405 answers (a known path with another
method) and the template check (tests) derive from ``route_table()``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from filescan_shared.api.errors import ApiError, error_body
from filescan_shared.api.routers import downloads, objects, openapi, rescans, scans, uploads
from filescan_shared.api.routing import JSON
from filescan_shared.observability import logger

app = APIGatewayHttpResolver(enable_validation=True)
for _module in (scans, downloads, objects, uploads, rescans, openapi):
    app.include_router(_module.router)


@dataclasses.dataclass(frozen=True)
class RegisteredRoute:
    """One route the resolver answers."""

    method: str
    path: str
    """In OpenAPI (and API Gateway) form: ``/scans/{scan_id}``."""
    pattern: re.Pattern[str]
    """The resolver's own matcher for request paths."""


@functools.cache
def route_table() -> tuple[RegisteredRoute, ...]:
    """Every registered route, read from the resolver.

    Powertools (3.x) keeps its registrations in two private lists (static and dynamic routes) and
    offers no public view of them; this is the only place that reads them, and a unit test checks the
    result against the public OpenAPI document, so a Powertools change fails a test, not a request.
    """
    registered = (*app._static_routes, *app._dynamic_routes)
    return tuple(RegisteredRoute(route.method, route.openapi_path, route.rule) for route in registered)


def _request_id() -> str | None:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return None


def _error(status: int, code: str, message: str, details: Any = None, **headers: str) -> Response[str]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=error_body(code, message, _request_id(), details),
        headers=headers or None,
    )


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
    allowed = sorted({route.method for route in route_table() if route.pattern.match(event.path)})
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
