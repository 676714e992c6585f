"""Read paths of the API: scans by status over day partitions, the latest scan of an object, reports.

``ByStatus`` is partitioned per state per day (``"<STATE>#<YYYY-MM-DD>"``, sorted by ``updated_at``),
so a time-ranged listing walks the days from ``until`` back to ``since``, newest first, each with a
descending Query; the cursor records the day and DynamoDB's key inside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.api.cursor import EARLIEST, MAX_WINDOW, Position
from filescan_shared.api.errors import BadRequest, NotFound
from filescan_shared.aws_errors import is_missing_object
from filescan_shared.ids import object_ref
from filescan_shared.records import ScanRecord, iso
from filescan_shared.repository import BY_OBJECT_INDEX, BY_STATUS_INDEX
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

DEFAULT_WINDOW = dt.timedelta(days=7)
_KEY_FIELDS = ("scan_id", "status_day", "updated_at")


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    """Scans of one page and where the next one starts (``None``: this was the last)."""

    records: list[ScanRecord]
    next_position: Position | None


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


def first_position(status: ScanState, since: str, until: str) -> Position:
    """The start of a listing: the top of the ``until`` day."""
    return Position(status, since, until, dt.date.fromisoformat(until[:10]))


def list_scans(client: DynamoDBClient, table: str, position: Position, limit: int) -> Page:
    """Up to ``limit`` scans from ``position`` on, newest first, across day partitions."""
    records: list[ScanRecord] = []
    day, last_key = position.day, position.last_key
    first_day = dt.date.fromisoformat(position.since[:10])
    while day >= first_day:
        kwargs: dict[str, Any] = {
            "TableName": table,
            "IndexName": BY_STATUS_INDEX,
            "KeyConditionExpression": "status_day = :day AND updated_at BETWEEN :since AND :until",
            "ExpressionAttributeValues": {
                ":day": {"S": f"{position.status.value}#{day.isoformat()}"},
                ":since": {"S": position.since},
                ":until": {"S": position.until},
            },
            "ScanIndexForward": False,
            "Limit": limit - len(records),
        }
        if last_key is not None:
            kwargs["ExclusiveStartKey"] = {name: {"S": value} for name, value in last_key.items()}
        response = client.query(**kwargs)
        records.extend(ScanRecord.from_item(item) for item in response.get("Items", []))
        evaluated = response.get("LastEvaluatedKey")
        last_key = {name: str(evaluated[name]["S"]) for name in _KEY_FIELDS} if evaluated else None
        if last_key is None:
            day -= dt.timedelta(days=1)
        if len(records) >= limit:
            break
    more = day >= first_day
    following = dataclasses.replace(position, day=day, last_key=last_key) if more else None
    return Page(records, following)


def latest_for_object(
    client: DynamoDBClient, table: str, bucket: str, key: str, version_id: str | None
) -> ScanRecord | None:
    """The most recently created scan of one object version (``ByObject``), or ``None``."""
    response = client.query(
        TableName=table,
        IndexName=BY_OBJECT_INDEX,
        KeyConditionExpression="object_ref = :ref",
        ExpressionAttributeValues={":ref": {"S": object_ref(bucket, key, version_id)}},
        ScanIndexForward=False,
        Limit=1,
    )
    items = response.get("Items", [])
    return ScanRecord.from_item(items[0]) if items else None


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
