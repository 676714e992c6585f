"""Opaque, integrity-checked pagination cursors for ``GET /scans``.

A cursor is ``base64url(json) "." base64url(mac)``. The JSON names the query it continues (status
and the resolved ``since``/``until``), the day partition of the ``ByStatus`` index the next page
starts in, and DynamoDB's ``LastEvaluatedKey`` inside that partition (or none: start at the top of
the day). The MAC is HMAC-SHA256 (truncated to 128 bits) under a key derived from the deployment's
table name and an optional ``CURSOR_KEY``: it detects tampering and garbage, it does not hide
anything (the content is not secret). After the MAC, every field is validated again, so a cursor can
only ever name a position inside its own query's partitions, and only a query the API would answer
(times as ``iso`` writes them, within the listing bounds): a bad cursor is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from filescan_shared.api.errors import ApiError
from filescan_shared.ids import is_scan_id
from filescan_shared.records import iso
from filescan_shared.repository import StatusPosition
from filescan_shared.repository.items import STATUS_INDEX_KEY, status_day
from filescan_shared.states import ScanState

CURSOR_VERSION = 1
MAX_CURSOR_CHARS = 2048
_MAC_BYTES = 16
_KEY_FIELDS = frozenset(STATUS_INDEX_KEY)

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
MAX_WINDOW = dt.timedelta(days=93)
"""Every listing lies within ``[EARLIEST, LATEST)`` and spans at most ``MAX_WINDOW``; so does every cursor."""


class InvalidCursor(ApiError):
    """The cursor is not one this API issued for this query."""

    def __init__(self, message: str = "cursor is malformed, tampered with or from another query") -> None:
        """A 400 ``invalid_cursor``."""
        super().__init__("invalid_cursor", message)


def signing_key(table_name: str, secret: str = "") -> bytes:
    """The HMAC key of one deployment."""
    return hashlib.sha256(f"filescan-cursor-v{CURSOR_VERSION}\x00{table_name}\x00{secret}".encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(position: StatusPosition, key: bytes) -> str:
    """The opaque cursor for ``position``."""
    payload: dict[str, Any] = {
        "v": CURSOR_VERSION,
        "s": position.status.value,
        "a": position.since,
        "b": position.until,
        "d": position.day.isoformat(),
    }
    if position.last_key is not None:
        payload["k"] = position.last_key
    return sign(payload, key)


def sign(payload: dict[str, Any], key: bytes) -> str:
    """The cursor carrying ``payload`` as is (``encode`` builds the payload of a position)."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    return f"{_b64(body)}.{_b64(mac)}"


def decode(cursor: str, key: bytes) -> StatusPosition:
    """The position a cursor names; ``InvalidCursor`` for anything this API did not issue."""
    if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
        raise InvalidCursor()
    body_text, mac_text = cursor.split(".")
    try:
        body, mac = _unb64(body_text), _unb64(mac_text)
    except (binascii.Error, ValueError):
        raise InvalidCursor() from None
    expected = hmac.new(key, body, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(mac, expected):
        raise InvalidCursor()
    try:
        payload = json.loads(body)
        return _validated(payload)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError):
        raise InvalidCursor() from None


def _instant(text: Any) -> dt.datetime:
    """A timestamp exactly as ``iso`` writes it (the index compares them as strings)."""
    moment = dt.datetime.fromisoformat(text)
    if iso(moment) != text:
        raise ValueError("not a canonical UTC timestamp")
    return moment


def _validated(payload: dict[str, Any]) -> StatusPosition:
    if payload["v"] != CURSOR_VERSION:
        raise ValueError("version")
    status = ScanState(payload["s"])
    since, until = payload["a"], payload["b"]
    start, end = _instant(since), _instant(until)
    if not EARLIEST <= start <= end < LATEST or end - start > MAX_WINDOW:
        raise ValueError("not a query this API answers")
    day = dt.date.fromisoformat(payload["d"])
    if not start.date() <= day <= end.date():
        raise ValueError("day outside the query")
    last_key = payload.get("k")
    if last_key is not None:
        if not isinstance(last_key, dict) or set(last_key) != _KEY_FIELDS:
            raise ValueError("key fields")
        if not all(isinstance(value, str) for value in last_key.values()):
            raise ValueError("key types")
        if not is_scan_id(last_key["scan_id"]) or last_key["status_day"] != status_day(status, day):
            raise ValueError("key values")
        if not start <= _instant(last_key["updated_at"]) <= end:
            raise ValueError("key time")
    return StatusPosition(status, since, until, day, last_key)
