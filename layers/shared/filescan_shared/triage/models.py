"""Data models: what the triage step gets, what the LLM must answer and what gets stored."""

from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
)

from filescan_shared.report.fields import SeverityLabel
from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity, Verdict

SEVERITY_LABELS = tuple(s.label for s in Severity)


def _parse_severity(value: object) -> object:
    if isinstance(value, str) and not value.isdigit():
        return Severity.from_label(value)
    return value


SeverityField = Annotated[
    Severity,
    BeforeValidator(_parse_severity),
    PlainSerializer(lambda s: Severity(s).label, return_type=str),
]
"""A severity that accepts a label (``"high"``) or a number and serialises as its label."""


class TriageFinding(BaseModel):
    """One finding of the scanner. Every string here is untrusted (it may come from the file)."""

    model_config = ConfigDict(frozen=True)

    engine: str
    rule_id: str
    category: FindingCategory
    severity: SeverityField
    title: str
    archive_path: str | None = None
    offset: int | None = None
    evidence: str | None = None


class FileFacts(BaseModel):
    """The scanned object's facts."""

    model_config = ConfigDict(frozen=True)

    size: int = Field(ge=0)
    sha256: str
    mime: str | None = None


class TriageInput(BaseModel):
    """The deterministic analysis of one scan, as handed to the triage step."""

    model_config = ConfigDict(frozen=True)

    scan_id: str
    object_key: str
    file: FileFacts
    verdict: Verdict
    severity: SeverityField
    findings: tuple[TriageFinding, ...] = ()
    limits_hit: tuple[str, ...] = ()
    unscannable_reasons: tuple[str, ...] = ()
    engines_not_run: tuple[str, ...] = ()
    engines_errored: tuple[str, ...] = ()


SUMMARY_MAX_CHARS = 1200
ITEM_MAX_CHARS = 300
MAX_KEY_FINDINGS = 8
MAX_ACTIONS = 6

_Summary = Annotated[str, StringConstraints(min_length=1, max_length=SUMMARY_MAX_CHARS)]
_Item = Annotated[str, StringConstraints(min_length=1, max_length=ITEM_MAX_CHARS)]


class LlmAnswer(BaseModel):
    """A JSON object the LLM must answer, sent as a strict JSON schema named ``schema_name``."""

    schema_name: ClassVar[str]


class TriageAnswer(LlmAnswer):
    """The JSON object the LLM must answer. Anything else (extra keys, long strings) is garbage."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    schema_name: ClassVar[str] = "triage_answer"

    summary: _Summary
    key_findings: Annotated[list[_Item], Field(max_length=MAX_KEY_FINDINGS)]
    recommended_actions: Annotated[list[_Item], Field(max_length=MAX_ACTIONS)]
    suggested_severity: SeverityLabel


class TokenUsage(BaseModel):
    """Token usage as reported by the LLM endpoint."""

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


class FlaggedAnswer(BaseModel):
    """The model's words when they contradicted the verdict (made inert, as all model text)."""

    summary: str
    key_findings: list[str] = Field(default_factory=list)
    recommended_actions: list[str] = Field(default_factory=list)


class TriageResult(BaseModel):
    """What the analysis step stores as ``analysis`` on the scan record.

    No floats: latency is in milliseconds and the cost is a decimal string, so the JSON dump can go
    to DynamoDB as it is (see :meth:`to_item`).
    """

    engine: Literal["llm", "rules"]
    status: Literal["ok", "unavailable", "misconfigured"]
    """``unavailable``: an outage or a bad answer (retry later); ``misconfigured``: the endpoint
    refused the configuration (retired or unknown model, unsupported parameter, rejected key)."""
    reason: str | None = None
    reason_detail: str | None = None
    """One sentence for an operator (a configuration error's cause and fix)."""
    model: str | None = None
    base_url_host: str | None = None
    response_mode: str | None = None
    prompt_version: str | None = None
    tokenizer: str | None = None
    prompt_tokens_counted: int | None = None
    max_prompt_tokens: int | None = None
    findings_total: int = 0
    findings_in_prompt: int = 0
    findings_omitted: int = 0
    usage: TokenUsage | None = None
    cost_usd: str | None = None
    latency_ms: int = 0
    attempts: int = 0
    verdict: Verdict
    deterministic_severity: SeverityField
    suggested_severity: SeverityField | None = None
    final_severity: SeverityField
    contradiction: bool = False
    contradiction_reasons: list[str] = Field(default_factory=list)
    """Why the answer contradicts the verdict: ``lower_severity``, ``calls_file_safe``,
    ``recommends_release``."""
    llm_raised_severity: bool = False
    summary_source: Literal["llm", "rules"] = "rules"
    """Who wrote ``summary``, ``key_findings`` and ``recommended_actions``."""
    summary: str
    key_findings: list[str] = Field(default_factory=list)
    recommended_actions: list[str] = Field(default_factory=list)
    flagged_answer: FlaggedAnswer | None = None
    """A contradicting answer's text, kept as evidence only (never shown as the summary)."""

    def to_item(self) -> dict[str, Any]:
        """A DynamoDB-ready mapping (strings, ints, bools, lists, maps; ``None`` values dropped)."""
        item: dict[str, Any] = _drop_none(self.model_dump(mode="json"))
        return item

    @property
    def cost(self) -> Decimal | None:
        """The estimated cost as a ``Decimal`` (``None`` when unknown)."""
        return Decimal(self.cost_usd) if self.cost_usd is not None else None


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
