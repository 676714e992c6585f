"""How a scan record is stored: its DynamoDB item, the index names and the index keys.

``ByStatus`` is partitioned per state per day (``"<STATE>#<YYYY-MM-DD>"``, sorted by ``updated_at``),
so no partition runs hot; ``ByObject`` is keyed by ``object_ref``; ``ByContent`` by ``content_key``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from filescan_shared.records import ScanRecord
from filescan_shared.states import ScanState

BY_OBJECT_INDEX = "ByObject"
BY_STATUS_INDEX = "ByStatus"
BY_CONTENT_INDEX = "ByContent"
STATUS_INDEX_KEY = ("scan_id", "status_day", "updated_at")
"""The attributes of a ``ByStatus`` position (``LastEvaluatedKey``): table key and index key."""

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def status_day(state: ScanState, day: dt.date) -> str:
    """The ``ByStatus`` partition of ``state`` on ``day`` (a date, or a moment: its UTC date)."""
    if isinstance(day, dt.datetime):
        day = day.astimezone(dt.UTC).date()
    return f"{state.value}#{day.isoformat()}"


def to_item(record: ScanRecord) -> dict[str, Any]:
    """The DynamoDB item (low-level attribute values), index keys included, ``None`` fields dropped."""
    data = record.model_dump(mode="json", exclude_none=True)
    data["status_rank"] = record.status.rank
    data["object_ref"] = record.object_ref
    data["status_day"] = status_day(record.status, dt.datetime.fromisoformat(record.updated_at))
    return {name: value(plain) for name, plain in data.items()}


def from_item(item: dict[str, Any]) -> ScanRecord:
    """Decode a DynamoDB item (low-level attribute values)."""
    plain = {name: from_dynamo(_DESERIALIZER.deserialize(value)) for name, value in item.items()}
    return ScanRecord.model_validate(plain)


def value(plain: Any) -> dict[str, Any]:
    """One JSON-like value as a DynamoDB attribute value."""
    return cast(dict[str, Any], _SERIALIZER.serialize(to_dynamo(plain)))


def to_dynamo(plain: Any) -> Any:
    """Make a JSON-like value storable: floats become Decimals (DynamoDB has no binary floats)."""
    if isinstance(plain, float):
        return Decimal(str(plain))
    if isinstance(plain, dict):
        return {k: to_dynamo(v) for k, v in plain.items()}
    if isinstance(plain, list | tuple):
        return [to_dynamo(v) for v in plain]
    return plain


def from_dynamo(stored: Any) -> Any:
    """Turn DynamoDB Decimals back into ints or floats, recursively."""
    if isinstance(stored, Decimal):
        return int(stored) if stored == stored.to_integral_value() else float(stored)
    if isinstance(stored, dict):
        return {k: from_dynamo(v) for k, v in stored.items()}
    if isinstance(stored, list):
        return [from_dynamo(v) for v in stored]
    return stored
