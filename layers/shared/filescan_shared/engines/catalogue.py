"""The engine catalogue: every engine a deployment can run, as validated configuration.

The source is ``engines/catalogue.yaml`` at the repository root (reviewed like code). ``make engines``
validates it with these models and writes the generated parts: the template's per-engine resources
and ``catalogue.json`` next to this module, which the Lambda layer ships. A deployment enables a
subset with the ``EnabledEngines`` parameter; every job of an enabled engine is tracked on the scan
record and the scan is analysed once all of them are terminal.
"""

from __future__ import annotations

import enum
import functools
import json
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from filescan_shared.ids import ENGINE_NAME_PATTERN
from filescan_shared.report.fields import SeverityLabel
from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity

EngineName = Annotated[str, Field(pattern=ENGINE_NAME_PATTERN)]
Expression = Annotated[str, Field(min_length=1, max_length=2000)]
"""A JMESPath expression (compiled when the catalogue is loaded, so a typo fails at review time)."""

PLACEHOLDERS = frozenset(
    {"input", "input_uri", "bucket", "key", "version_id", "scan_id", "output", "output_dir"}
)
"""What a command template may name in braces: ``{input}`` is the object's local path (``input:
path``), ``{input_uri}`` its ``s3://`` URI, ``{output}`` the file the engine writes its result to."""

BUNDLED_CATALOGUE = Path(__file__).with_name("catalogue.json")


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputMode(enum.StrEnum):
    """How an engine gets the object."""

    PATH = "path"
    """A fetch container copies the object to a local path first (``{input}``): any tool works."""
    S3 = "s3"
    """The engine reads S3 itself (``{input_uri}``, ``{bucket}``...); its job role may read the object."""


class OutputFormat(enum.StrEnum):
    """What an engine's output is, which decides how it is read."""

    FILESCAN_REPORT = "filescan-report"
    """A filescan report (``report.model.Report``), written by the engine to ``reports/{scan_id}.json``."""
    JSON = "json"
    JSONL = "jsonl"
    TEXT = "text"


class ImageSource(_Config):
    """Where the engine's image comes from: built from a directory of this repository, or a URI."""

    build: str | None = None
    """A directory with a Dockerfile (``scanner_job``, ``engines/clamav``); the stack owns its repository."""
    uri: str | None = None
    """An image already in a registry the job's execution role may pull from (an ECR URI)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageSource:
        if (self.build is None) == (self.uri is None):
            raise ValueError("an image is either 'build' (a directory) or 'uri', exactly one")
        return self


class ExitCodes(_Config):
    """What the engine's exit codes mean. Any other code is a transient failure, retried by Batch."""

    ok: list[int] = Field(default_factory=lambda: [0], min_length=1)
    """Codes after which the output is read (``clamscan`` exits 1 when it found something)."""
    unscannable: list[int] = Field(default_factory=list)
    """Codes that mean "this input cannot be scanned": not retried; the engine's result is unscannable."""

    @model_validator(mode="after")
    def _disjoint(self) -> ExitCodes:
        if set(self.ok) & set(self.unscannable):
            raise ValueError("an exit code cannot be both ok and unscannable")
        return self


class TextParse(_Config):
    """How text output becomes JSON records before the mapping applies: one regex per line.

    Each non-blank line is matched from its start (``re.match``; anchor the end with ``$``). A line
    matching ``line_pattern`` becomes one object of its named groups; a line matching
    ``detail_pattern`` is appended (its named groups) to the previous object's ``details`` list (how
    ``yara -s`` prints a rule's string matches under it); any other line becomes
    ``{"unparsed": line}``, so output the pattern does not know stays visible to ``nothing_found``.
    """

    line_pattern: Annotated[str, Field(min_length=1, max_length=2000)]
    """A Python regular expression with named groups; each matching line becomes one object."""
    detail_pattern: Annotated[str, Field(min_length=1, max_length=2000)] | None = None
    """A regular expression for lines that belong to the object before them (tried first)."""

    @model_validator(mode="after")
    def _compiles(self) -> TextParse:
        import re  # noqa: PLC0415 - only catalogue loading compiles patterns

        for pattern in (self.line_pattern, self.detail_pattern):
            if pattern is None:
                continue
            try:
                compiled = re.compile(pattern)
            except re.error as error:
                raise ValueError(f"not a regular expression: {error}") from None
            if not compiled.groupindex:
                raise ValueError(f"{pattern!r} has no named group: it would produce empty objects")
        return self


class FindingMapping(_Config):
    """A declarative mapping from an engine's output to filescan findings (JMESPath throughout).

    ``findings`` selects the list of finding objects from the parsed output (for ``text`` and
    ``jsonl`` the parsed output is the list of line objects); each field expression is evaluated
    against one of them. ``nothing_found`` is evaluated against the whole parsed output and must be
    true for the engine's result to count as "found nothing" (anything else with no findings is
    unreadable, never clean).
    """

    parse: OutputFormat = OutputFormat.JSON
    text: TextParse | None = None
    findings: Expression
    rule_id: Expression
    title: Expression
    severity: Expression | None = None
    """An expression giving a label looked up in ``severity_map`` (or a severity name)."""
    severity_map: dict[str, SeverityLabel] = Field(default_factory=dict)
    """Labels the engine prints -> severities, written as their labels (``high``)."""
    default_severity: SeverityLabel = Severity.HIGH
    category: Expression | None = None
    category_map: dict[str, FindingCategory] = Field(default_factory=dict)
    default_category: FindingCategory = FindingCategory.MALWARE
    archive_path: Expression | None = None
    offset: Expression | None = None
    evidence: Expression | None = None
    nothing_found: Expression

    @model_validator(mode="after")
    def _well_formed(self) -> FindingMapping:
        if (self.parse is OutputFormat.TEXT) != (self.text is not None):
            raise ValueError("'text' (a line pattern) is required exactly when parse is 'text'")
        import jmespath  # noqa: PLC0415 - only catalogue loading compiles expressions
        from jmespath.exceptions import JMESPathError  # noqa: PLC0415

        for field in _EXPRESSION_FIELDS:
            expression = getattr(self, field)
            if expression is None:
                continue
            try:
                jmespath.compile(expression)
            except JMESPathError as error:
                raise ValueError(f"{field}: not a JMESPath expression: {error}") from None
        return self


