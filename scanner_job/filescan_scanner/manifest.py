"""Bulk mode: one line of a JSON-lines manifest per array-job child.

Each line is ``{"bucket": ..., "key": ..., "version_id": ... (optional), "scan_id": ...}``; the child
picks line ``AWS_BATCH_JOB_ARRAY_INDEX`` (0-based, blank lines ignored). The manifest is a local path
or an ``s3://bucket/key`` URI.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from filescan_scanner.source import SourceError, classify


class ManifestError(ValueError):
    """The manifest or the selected line is malformed (a usage error: retrying cannot help)."""


@dataclasses.dataclass(frozen=True)
class ManifestEntry:
    """One object to scan."""

    bucket: str
    key: str
    version_id: str | None
    scan_id: str


def _lines(location: str, s3: Any) -> Iterator[str]:
    if location.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - S3 manifests only

        parsed = urlparse(location)
        try:
            body = s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise classify(exc, f"manifest {location}") from exc
        yield from io.TextIOWrapper(body, encoding="utf-8")
        return
    try:
        with Path(location).open(encoding="utf-8") as handle:
            yield from handle
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {location}: {exc}") from exc


def parse_entry(line: str) -> ManifestEntry:
    """Validate one manifest line."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"manifest line is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise ManifestError("manifest line must be a JSON object")
    for field in ("bucket", "key", "scan_id"):
        if not isinstance(doc.get(field), str) or not doc[field]:
            raise ManifestError(f"manifest line lacks a non-empty string {field!r}")
    version = doc.get("version_id")
    if version is not None and not isinstance(version, str):
        raise ManifestError("manifest version_id must be a string")
    return ManifestEntry(doc["bucket"], doc["key"], version or None, doc["scan_id"])


def read_entry(location: str, index: int, s3: Any) -> ManifestEntry:
    """The ``index``-th non-blank line of the manifest at ``location``.

    Raises ``ManifestError`` (usage) for a bad manifest or index and ``SourceError`` for S3 failures.
    """
    if index < 0:
        raise ManifestError(f"array index {index} is negative")
    seen = 0
    for line in _lines(location, s3):
        if not line.strip():
            continue
        if seen == index:
            return parse_entry(line)
        seen += 1
    raise ManifestError(f"manifest has {seen} entries, no index {index}")


__all__ = ["ManifestEntry", "ManifestError", "SourceError", "read_entry"]
