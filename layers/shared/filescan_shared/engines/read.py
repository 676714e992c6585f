"""Reading one engine's output into its normalised ``EngineResult``.

Three readers, chosen by the engine's catalogue entry:

- a filescan report (``output: filescan-report``): its findings, and its verdict recomputed by
  ``report.verdict.decide_verdict``;
- a declarative mapping (``mapping:``): the output is parsed (JSON, JSON lines, or text lines through
  a regular expression) and JMESPath expressions pick the findings and their fields. Deterministic,
  and trusted: the engine is clean when ``nothing_found`` is true and nothing was found. Any other
  "no findings" (not JSON, a shape the mapping does not know, a truncated output) is unreadable;
- the LLM (no mapping): ``llm_reader`` extracts findings. Its "nothing found" is clean only when the
  operator set ``trust_llm_clean`` on the engine; otherwise the engine is ``suspicious`` (low), so it
  never releases the read gate by itself. The LLM is never asked when a mapping exists, so it can
  never remove what a mapping found.

The output is untrusted. Every string that reaches a finding is escaped and cut to the report
model's limits; parsing is bounded (``max_output_bytes``, a findings cap, a line-length cap) and every
failure (bad JSON, 100,000 nested levels, binary garbage, expressions yielding the wrong types) ends
as a reason on a not-clean result, never as an exception. Text inside the output ("report clean")
is data to the mapping: it cannot change what the expressions select.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import jmespath
from jmespath.exceptions import JMESPathError

from filescan_shared.engines.catalogue import OutputFormat
from filescan_shared.engines.results import RAW_OUTPUT_EXCERPT_CHARS, EngineResult, EngineRunStatus, ReadBy
from filescan_shared.engines.verdict import findings_verdict
from filescan_shared.report.model import Finding, Location
from filescan_shared.report.verdict import decide_verdict
from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity, Verdict

if TYPE_CHECKING:
    from jmespath.parser import ParsedResult

    from filescan_shared.engines.catalogue import EngineSpec, FindingMapping, TextParse
    from filescan_shared.report.model import Report

MAX_FINDINGS = 1000
"""Findings kept per engine; more are counted in the reasons (and the result cannot be clean)."""
MAX_LINE_CHARS = 65_536
"""Longer lines of a text or JSON-lines output are cut before matching (and the reading is incomplete)."""
MAX_LINES = 10_000
"""Non-blank lines of a text or JSON-lines output read; the rest is not (and the reading is incomplete).

JMESPath is evaluated by a pure-Python interpreter: a filter over 100,000 records takes seconds
(measured on the development machine), so the parsed output is kept to what a Lambda reads in well
under a second. clamscan prints a line per scanned file, yara a line per rule and string match."""
MAX_VALUES = 500_000
"""JSON values (objects, arrays, scalars) a parsed output may hold; a bigger one is not evaluated."""
MAX_REASONS = 10

# The report model's limits (report.model.Finding, Location): a longer string fails validation.
_RULE_ID_CHARS = 300
_TITLE_CHARS = 500
_EVIDENCE_CHARS = 500
_ARCHIVE_PART_CHARS = 1000
_ARCHIVE_DEPTH = 64
_REASON_CHARS = 2000
_MAX_OFFSET = 2**63 - 1
_ELLIPSIS = "..."

_PARSE_ERRORS = (ValueError, RecursionError, MemoryError)
"""What parsing untrusted JSON raises: bad syntax (``JSONDecodeError``), too deep, too big."""
_EVALUATION_ERRORS = (JMESPathError, RecursionError, TypeError, ValueError)
"""What evaluating a (valid) expression over untrusted data raises: type errors in functions, depth."""


class LlmReadingLike(Protocol):
    """What an LLM reading tells (``triage.engine_reader.LlmReading`` has these fields)."""

    @property
    def findings(self) -> Sequence[Finding]:
        """The findings it extracted."""
        ...

    @property
    def found_nothing(self) -> bool:
        """Whether it positively read "nothing found"."""
        ...

    @property
    def problems(self) -> Sequence[str]:
        """What went wrong (a chunk not read, a budget exhausted): any problem makes it incomplete."""
        ...


LlmReader = Callable[["EngineSpec", str], LlmReadingLike]
"""Reads an engine's raw output (decoded text) with the LLM (``triage.engine_reader``)."""


