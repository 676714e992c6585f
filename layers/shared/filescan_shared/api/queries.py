"""Read paths of the API: listing windows, object versions and reports.

The table queries are ``ScanRepository``'s (``list_by_status``, ``latest_for_object``): routes call it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from filescan_shared.api.cursor import EARLIEST, MAX_WINDOW
from filescan_shared.api.errors import BadRequest, NotFound
from filescan_shared.aws_errors import is_missing_object
from filescan_shared.records import iso
from filescan_shared.repository import StatusPosition
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_WINDOW = dt.timedelta(days=7)


def resolve_window(since: dt.datetime | None, until: dt.datetime | None, now: dt.datetime) -> tuple[str, str]:
    """The ``[since, until]`` range as index timestamps: defaults to the last 7 days, at most 93 days."""
    end = as_utc(until) if until else now
    start = as_utc(since) if since else max(end - DEFAULT_WINDOW, EARLIEST)
    if start > end:
        raise BadRequest("since must not be after until")
    if end - start > MAX_WINDOW:
        raise BadRequest(f"the time range may span at most {MAX_WINDOW.days} days")
    return iso(start), iso(end)


def as_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC (a naive time is taken as UTC); ``BadRequest`` if UTC has no such year."""
    try:
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:30+01:00 is before the first representable time
        raise BadRequest("the time is out of range") from None


def first_position(status: ScanState, since: str, until: str) -> StatusPosition:
    """The start of a listing: the top of the ``until`` day."""
    return StatusPosition(status, since, until, dt.date.fromisoformat(until[:10]))


def current_version(s3: S3Client, bucket: str, key: str) -> str | None:
    """The version id of the current version of ``key`` (``None``: absent, deleted, or unversioned).

    Uses ListObjectVersions (the API may list the scan prefix but, by the read gate, not read objects).
    """
    response = s3.list_object_versions(Bucket=bucket, Prefix=key, MaxKeys=50)
    for version in response.get("Versions", []):
        if version.get("Key") == key and version.get("IsLatest"):
            found = version.get("VersionId")
            return None if found in (None, "null") else found
    return None


def presigned_report(s3: S3Client, bucket: str, key: str, ttl_seconds: int) -> str:
    """A presigned GET of the report at ``key``; ``NotFound`` when the report does not exist."""
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_missing_object(error):
            raise NotFound("this scan has no report (yet)", code="report_not_found") from None
        raise
    return s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=ttl_seconds
    )
