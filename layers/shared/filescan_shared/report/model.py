"""The scan report as typed models: the one definition of the report contract.

The scanner builds a ``Report``; analysis parses one; ``schema.json`` is generated from these models
(``python -m filescan_shared.report.schema``) and a test keeps the committed file equal to the
generated one. Scalars are strict (``"5"`` is not a number, ``1`` is not a string) as they were under
the hand-written JSON Schema; enums accept their values. Limit names, categories, statuses and
severities are closed vocabularies: anything else fails validation.

Importing this module builds the pydantic validators (tens of milliseconds): the scanner does it on
its warm-up thread and analysis on the first report it reads, never at start-up.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
)

from filescan_shared.report.fields import SeverityLabel
from filescan_shared.report.vocabulary import EngineStatus, FindingCategory, LimitName
from filescan_shared.severity import Verdict

Count = Annotated[StrictInt, Field(ge=0)]
Number = Annotated[float, Strict()]
Seconds = Annotated[Number, Field(ge=0)]
ArchivePath = Annotated[list[Annotated[StrictStr, Field(max_length=1000)]], Field(max_length=64)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Location(_Part):
    """Where something is: archive members from the top-level file, then a byte offset."""

    archive_path: ArchivePath
    offset: Count | None = None


class S3Object(_Part):
    """The scanned S3 object (``key`` exactly as S3 names it)."""

    source: Literal["s3"]
    bucket: Annotated[StrictStr, Field(max_length=63)]
    key: Annotated[StrictStr, Field(max_length=4200)]
    version_id: Annotated[StrictStr, Field(max_length=1024)] | None
    etag: Annotated[StrictStr, Field(max_length=200)] | None
    display_name: Annotated[StrictStr, Field(max_length=4200)]


class LocalObject(_Part):
    """The scanned local file."""

    source: Literal["local"]
    path: Annotated[StrictStr, Field(max_length=4200)]
    display_name: Annotated[StrictStr, Field(max_length=4200)]


class FileFacts(_Part):
    """Facts about the top-level file."""

    size: Count
    md5: Annotated[StrictStr, Field(pattern="^[0-9a-f]{32}$")] | None
    sha1: Annotated[StrictStr, Field(pattern="^[0-9a-f]{40}$")] | None
    sha256: Annotated[StrictStr, Field(pattern="^[0-9a-f]{64}$")] | None
    tlsh: Annotated[StrictStr, Field(max_length=100)] | None = None
    tlsh_bytes: Count = 0
    mime: Annotated[StrictStr, Field(max_length=200)] | None
    magic: Annotated[StrictStr, Field(max_length=200)] | None
    detected_kind: Annotated[StrictStr, Field(max_length=20)] | None = None
    extension: Annotated[StrictStr, Field(max_length=20)] | None = None
    extension_mismatch: StrictBool
    entropy: dict[str, Any] = Field(default_factory=dict)


class Engine(_Part):
    """One engine (analyzer) over every target it ran on."""

    name: Annotated[StrictStr, Field(max_length=100)]
    version: Annotated[StrictStr, Field(max_length=200)]
    rules_version: Annotated[StrictStr, Field(max_length=200)] | None = None
    status: EngineStatus
    seconds: Seconds
    targets: Count
    error: Annotated[StrictStr, Field(max_length=2000)] | None = None


class Finding(_Part):
    """One thing an engine found. Every string may come from the file: escaped and truncated."""

    engine: Annotated[StrictStr, Field(max_length=100)]
    rule_id: Annotated[StrictStr, Field(max_length=300)]
    category: FindingCategory
    severity: SeverityLabel
    title: Annotated[StrictStr, Field(max_length=500)]
    location: Location
    evidence: Annotated[StrictStr, Field(max_length=500)] | None = None


class Container(BaseModel):
    """An archive that was walked, with the archive engine's facts about it."""

    model_config = ConfigDict(extra="allow", frozen=True)

    archive_path: ArchivePath


class Member(_Part):
    """One archive member that was scanned."""

    archive_path: ArchivePath
    size: Count
    sha256: StrictStr | None = None
    mime: StrictStr | None = None
    findings: Count = 0


class ArchiveSummary(_Part):
    """What was found inside archives (capped lists)."""

    members_scanned: Count
    member_bytes: Count
    max_depth_reached: Count
    containers: list[Container]
    members: list[Member]
    members_capped: StrictBool


class LimitHit(_Part):
    """A bound that stopped inspection."""

    engine: StrictStr | None = None
    limit: LimitName
    value: StrictInt | Number
    detail: Annotated[StrictStr, Field(max_length=1000)]
    location: Location


class Uninspected(_Part):
    """Content an engine could not inspect (an encrypted member, a truncated stream...)."""

    engine: StrictStr
    reason: Annotated[StrictStr, Field(max_length=1000)]
    location: Location


class Stats(BaseModel):
    """How much was scanned and how fast."""

    model_config = ConfigDict(extra="allow", frozen=True)

    bytes: Count
    seconds: Seconds
    scan_seconds: Seconds = 0.0
    download_seconds: Seconds | None = None
    mib_per_s: Seconds | None
    peak_rss_bytes: Count
    cpu_seconds: Seconds | None = None
    """User + system CPU of the scanner and the engines it ran (right-sizing compares it with vCPUs)."""
    findings_total: Count = 0


class ScannerInfo(BaseModel):
    """The scanner and rules that wrote the report."""

    model_config = ConfigDict(extra="allow", frozen=True)

    version: StrictStr
    rules_version: StrictStr | None
    yara_x_version: StrictStr | None = None


class VerdictSection(_Part):
    """The deterministic verdict (``report.verdict.decide_verdict``)."""

    verdict: Verdict
    severity: SeverityLabel
    reasons: list[Annotated[StrictStr, Field(max_length=2000)]]


class ReportBody(_Part):
    """Everything the scanner reports except the verdict, which is computed from this."""

    schema_version: Literal["1.0"]
    scan_id: Annotated[StrictStr, Field(max_length=256)] | None
    object: Annotated[S3Object | LocalObject, Field(discriminator="source")]
    file: FileFacts | None = Field(description="null when the top-level file could not be read at all")
    engines: list[Engine]
    findings: list[Finding]
    archive: ArchiveSummary | None
    limits_hit: list[LimitHit]
    uninspected: list[Uninspected]
    unscannable_reasons: list[Annotated[StrictStr, Field(max_length=1000)]]
    stats: Stats
    started_at: Annotated[StrictStr, Field(json_schema_extra={"format": "date-time"})]
    finished_at: Annotated[StrictStr, Field(json_schema_extra={"format": "date-time"})]
    scanner: ScannerInfo
    error: Annotated[StrictStr, Field(max_length=2000)] | None = None


class Report(ReportBody):
    """A complete scan report, as the scanner writes it to ``reports/{scan_id}.json``."""

    model_config = ConfigDict(title="filescan scan report")

    verdict: VerdictSection

    @classmethod
    def with_verdict(cls, body: ReportBody, verdict: VerdictSection) -> Report:
        """``body`` completed with its ``verdict`` (both already validated: not validated again)."""
        fields = {name: getattr(body, name) for name in ReportBody.model_fields}
        return cls.model_construct(**fields, verdict=verdict)

    def document(self) -> dict[str, Any]:
        """The JSON document (plain dicts, lists and scalars)."""
        return self.model_dump(mode="json")