@dataclasses.dataclass
class _Reading:
    """What one reader made of the output, before the run's status is applied."""

    read_by: ReadBy
    findings: list[Finding] = dataclasses.field(default_factory=list)
    found_nothing: bool = False
    """The output positively says nothing was found (and whoever read it is trusted to say so)."""
    untrusted_nothing: bool = False
    """An LLM read "nothing found" but the engine's ``trust_llm_clean`` is off."""
    incomplete: list[str] = dataclasses.field(default_factory=list)
    """Why the reading did not see everything (truncated, capped, unparsable parts)."""
    decided: Verdict | None = None
    """A verdict decided by the reader itself (a filescan report's)."""
    severity: Severity = Severity.NONE
    notes: list[str] = dataclasses.field(default_factory=list)


def read_engine_result(
    spec: EngineSpec,
    *,
    status: EngineRunStatus,
    output: bytes | None,
    output_key: str | None,
    report: Report | None,
    llm_reader: LlmReader | None,
    output_truncated: bool = False,
) -> EngineResult:
    """``spec``'s normalised result for one run: its findings, its own verdict and why.

    ``output`` is the engine's raw output (at most ``max_output_bytes`` of it is read),
    ``output_truncated`` whether the collector already cut it, ``report`` the filescan report of a
    ``filescan-report`` engine, ``llm_reader`` the LLM for an engine with no mapping (called only
    when the run succeeded). Never raises on anything the engine wrote.
    """
    head = None if output is None else output[: spec.max_output_bytes]
    truncated = output_truncated or (output is not None and len(output) > spec.max_output_bytes)
    reading = _read(spec, status, head, report, llm_reader)
    if truncated:
        reading.incomplete.insert(
            0, f"output truncated at {spec.max_output_bytes} bytes: not read completely"
        )
    verdict, severity, reasons = _decide(spec, status, reading)
    return EngineResult(
        engine=spec.name,
        required=spec.required,
        status=status,
        read_by=reading.read_by,
        verdict=verdict,
        severity=severity,
        findings=reading.findings,
        reasons=[reason[:_REASON_CHARS] for reason in _cap(reasons)],
        raw_output=None if output is None else _excerpt(output),
        raw_output_bytes=0 if output is None else len(output),
        raw_output_key=output_key,
    )


def _read(
    spec: EngineSpec,
    status: EngineRunStatus,
    head: bytes | None,
    report: Report | None,
    llm_reader: LlmReader | None,
) -> _Reading:
    if spec.output is OutputFormat.FILESCAN_REPORT:
        return _read_report(report)
    if head is None:
        return _Reading(ReadBy.NONE, incomplete=["no output"])
    if spec.mapping is not None:
        return _read_mapped(spec.name, spec.mapping, head)
    if status is not EngineRunStatus.SUCCEEDED:
        return _Reading(
            ReadBy.NONE, incomplete=["the run did not succeed: its output is not sent to the LLM"]
        )
    if llm_reader is None:
        return _Reading(ReadBy.NONE, incomplete=["no mapping and no LLM reader: the output was not read"])
    return _read_by_llm(spec, head, llm_reader)


def _decide(
    spec: EngineSpec, status: EngineRunStatus, reading: _Reading
) -> tuple[Verdict, Severity, list[str]]:
    """The engine's verdict: what its findings say, never lowered; not clean when anything failed."""
    severity = max([reading.severity, *(finding.severity for finding in reading.findings)])
    reasons = [*_describe_findings(reading.findings), *reading.notes, *reading.incomplete]
    failure = _status_failure(spec, status)
    by_findings = findings_verdict(reading.findings)
    said = {reading.decided, by_findings}
    unreadable = not (reading.found_nothing or reading.findings or reading.untrusted_nothing)
    rules = (  # first match wins
        (Verdict.MALICIOUS in said, Verdict.MALICIOUS),
        (Verdict.SUSPICIOUS in said, Verdict.SUSPICIOUS),
        (
            failure is not None,
            Verdict.UNSCANNABLE if status is EngineRunStatus.UNSCANNABLE else Verdict.ERROR,
        ),
        (reading.decided is not None, reading.decided or Verdict.ERROR),
        (bool(reading.incomplete) or unreadable, Verdict.ERROR),
        (reading.untrusted_nothing, Verdict.SUSPICIOUS),
        (True, Verdict.CLEAN),
    )
    verdict = next(verdict for matched, verdict in rules if matched)
    if failure:
        reasons.insert(0, failure)
    elif reading.decided is None and unreadable and not reading.incomplete:
        reasons.append("output unreadable: no findings, and it does not say that nothing was found")
    if verdict is Verdict.SUSPICIOUS and reading.untrusted_nothing:
        severity = max(severity, Severity.LOW)
    return verdict, severity, reasons or [f"{spec.name}: nothing found"]


