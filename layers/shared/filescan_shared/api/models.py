"""Request and response models of the results API (they also generate its OpenAPI document)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from filescan_shared.pipeline.rescan_results import BulkRescan, Rescan
from filescan_shared.records import EngineRun, ScanRecord
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


ENGINE_FIELDS = {
    "state": "where the engine's job is: submitted, running, succeeded or failed",
    "required": "whether the engine must finish clean for the scan to be clean",
    "job_id": "the engine's (latest) Batch job",
    "attempts": "attempts Batch made",
    "interruptions": "attempts that ended because Spot capacity was reclaimed",
    "escalated_at": "when the job was resubmitted to on-demand capacity after Spot interruptions",
    "exit_code": "the engine's exit code",
    "duration_seconds": "how long the job ran",
    "cost": "the job's estimated compute cost (usd, billed_seconds, capacity...)",
    "outcome": "after analysis: succeeded, unscannable, failed or timed_out",
    "verdict": "this engine's own verdict",
    "severity": "the highest severity this engine found",
    "read_by": "what read the engine's output: report, mapping, llm or none",
    "findings_count": "how many findings the engine's output gave",
    "top_findings": "its most severe findings, compact (at most 3)",
    "reasons": "why its verdict is what it is (a failure, an unreadable output, an untrusted LLM reading)",
}
"""What each column of an engine's row means (the OpenAPI document's descriptions)."""


def _describe_engine(schema: dict[str, Any]) -> None:
    for name, property_schema in schema.get("properties", {}).items():
        if name in ENGINE_FIELDS:
            property_schema["description"] = ENGINE_FIELDS[name]


class EngineView(EngineRun):
    """One engine's job and outcome for a scan (no internal bookkeeping)."""

    model_config = ConfigDict(extra="ignore", defer_build=True, json_schema_extra=_describe_engine)

    job_queue: Internal = None


class ScanView(ScanRecord):
    """A scan as the API shows it: the record's public fields (no internal bookkeeping)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    sequencer: Internal = None
    job_queue: Internal = None
    report_key: Internal = None
    content_key: Internal = None
    published_at: Internal = None
    # The record's EngineRun rows, shown as EngineView (the same fields, job_queue withheld): a
    # narrower value type than the record's, which dict's invariance makes mypy call incompatible.
    engines: dict[str, EngineView] | None = Field(  # type: ignore[assignment]
        default=None,
        description="every engine's job and outcome for this scan, by engine name; absent on scans "
        "recorded before engines were tracked",
    )

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
