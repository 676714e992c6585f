"""Request and response models of the results API (they also generate its OpenAPI document)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from filescan_shared.pipeline.rescan_results import BulkRescan, Rescan
from filescan_shared.records import ScanRecord
from filescan_shared.states import ScanState

SCAN_ID_PATTERN = r"^[0-9a-f]{32}$"
_HEX_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class _ApiModel(BaseModel):
    # A request touches one or two of these models: each is built on its first use, not at import.
    model_config = ConfigDict(defer_build=True)


class _Strict(_ApiModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


Internal = Annotated[SkipJsonSchema[str | None], Field(exclude=True)]
"""A record field the API neither shows nor documents (internal bookkeeping)."""


class ScanView(ScanRecord):
    """A scan as the API shows it: the record's public fields (no internal bookkeeping)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    sequencer: Internal = None
    job_queue: Internal = None
    report_key: Internal = None
    content_key: Internal = None
    published_at: Internal = None

    @classmethod
    def of(cls, record: ScanRecord) -> ScanView:
        """The public view of ``record``; a FAILED scan shows the verdict its object is tagged with."""
        return cls.model_validate(record.model_dump() | {"verdict": record.shown_verdict})


class ScanPage(_ApiModel):
    """One page of scans, newest first; ``next_cursor`` is absent on the last page."""

    items: list[ScanView]
    next_cursor: str | None = None
    status: ScanState
    since: str
    until: str


class UploadRequest(_Strict):
    """Ask for a presigned upload of one file."""

    filename: str = Field(min_length=1, max_length=1024, description="the file's name (sanitised)")
    size: int = Field(ge=0, description="exact size in bytes")
    sha256: str = Field(
        min_length=43, max_length=64, description="SHA-256 of the content: 64 hex digits or base64"
    )
    content_type: str | None = Field(
        default=None, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+( *;[ \w=.+-]*)?$"
    )

    @field_validator("sha256")
    @classmethod
    def _base64_digest(cls, value: str) -> str:
        return sha256_base64(value)


def sha256_base64(value: str) -> str:
    """A SHA-256 given as hex or base64, as the base64 S3 expects; ``ValueError`` otherwise."""
    if _HEX_SHA256.match(value):
        return base64.b64encode(bytes.fromhex(value)).decode()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("sha256 must be 64 hex digits or the base64 of 32 bytes") from None
    if len(raw) != 32:
        raise ValueError("sha256 must be 64 hex digits or the base64 of 32 bytes")
    return base64.b64encode(raw).decode()


class UploadTicket(_ApiModel):
    """Where and how to PUT the file: send exactly ``headers`` with the body, before ``expires_at``."""

    method: str = "PUT"
    url: str
    bucket: str
    key: str
    headers: dict[str, str]
    expires_at: str
    max_bytes: int


class ReportLink(_ApiModel):
    """A short-lived presigned GET of a scan's JSON report."""

    scan_id: str
    url: str
    expires_at: str
    expires_in: int


class DownloadLink(_ApiModel):
    """A short-lived presigned GET of the exact object version a COMPLETE, clean scan released."""

    scan_id: str
    bucket: str
    key: str
    version_id: str
    size: int | None = None
    url: str
    expires_at: str
    expires_in: int


class RescanAccepted(_ApiModel, Rescan):
    """A rescan was recorded and its job submitted (or an identical earlier request is returned)."""


class BulkRescanRequest(_Strict):
    """Rescan every current object under ``prefix`` (at most ``MAX_BULK_OBJECTS``)."""

    prefix: str = Field(min_length=1, max_length=1024)
    bucket: str | None = Field(default=None, min_length=3, max_length=63)


class BulkRescanAccepted(_ApiModel, BulkRescan):
    """A bulk rescan: one scan per object, one Batch array job (a single job for one object)."""


class ErrorDetail(_ApiModel):
    """The error itself."""

    code: str
    message: str
    request_id: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorResponse(_ApiModel):
    """The one error shape of every non-2xx response."""

    error: ErrorDetail