_EXPRESSION_FIELDS = (
    "findings",
    "rule_id",
    "title",
    "severity",
    "category",
    "archive_path",
    "offset",
    "evidence",
    "nothing_found",
)


class EngineSpec(_Config):
    """One engine: image, command template, resources, timeout, exit codes and how to read it."""

    name: EngineName
    description: Annotated[str, Field(max_length=500)] = ""
    image: ImageSource
    command: list[Annotated[str, Field(max_length=1000)]] = Field(min_length=1, max_length=64)
    local_command: list[Annotated[str, Field(max_length=1000)]] | None = None
    """The same engine as a command on the developer's machine, for local stacks with no image runner."""
    input: InputMode = InputMode.PATH
    output: OutputFormat = OutputFormat.JSON
    vcpu: Annotated[float, Field(gt=0, le=16)] = 1.0
    memory_mib: Annotated[int, Field(ge=512, le=122880)] = 2048
    timeout_seconds: Annotated[int, Field(ge=60, le=14 * 24 * 3600)] = 3600
    attempts: Annotated[int, Field(ge=1, le=10)] = 3
    spot_interruptions_before_on_demand: Annotated[int, Field(ge=0, le=10)] = 2
    """A job interrupted on Spot this many times is resubmitted to the on-demand queue (0: never)."""
    exit_codes: ExitCodes = ExitCodes()
    required: bool = True
    """A required engine that did not finish makes the scan not clean; an optional one is only recorded."""
    mapping: FindingMapping | None = None
    """How to read the output; ``None`` (and not a filescan report) means the LLM reads it."""
    trust_llm_clean: bool = False
    """Whether an LLM-read "nothing found" may count as clean (and so release the read gate)."""
    max_output_bytes: Annotated[int, Field(ge=1024, le=64 * 1024**2)] = 8 * 1024**2

    @model_validator(mode="after")
    def _placeholders_known(self) -> EngineSpec:
        for part in [*self.command, *(self.local_command or [])]:
            unknown = {name for name in _placeholders(part) if name not in PLACEHOLDERS}
            if unknown:
                raise ValueError(f"unknown placeholder(s) {sorted(unknown)} in {part!r}")
        if self.output is not OutputFormat.FILESCAN_REPORT and not _names_output(self):
            raise ValueError("the command must name {output} (where the engine writes its result)")
        if self.output is OutputFormat.FILESCAN_REPORT and self.mapping is not None:
            raise ValueError("a filescan report is read natively: no mapping")
        return self

    @property
    def read_by_llm(self) -> bool:
        """Whether no deterministic reader exists for this engine's output, so the LLM reads it."""
        return self.output is not OutputFormat.FILESCAN_REPORT and self.mapping is None


def _placeholders(part: str) -> set[str]:
    import string  # noqa: PLC0415 - only catalogue loading needs it

    return {field for _, field, _, _ in string.Formatter().parse(part) if field}


def _names_output(spec: EngineSpec) -> bool:
    return any("output" in _placeholders(part) for part in spec.command)


class Catalogue(_Config):
    """Every engine a deployment can run, by name."""

    engines: Annotated[list[EngineSpec], Field(min_length=1, max_length=20)]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        names = [engine.name for engine in self.engines]
        if len(names) != len(set(names)):
            raise ValueError("engine names must be unique")
        return self

    def get(self, name: str) -> EngineSpec:
        """The engine called ``name``; ``KeyError`` when the catalogue has none."""
        for engine in self.engines:
            if engine.name == name:
                return engine
        raise KeyError(name)

    def enabled(self, names: list[str]) -> list[EngineSpec]:
        """The engines named in ``names`` (a deployment's ``EnabledEngines``), in that order.

        An unknown name is a configuration error (``KeyError``), never a silently skipped engine.
        """
        return [self.get(name) for name in names]


def parse_catalogue(document: object) -> Catalogue:
    """Validate a catalogue document (parsed YAML or JSON)."""
    return Catalogue.model_validate(document)


@functools.cache
def bundled_catalogue() -> Catalogue:
    """The catalogue shipped with the layer (``catalogue.json``, generated by ``make engines``)."""
    return parse_catalogue(json.loads(BUNDLED_CATALOGUE.read_text(encoding="utf-8")))


FILESCAN_ENGINE = "filescan"
"""filescan's own scanner's engine name."""

__all__ = [
    "FILESCAN_ENGINE",
    "Catalogue",
    "EngineSpec",
    "FindingMapping",
    "ImageSource",
    "InputMode",
    "OutputFormat",
    "bundled_catalogue",
    "parse_catalogue",
]
