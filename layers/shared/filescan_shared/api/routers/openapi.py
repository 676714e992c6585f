"""The OpenAPI document of the API, generated from the registered routes and their models."""

from __future__ import annotations

import functools
import json

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from filescan_shared.api.routing import JSON, new_router

router = new_router()


@router.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[str]:
    """The OpenAPI document of this API (generated from the routes and models)."""
    resolver = router.api_resolver
    assert isinstance(resolver, APIGatewayHttpResolver)  # set when the router is included
    return Response(status_code=200, content_type=JSON, body=openapi_json(resolver))


@functools.cache
def openapi_json(resolver: APIGatewayHttpResolver) -> str:
    """The OpenAPI document of ``resolver`` as JSON (built once per container)."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, APIKeyIn  # noqa: PLC0415

    scheme = APIKey(
        name="Authorization",
        in_=APIKeyIn.header,
        description="AWS SigV4 (IAM, the default) or a JWT bearer token, per the stack's ApiAuth",
    )
    document = json.loads(
        resolver.get_openapi_json_schema(
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
