"""One engine's result for one scan, normalised: what the verdict across engines is computed from.

Every engine's output, however it is read (a filescan report, a declarative mapping, the LLM), ends
as an ``EngineResult``. Analysis keeps them on the combined report next to each engine's bounded raw
output, and the scan record keeps a compact row per engine (``records.EngineRun``).
"""

from __future__ import annotations

import enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from filescan_shared.report.fields import SeverityLabel
from filescan_shared.report.model import Finding
from filescan_shared.severity import Severity, Verdict

RAW_OUTPUT_EXCERPT_CHARS = 16_384
"""How much of an engine's raw output the combined report keeps (escaped text)."""


class EngineRunStatus(enum.StrEnum):
    """How an engine's job ended, as far as the verdict is concerned."""

    SUCCEEDED = "succeeded"
    """It exited with an ``ok`` code and its output was written."""
    UNSCANNABLE = "unscannable"
    """It exited with one of its ``unscannable`` codes."""
    FAILED = "failed"
    """It failed every attempt (crash, out of memory, transient errors) or never started."""
    TIMED_OUT = "timed_out"
    """An attempt ran past the engine's timeout."""


class ReadBy(enum.StrEnum):
    """What turned the engine's output into findings."""

    REPORT = "report"
    """The output is a filescan report: its findings and verdict are taken as they are."""
    MAPPING = "mapping"
    """The engine's declarative JMESPath mapping (deterministic)."""
    LLM = "llm"
    """The LLM, for an engine with no mapping: may add findings, never counts as clean unless trusted."""
    NONE = "none"
    """Nothing could be read (no output, unreadable output, the engine did not finish)."""


class EngineResult(BaseModel):
    """One engine's normalised result for one scan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engine: Annotated[str, Field(max_length=32)]
    required: bool
    status: EngineRunStatus
    read_by: ReadBy
    verdict: Verdict
    """This engine's own verdict (``clean`` only when it positively found nothing and is trusted)."""
    severity: SeverityLabel = Severity.NONE
    findings: list[Finding] = Field(default_factory=list)
    reasons: list[Annotated[str, Field(max_length=2000)]] = Field(default_factory=list)
    """Why the verdict is what it is (a failure, an unreadable output, an untrusted LLM reading)."""
    raw_output: Annotated[str, Field(max_length=RAW_OUTPUT_EXCERPT_CHARS)] | None = None
    """The beginning of the engine's raw output, escaped (the full output stays in the reports bucket)."""
    raw_output_bytes: Annotated[int, Field(ge=0)] = 0
    raw_output_key: str | None = None