def _status_failure(spec: EngineSpec, status: EngineRunStatus) -> str | None:
    match status:
        case EngineRunStatus.SUCCEEDED:
            return None
        case EngineRunStatus.UNSCANNABLE:
            return f"engine {spec.name}: the input is unscannable (an exit code in exit_codes.unscannable)"
        case EngineRunStatus.TIMED_OUT:
            return f"engine {spec.name} timed out (timeout {spec.timeout_seconds} s per attempt)"
        case EngineRunStatus.FAILED:
            return f"engine {spec.name} failed (every attempt, or it never ran)"


def _describe_findings(findings: list[Finding]) -> list[str]:
    if not findings:
        return []
    top = max(findings, key=lambda finding: finding.severity)
    return [
        f"{len(findings)} finding(s), top: {top.severity.label} {top.category}: {top.title} ({top.rule_id})"
    ]


# --- the filescan report ---------------------------------------------------------------------------


def _read_report(report: Report | None) -> _Reading:
    if report is None:
        return _Reading(ReadBy.NONE, incomplete=["no filescan report"])
    decision = decide_verdict(report)
    findings = list(report.findings[:MAX_FINDINGS])
    reading = _Reading(ReadBy.REPORT, findings=findings, decided=decision.verdict, severity=decision.severity)
    reading.notes.extend(decision.reasons)
    if len(report.findings) > MAX_FINDINGS:
        reading.notes.append(f"{len(report.findings) - MAX_FINDINGS} more finding(s) in the report")
    return reading


# --- the declarative mapping -----------------------------------------------------------------------


@functools.lru_cache(maxsize=512)
def _expression(source: str) -> ParsedResult:
    """A compiled JMESPath expression (catalogue expressions are few; compiled once per process)."""
    return jmespath.compile(source)


@functools.lru_cache(maxsize=64)
def _pattern(source: str) -> re.Pattern[str]:
    return re.compile(source)


def _search(source: str, data: object) -> object:
    return _expression(source).search(data)


def _read_mapped(engine: str, mapping: FindingMapping, head: bytes) -> _Reading:
    text = head.decode("utf-8", "replace")
    incomplete: list[str] = []
    try:
        document = _parse(text, mapping, incomplete)
    except _TooBigError as error:
        return _Reading(ReadBy.NONE, incomplete=[*incomplete, f"output too big to evaluate: {error}"])
    except _PARSE_ERRORS as error:
        return _Reading(ReadBy.NONE, incomplete=[f"output is not {mapping.parse}: {_error_text(error)}"])
    try:
        items = _search(mapping.findings, document)
    except _EVALUATION_ERRORS as error:
        return _Reading(ReadBy.NONE, incomplete=[f"findings could not be evaluated: {_error_text(error)}"])
    try:
        nothing = _search(mapping.nothing_found, document) is True
    except _EVALUATION_ERRORS as error:
        nothing = False
        incomplete.append(f"nothing_found could not be evaluated: {_error_text(error)}")
    if items is None:
        items = []
    if not isinstance(items, list):
        kind = type(items).__name__
        return _Reading(ReadBy.NONE, incomplete=[f"the findings expression gave a {kind}, not a list"])
    if len(items) > MAX_FINDINGS:
        incomplete.append(f"{len(items)} findings, only the first {MAX_FINDINGS} read")
    fields = _FieldReader(engine, mapping)
    findings = [fields.finding(item) for item in items[:MAX_FINDINGS]]
    if fields.errors:
        incomplete.append(f"{fields.errors} field expression(s) failed on this output (defaults used)")
    return _Reading(ReadBy.MAPPING, findings=findings, found_nothing=nothing, incomplete=incomplete)


