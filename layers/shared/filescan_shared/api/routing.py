"""What every router module shares: documented responses, common parameters, settings and repository.

Each ``routers/*`` module registers its routes on its own Powertools ``Router``; ``routes`` includes
them in the one resolver, whose registrations are also the route table (405 answers, the template
check).
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from filescan_shared import clients
from filescan_shared.api.models import SCAN_ID_PATTERN, ErrorResponse
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import ApiSettings, load_settings

JSON = "application/json"

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

_DESCRIBED = {
    400: "bad parameters",
    404: "not found",
    409: "conflict",
    413: "too large",
    415: "the body is not JSON",
    502: "S3 failed",
}


def responses(ok: int, model: type[Any], *codes: int) -> dict[int, Any]:
    """The documented responses of a route: its success and the errors it can answer."""
    documented: dict[int, Any] = {ok: {"description": "success", "content": {JSON: {"model": model}}}}
    for code in codes:
        documented[code] = {"description": _DESCRIBED[code], "content": {JSON: {"model": ErrorResponse}}}
    return documented


def settings() -> ApiSettings:
    """The API's settings (loaded once per container)."""
    loaded: ApiSettings = load_settings(ApiSettings)
    return loaded


def repository() -> ScanRepository:
    """The scans table."""
    return ScanRepository(clients.dynamodb(), settings().scans_table)


def new_router() -> APIGatewayHttpRouter:
    """An empty router for one module's routes (one typed place: Powertools' constructor is untyped)."""
    return APIGatewayHttpRouter()  # type: ignore[no-untyped-call]
