"""api: the results API behind the HTTP API (payload format 2.0).

Routes live in ``filescan_shared.api.routers`` (one Powertools ``Router`` each), assembled with the
error contract in ``filescan_shared.api.routes``; this module only validates the configuration at
cold start and hands each request to the resolver.
"""

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_shared.api.routes import app
from filescan_shared.observability import logger, tracer
from filescan_shared.settings import ApiSettings, load_settings

settings = load_settings(ApiSettings)

__all__ = ["app", "lambda_handler"]


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Resolve one HTTP API request."""
    return app.resolve(event, context)
