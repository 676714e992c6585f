"""Scans by id and by state, and the link to a scan's report."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Query

from filescan_shared import clients
from filescan_shared.api import cursor as cursors
from filescan_shared.api import queries
from filescan_shared.api.errors import BadRequest, NotFound
from filescan_shared.api.models import ReportLink, ScanPage, ScanView
from filescan_shared.api.routing import ScanIdPath, new_router, repository, responses, settings
from filescan_shared.records import iso, utc_now
from filescan_shared.states import ScanState

router = new_router()


@router.get("/scans/<scan_id>", summary="One scan by id", responses=responses(200, ScanView, 400, 404))
def get_scan(scan_id: ScanIdPath) -> ScanView:
    """The scan ``scan_id``."""
    record = repository().get(scan_id, consistent=False)
    if record is None:
        raise NotFound(f"no scan {scan_id}")
    return ScanView.of(record)


@router.get(
    "/scans",
    summary="Scans in one state, newest first, paginated",
    responses=responses(200, ScanPage, 400),
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
    config = settings()
    key = cursors.signing_key(config.scans_table, config.cursor_key)
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
    page = repository().list_by_status(position, limit)
    following = cursors.encode(page.next_position, key) if page.next_position else None
    return ScanPage(
        items=[ScanView.of(record) for record in page.records],
        next_cursor=following,
        status=position.status,
        since=position.since,
        until=position.until,
    )


@router.get(
    "/scans/<scan_id>/report",
    summary="A short-lived link to the JSON report",
    responses=responses(200, ReportLink, 400, 404),
)
def report_link(scan_id: ScanIdPath) -> ReportLink:
    """A presigned GET of the scan's report, valid for ``REPORT_URL_TTL_SECONDS``."""
    config = settings()
    record = repository().get(scan_id, consistent=False)
    if record is None:
        raise NotFound(f"no scan {scan_id}")
    key = record.report_key or config.report_key(scan_id)
    ttl = config.report_url_ttl_seconds
    url = queries.presigned_report(clients.s3_presigner(), config.reports_bucket, key, ttl)
    expires = utc_now() + dt.timedelta(seconds=ttl)
    return ReportLink(scan_id=scan_id, url=url, expires_at=iso(expires), expires_in=ttl)
