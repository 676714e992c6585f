"""The scan record: everything known about one scan, and the typed updates steps make to it.

How a record is stored (its DynamoDB item and index keys) is ``repository.items``'.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema

from filescan_shared.ids import object_ref
from filescan_shared.severity import Severity, Verdict
from filescan_shared.states import ScanState


def utc_now() -> dt.datetime:
    """The current time in UTC (one place, so tests can reason about it)."""
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``: sorts lexicographically in time order."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Attempt(BaseModel):
    """One Batch attempt of a scan job, as reported by job state change events."""

    model_config = ConfigDict(extra="ignore")

    number: int
    exit_code: int | None = None
    reason: str | None = None
    log_stream: str | None = None
    started_at: int | None = None
    """Epoch milliseconds, as Batch reports them."""
    stopped_at: int | None = None
    interrupted: bool | None = None
    """The attempt ended because its capacity was reclaimed (a Spot interruption), not by the scanner."""

    @property
    def ended(self) -> bool:
        """Whether Batch reported the attempt's end (its stop time, exit code or reason is final)."""
        return self.stopped_at is not None


def _severity(value: object) -> Severity:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str):
        return Severity.from_label(value)
    raise ValueError(f"not a severity: {value!r}")


def _verdict(value: object) -> Verdict:
    if isinstance(value, str):
        return Verdict(value)
    raise ValueError(f"not a verdict: {value!r}")


SeverityLabel = Annotated[
    Severity,
    PlainValidator(_severity),
    PlainSerializer(lambda severity: severity.label, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string"}),
]
"""A severity stored and shown as its lower-case label (``"medium"``); ``Severity`` in code."""
VerdictName = Annotated[
    Verdict,
    PlainValidator(_verdict),
    PlainSerializer(lambda verdict: verdict.value, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string"}),
]
"""A verdict; the API documents it as a plain string, so a new verdict does not break clients."""
_OPEN_OBJECTS = {"type": "array", "items": {"type": "object", "additionalProperties": True}}
AttemptList = Annotated[list[Attempt], WithJsonSchema(_OPEN_OBJECTS)]
"""Attempts; the API documents them as open objects (Batch may report more about an attempt)."""


class EngineJobState(enum.StrEnum):
    """Where one engine's job is. Only moves forward (``SUBMITTED < RUNNING < SUCCEEDED | FAILED``)."""

    SUBMITTED = "submitted"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    """The job ended with one of the engine's ``ok`` or ``unscannable`` exit codes (output may be read)."""
    FAILED = "failed"
    """The job failed every attempt, timed out, or could not be submitted."""

    @property
    def terminal(self) -> bool:
        """Whether the engine's job is finished (the fan-in waits for every engine to be terminal)."""
        return self in {EngineJobState.SUCCEEDED, EngineJobState.FAILED}


class EngineRun(BaseModel):
    """One engine's job for one scan, as the scan record tracks it (``ScanRecord.engines[name]``)."""

    model_config = ConfigDict(extra="ignore")

    state: EngineJobState
    required: bool = True
    job_id: str | None = None
    job_queue: str | None = None
    attempts: int = 0
    interruptions: int = 0
    """Attempts that ended because Spot capacity was reclaimed."""
    escalated_at: str | None = None
    """When the job was resubmitted to the on-demand queue after too many Spot interruptions."""
    exit_code: int | None = None
    duration_seconds: float | None = None
    cost: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    """Seconds queued, running and in total (``ScanFields.timings``' shape), once terminal."""
    failure_reason: str | None = None
    """Why the job failed (Batch's reasons, exit code, attempts), once terminal."""
    outcome: str | None = None
    """After analysis: the engine's ``EngineRunStatus`` (succeeded, unscannable, failed, timed_out)."""
    verdict: VerdictName | None = None
    severity: SeverityLabel | None = None
    read_by: str | None = None
    """``report``, ``mapping``, ``llm`` or ``none`` (``engines.results.ReadBy``)."""
    findings_count: int | None = None
    top_findings: list[dict[str, Any]] = Field(default_factory=list)
    reasons: list[str] = Field(default_factory=list)


class ScanFields(BaseModel):
    """What the pipeline learns about a scan after creating it; a partial update names some of these.

    Unknown names are refused (``extra="forbid"``) and values are validated, so a misspelt or
    renamed field fails loudly instead of writing an attribute nobody reads.
    """

    model_config = ConfigDict(extra="forbid")

    size: int | None = None
    sha256: str | None = None
    """The object's SHA-256 (from its S3 checksum or the report), hex."""
    job_id: str | None = None
    job_queue: str | None = None
    skip_reason: str | None = None
    failure_reason: str | None = None
    verdict: VerdictName | None = None
    severity: SeverityLabel | None = None
    report_key: str | None = None
    cached_from: str | None = None
    """The scan whose result this one reused (content cache), if any."""
    verdict_reasons: list[str] = Field(default_factory=list)
    findings_count: int | None = None
    top_findings: list[dict[str, Any]] = Field(default_factory=list)
    """The most severe findings, compact (the report holds them all)."""
    mime: str | None = None
    analysis: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    """Seconds spent queued, running and in total, from the Batch job's timestamps."""
    quarantine_key: str | None = None
    published_at: str | None = None
    """When the outcome was published (tag + event); unset means publishing is still owed."""
    engines: dict[str, EngineRun] | None = None
    """Every enabled engine's job for this scan, by engine name (fan-out/fan-in)."""

    def merged(self, other: ScanFields) -> ScanFields:
        """The fields of both updates (``other`` wins where both set one)."""
        mine, theirs = self.model_dump(exclude_unset=True), other.model_dump(exclude_unset=True)
        return ScanFields.model_validate(mine | theirs)

    def assignments(self) -> dict[str, Any]:
        """The fields this update sets, as stored (JSON values); ``None`` means "leave as is"."""
        data = self.model_dump(mode="json", exclude_unset=True)
        return {name: value for name, value in data.items() if value is not None}


class ScanRecord(ScanFields):
    """Everything known about one scan. Only ``repository`` writes it, with conditional updates."""

    model_config = ConfigDict(extra="ignore")

    scan_id: str
    status: ScanState
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    created_at: str
    updated_at: str
    timestamps: dict[str, str] = Field(default_factory=dict)
    """When the scan entered each state (state -> ISO time)."""
    priority: str = "standard"
    attempts: AttemptList = Field(default_factory=list)
    content_key: str | None = None
    rescan_of: str | None = None
    """The scan this one re-scans (API rescans), if any."""
    bulk_id: str | None = None
    """The bulk rescan this scan belongs to (one array job per bulk rescan), if any."""

    @property
    def shown_verdict(self) -> Verdict | None:
        """The verdict, or ``error`` for a FAILED scan recorded without one (as its object's tag says)."""
        if self.verdict is None and self.status is ScanState.FAILED:
            return Verdict.ERROR
        return self.verdict

    @property
    def object_ref(self) -> str:
        """The ``ByObject`` index key of the scanned object version."""
        return object_ref(self.bucket, self.key, self.version_id)
