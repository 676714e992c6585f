"""The latest scan of an object (bucket, key and optionally version)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query
from botocore.exceptions import BotoCoreError, ClientError

from filescan_shared import clients
from filescan_shared.api import queries
from filescan_shared.api.errors import NotFound, s3_error
from filescan_shared.api.models import ScanView
from filescan_shared.api.routing import CONTROL_FREE, new_router, repository, responses, settings

router = new_router()


@router.get(
    "/objects/scan",
    summary="The latest scan of an object",
    responses=responses(200, ScanView, 400, 404, 502),
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
    config = settings()
    record = None
    if version_id is not None:
        record = repository().latest_for_object(bucket, key, version_id)
    elif bucket == config.uploads_bucket and key.startswith(config.scan_prefix):
        try:
            current = queries.current_version(clients.s3(), bucket, key)
        except (ClientError, BotoCoreError) as error:
            raise s3_error(error) from None
        record = repository().latest_for_object(bucket, key, current)
    if record is None:
        raise NotFound("no scan of this object")
    return ScanView.of(record)