def _error_text(error: BaseException) -> str:
    return _bounded(f"{type(error).__name__}: {error}", 300)


class _TooBigError(ValueError):
    """The parsed output holds more values than the reader evaluates."""


def _parse(text: str, mapping: FindingMapping, incomplete: list[str]) -> object:
    if mapping.parse is OutputFormat.JSON:
        document: object = json.loads(text)
    else:
        lines = _lines(text, incomplete)
        if mapping.parse is OutputFormat.JSONL:
            document = [_json_line(line) for line in lines]
        elif mapping.text is None:  # the catalogue requires a pattern for text; a guard, not a path
            raise ValueError("no line pattern")
        else:
            document = _text_records(lines, mapping.text)
    if _exceeds(document, MAX_VALUES):
        raise _TooBigError(f"more than {MAX_VALUES} values: not evaluated")
    return document


def _lines(text: str, incomplete: list[str]) -> list[str]:
    """The first ``MAX_LINES`` non-blank lines, each cut at ``MAX_LINE_CHARS`` (both noted)."""
    lines: list[str] = []
    cut = 0
    start = 0
    while start < len(text) and len(lines) < MAX_LINES:
        end = text.find("\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].removesuffix("\r")
        start = end + 1
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            cut += 1
            line = line[:MAX_LINE_CHARS]
        lines.append(line)
    if cut:
        incomplete.append(f"{cut} line(s) longer than {MAX_LINE_CHARS} characters cut")
    if text[start:].strip():
        incomplete.append(f"only the first {MAX_LINES} lines read")
    return lines


def _exceeds(document: object, budget: int) -> bool:
    """Whether ``document`` holds more than ``budget`` values (stops counting there)."""
    pending = [document]
    seen = 0
    while pending:
        value = pending.pop()
        seen += 1
        if seen > budget:
            return True
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _json_line(line: str) -> object:
    try:
        return json.loads(line)
    except _PARSE_ERRORS:
        return {"unparsed": line}


def _text_records(lines: list[str], parse: TextParse) -> list[dict[str, object]]:
    line_pattern = _pattern(parse.line_pattern)
    detail_pattern = _pattern(parse.detail_pattern) if parse.detail_pattern else None
    records: list[dict[str, object]] = []
    for line in lines:
        detail = detail_pattern.match(line) if detail_pattern else None
        if detail and records:
            details = records[-1].setdefault("details", [])
            if isinstance(details, list):
                details.append(_present(detail.groupdict()))
            continue
        match = line_pattern.match(line)
        records.append(_present(match.groupdict()) if match else {"unparsed": line})
    return records


def _present(groups: dict[str, str | None]) -> dict[str, object]:
    """The groups that matched (a group that did not is absent, which JMESPath reads as null)."""
    return {name: value for name, value in groups.items() if value is not None}


class _FieldReader:
    """Evaluates one mapping's field expressions on each finding object, never trusting the types."""

    def __init__(self, engine: str, mapping: FindingMapping) -> None:
        self.engine = engine
        self.mapping = mapping
        self.errors = 0

    def _value(self, source: str | None, item: object) -> object:
        if source is None:
            return None
        try:
            return _search(source, item)
        except _EVALUATION_ERRORS:
            self.errors += 1
            return None

    def finding(self, item: object) -> Finding:
        m = self.mapping
        rule_id = _as_text(self._value(m.rule_id, item)) or "unknown"
        title = _as_text(self._value(m.title, item)) or rule_id
        evidence = _as_text(self._value(m.evidence, item))
        return Finding(
            engine=self.engine,
            rule_id=_bounded(rule_id, _RULE_ID_CHARS),
            category=self._category(self._value(m.category, item)),
            severity=self._severity(self._value(m.severity, item)),
            title=_bounded(title, _TITLE_CHARS),
            location=Location(
                archive_path=_archive_path(self._value(m.archive_path, item)),
                offset=_offset(self._value(m.offset, item)),
            ),
            evidence=None if evidence is None else _bounded(evidence, _EVIDENCE_CHARS),
        )

    def _severity(self, value: object) -> Severity:
        m = self.mapping
        return _lookup(value, m.severity_map, Severity.from_label, m.default_severity)

    def _category(self, value: object) -> FindingCategory:
        m = self.mapping
        return _lookup(value, m.category_map, FindingCategory, m.default_category)


def _lookup[T](value: object, table: Mapping[str, T], parse: Callable[[str], T], default: T) -> T:
    """``value``'s label looked up in the mapping's ``table``, else parsed as a name, else ``default``."""
    label = _as_text(value)
    if label is None:
        return default
    if label in table:
        return table[label]
    try:
        return parse(label.lower())
    except ValueError:
        return default


def _as_text(value: object) -> str | None:
    """Any JSON value as text: strings as they are, scalars printed, objects and lists as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))[: _ARCHIVE_PART_CHARS + 1]
    except _EVALUATION_ERRORS:
        return f"<{type(value).__name__}>"


def _archive_path(value: object) -> list[str]:
    parts = value if isinstance(value, list) else [] if value is None else [value]
    texts = (_as_text(part) for part in parts[:_ARCHIVE_DEPTH])
    return [_bounded(text, _ARCHIVE_PART_CHARS) for text in texts if text]


def _offset(value: object) -> int | None:
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0)  # "4096", "0x1000" (yara -s prints hex)
        except ValueError:
            return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_OFFSET:
        return value
    return None


def _bounded(text: str, limit: int) -> str:
    r"""``text`` with control, format and bidi characters escaped (``\uXXXX``), at most ``limit`` long.

    The scanner's own escaper (``filescan_scanner.text``) is not in the Lambda layer; this uses the
    layer's ``triage.text.escape_controls``, which keeps printable Unicode (names in other scripts
    stay readable) and makes everything that could change how text is laid out or read inert.
    """
    escaped = _escape(text[: limit + 1])
    return escaped if len(escaped) <= limit else escaped[: limit - len(_ELLIPSIS)] + _ELLIPSIS


def _excerpt(output: bytes) -> str:
    """The beginning of the raw output as text: UTF-8 (bad bytes replaced), controls escaped but newlines."""
    text = output[:RAW_OUTPUT_EXCERPT_CHARS].decode("utf-8", "replace")
    return "\n".join(_escape(line) for line in text.split("\n"))[:RAW_OUTPUT_EXCERPT_CHARS]


def _escape(text: str) -> str:
    # Imported here: the triage package's __init__ loads the LLM triage models, which a handler
    # importing this module at a cold start must not pay for (tests/unit/test_cold_import.py).
    from filescan_shared.triage.text import escape_controls  # noqa: PLC0415

    return escape_controls(text)


# --- the LLM -------------------------------------------------------------------------------------


def _read_by_llm(spec: EngineSpec, head: bytes, llm_reader: LlmReader) -> _Reading:
    try:
        reading = llm_reader(spec, head.decode("utf-8", "replace"))
    except Exception as error:  # any failure of the reader is an unread output, never a crash
        return _Reading(ReadBy.LLM, incomplete=[f"the LLM reading failed: {_error_text(error)}"])
    findings = [
        finding.model_copy(update={"engine": spec.name}) for finding in reading.findings[:MAX_FINDINGS]
    ]
    incomplete = [f"LLM: {_bounded(problem, 500)}" for problem in reading.problems]
    if len(reading.findings) > MAX_FINDINGS:
        incomplete.append(f"{len(reading.findings)} LLM findings, only the first {MAX_FINDINGS} kept")
    nothing = reading.found_nothing and not findings
    trusted = nothing and spec.trust_llm_clean
    notes = (
        ["read by the LLM only; trusted as clean (trust_llm_clean: true)"]
        if trusted
        else ["read by the LLM only; not trusted as clean (trust_llm_clean: false)"]
        if nothing
        else ["read by the LLM"]
    )
    untrusted = (nothing and not trusted) or bool(findings and not spec.trust_llm_clean)
    return _Reading(
        ReadBy.LLM,
        findings=findings,
        found_nothing=trusted,
        untrusted_nothing=untrusted,
        incomplete=incomplete,
        notes=notes,
    )


def _cap(items: list[str]) -> list[str]:
    if len(items) <= MAX_REASONS:
        return items
    return [*items[:MAX_REASONS], f"... {len(items) - MAX_REASONS} more"]


__all__ = ["MAX_FINDINGS", "LlmReader", "LlmReadingLike", "read_engine_result"]
