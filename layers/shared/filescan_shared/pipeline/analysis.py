"""Analysis: a finished Batch job -> the scan's verdict, triage summary, final state and publication.

SUCCEEDED reads the report, validates it, derives the verdict deterministically and asks the triage
step for a summary (which can raise the severity, never lower it). The scanner's unscannable exit
code completes the scan with verdict ``unscannable``. Any other FAILED job fails the scan with the
reason, exit code and attempts. A missing or invalid report is never read as clean: it is an ``error``.

Publishing (verdict tag, optional quarantine, outcome event) happens after the final state is
written and is marked with ``published_at``; a redelivered completion event re-publishes a scan whose
publication was interrupted, so no finished scan stays untagged.

The report model (its pydantic validators) and the triage package (pydantic models, the openai
client) are imported on first use: only SUCCEEDED jobs need them, and importing them at module level
would add about 110 ms to every cold start (measured with bench/cold_start.py).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import is_missing_object
from filescan_shared.batch_events import JobStateDetail
from filescan_shared.exit_codes import ExitCode
from filescan_shared.pipeline.cost import FargatePrices, estimate_job_cost
from filescan_shared.pipeline.job_status import record_attempts
from filescan_shared.pipeline.publish import publish_outcome
from filescan_shared.records import ScanFields, ScanRecord
from filescan_shared.report.verdict import decide_verdict
from filescan_shared.report.vocabulary import EngineStatus
from filescan_shared.repository import ScanStore
from filescan_shared.settings import AnalysisSettings, ConfigurationError
from filescan_shared.severity import Severity, Verdict
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

    from filescan_shared.report.model import Engine, Finding, Report
    from filescan_shared.triage import LlmConfig, TriageInput

MAX_REPORT_BYTES = 64 * 1024**2
TOP_FINDINGS = 20
TRIAGE_SAFETY_MARGIN_SECONDS = 10.0


class AnalysisOutcome(enum.StrEnum):
    """What a completion event did."""

    COMPLETED = "completed"
    FAILED = "failed"
    REPUBLISHED = "republished"
    DUPLICATE = "duplicate"
    FOREIGN = "foreign"
    UNKNOWN_SCAN = "unknown_scan"


@dataclasses.dataclass(frozen=True)
class AnalysisDeps:
    """What analysis talks to; the handler builds it from cached clients, tests from their own."""

    repository: ScanStore
    s3: S3Client
    events: EventBridgeClient
    settings: AnalysisSettings
    llm: Callable[[], LlmConfig]
    """Builds the LLM configuration (reads the API key) when a triage actually runs."""
    remaining_seconds: Callable[[], float]


@dataclasses.dataclass(frozen=True)
class AnalysisResult:
    """The outcome, and the final record when this call finished the scan (for metrics)."""

    outcome: AnalysisOutcome
    record: ScanRecord | None = None
    report_bytes: int | None = None


def screen(detail: JobStateDetail, deps: AnalysisDeps) -> AnalysisOutcome | None:
    """Why this event is ignored (``FOREIGN``, ``UNKNOWN_SCAN``), or ``None`` when it is a scan's to finish.

    The handler screens events *before* its idempotency layer, so an ignored event is never stored
    as the result of a real (job id, status) key and cannot shadow the genuine completion.
    """
    found = _accept(detail, deps)
    return found if isinstance(found, AnalysisOutcome) else None


def _accept(detail: JobStateDetail, deps: AnalysisDeps) -> ScanRecord | AnalysisOutcome:
    ours = detail.scan_id is not None and detail.job_queue in deps.settings.job_queues
    if not ours or detail.scan_id is None or detail.status not in {"SUCCEEDED", "FAILED"}:
        return AnalysisOutcome.FOREIGN
    return deps.repository.get(detail.scan_id) or AnalysisOutcome.UNKNOWN_SCAN


def finish_job(detail: JobStateDetail, deps: AnalysisDeps) -> AnalysisResult:
    """Conclude the scan of a SUCCEEDED or FAILED job; duplicates and foreign jobs are no-ops."""
    record = _accept(detail, deps)
    if isinstance(record, AnalysisOutcome):
        return AnalysisResult(record)
    scan_id = record.scan_id
    record_attempts(detail, repository=deps.repository, scan_id=scan_id)
    if record.status.terminal:
        if record.published_at is None:
            publish(record, deps)
            return AnalysisResult(AnalysisOutcome.REPUBLISHED, record)
        return AnalysisResult(AnalysisOutcome.DUPLICATE, record)

    job = ScanFields(
        job_id=detail.job_id,
        cost=estimate_job_cost(
            detail,
            prices=FargatePrices.from_json(deps.settings.fargate_prices),
            spot=detail.job_queue == deps.settings.job_queue_standard,
        ),
        timings=_timings(detail),
    )
    return conclude_scan(
        record,
        deps,
        status=detail.status,
        exit_code=detail.last_exit_code,
        failure_reason=_failure_reason(detail),
        run=job,
    )


def conclude_scan(
    record: ScanRecord,
    deps: AnalysisDeps,
    *,
    status: str,
    exit_code: int | None,
    failure_reason: str,
    run: ScanFields,
) -> AnalysisResult:
    """Record the verdict of a scanner run that ended (a Batch job, or the Lambda fast path) and publish.

    ``status`` is ``SUCCEEDED`` or ``FAILED`` (with ``exit_code`` 65: unscannable, completed from its
    report; any other failure fails the scan with ``failure_reason``). ``run`` carries the run's own
    fields (job id and queue, cost, timings). A scan another caller concluded first is a ``DUPLICATE``.
    """
    scan_id = record.scan_id
    state, fields, report_bytes = _conclude(record, deps, status, exit_code, failure_reason)
    if not deps.repository.advance(scan_id, state, fields.merged(run)):
        return AnalysisResult(AnalysisOutcome.DUPLICATE, record)
    done = deps.repository.get(scan_id)
    assert done is not None  # we just wrote it; records are never deleted
    publish(done, deps)
    outcome = AnalysisOutcome.COMPLETED if state is ScanState.COMPLETE else AnalysisOutcome.FAILED
    return AnalysisResult(outcome, done, report_bytes)


def publish(record: ScanRecord, deps: AnalysisDeps) -> None:
    """Publish a finished scan with the configured quarantine action."""
    publish_outcome(
        record,
        s3=deps.s3,
        events=deps.events,
        repository=deps.repository,
        bus_name=deps.settings.event_bus_name,
        quarantine_mode=deps.settings.quarantine_mode,
        quarantine_prefix=deps.settings.quarantine_prefix,
    )


def _conclude(
    record: ScanRecord, deps: AnalysisDeps, status: str, exit_code: int | None, failure_reason: str
) -> tuple[ScanState, ScanFields, int | None]:
    unscannable = status == "FAILED" and exit_code == ExitCode.UNSCANNABLE
    if status == "FAILED" and not unscannable:
        return ScanState.FAILED, ScanFields(failure_reason=failure_reason, verdict=Verdict.ERROR), None
    deps.repository.advance(record.scan_id, ScanState.ANALYZING)
    report_key = deps.settings.report_key(record.scan_id)
    report, problem, size = _load_report(deps, report_key, record.scan_id)
    if report is None:
        verdict = Verdict.UNSCANNABLE if unscannable else Verdict.ERROR
        reason = problem if not unscannable else f"scanner exit code {ExitCode.UNSCANNABLE}: {problem}"
        fields = ScanFields(verdict=verdict, severity=Severity.MEDIUM, verdict_reasons=[reason])
        return ScanState.COMPLETE, fields, size
    decision = decide_verdict(report)
    if unscannable and decision.verdict is Verdict.CLEAN:
        decision = dataclasses.replace(decision, verdict=Verdict.UNSCANNABLE)
    from filescan_shared.triage import misconfigured, triage  # noqa: PLC0415 - see the module docstring

    triage_input = triage_input_from_report(record, report, decision.verdict, decision.severity)
    budget = max(1.0, deps.remaining_seconds() - TRIAGE_SAFETY_MARGIN_SECONDS)
    try:
        llm = deps.llm()
    except ConfigurationError as error:
        summary = misconfigured(triage_input, str(error))
    else:
        summary = triage(triage_input, llm, deadline_seconds=budget)
    file_facts = report.file
    fields = ScanFields(
        verdict=decision.verdict,
        severity=summary.final_severity,
        verdict_reasons=list(decision.reasons),
        report_key=report_key,
        findings_count=len(report.findings),
        top_findings=[_compact(f) for f in _ranked(report)[:TOP_FINDINGS]],
        sha256=file_facts.sha256 if file_facts else None,
        mime=file_facts.mime if file_facts else None,
        size=file_facts.size if file_facts else None,
        analysis=summary.to_item(),
    )
    return ScanState.COMPLETE, fields, size


def _load_report(deps: AnalysisDeps, key: str, scan_id: str) -> tuple[Report | None, str, int | None]:
    """The validated report, or ``None`` with the reason it cannot be used."""
    try:
        response = deps.s3.get_object(Bucket=deps.settings.reports_bucket, Key=key)
    except ClientError as error:
        if is_missing_object(error):
            return None, f"no report at s3://{deps.settings.reports_bucket}/{key}", None
        raise
    size = int(response.get("ContentLength", 0))
    if size > MAX_REPORT_BYTES:
        response["Body"].close()
        return None, f"report is {size} bytes, over the {MAX_REPORT_BYTES}-byte limit", size
    from filescan_shared.report.validate import parse_report  # noqa: PLC0415 - see the module docstring

    try:
        report = parse_report(response["Body"].read())
    except (ValueError, RecursionError) as error:  # ReportValidationError is a ValueError
        return None, f"invalid report: {str(error)[:500]}", size
    if report.scan_id != scan_id:
        return None, "invalid report: it belongs to another scan", size
    return report, "", size


def triage_input_from_report(
    record: ScanRecord, report: Report, verdict: Verdict, severity: Severity
) -> TriageInput:
    """The triage step's view of a report: facts, findings and what limited the scan."""
    from filescan_shared.triage import FileFacts, TriageFinding, TriageInput  # noqa: PLC0415

    file_facts = report.file
    limited = {hit.engine for hit in report.limits_hit}
    return TriageInput(
        scan_id=record.scan_id,
        object_key=record.key,
        file=FileFacts(
            size=file_facts.size if file_facts else 0,
            sha256=(file_facts.sha256 if file_facts else None) or "",
            mime=file_facts.mime if file_facts else None,
        ),
        verdict=verdict,
        severity=severity,
        findings=tuple(
            TriageFinding(
                engine=f.engine,
                rule_id=f.rule_id,
                category=f.category,
                severity=f.severity,
                title=f.title,
                archive_path="/".join(f.location.archive_path) or None,
                offset=f.location.offset,
                evidence=f.evidence,
            )
            for f in _ranked(report)
        ),
        limits_hit=tuple(f"{hit.limit}: {hit.detail}" for hit in report.limits_hit),
        unscannable_reasons=tuple(report.unscannable_reasons),
        engines_not_run=tuple(e.name for e in report.engines if e.status is EngineStatus.NOT_RUN),
        engines_errored=tuple(e.name for e in report.engines if _errored(e, limited)),
    )


def _errored(engine: Engine, limited: set[str | None]) -> bool:
    """An engine that failed, or stopped early for a reason the report does not list as a limit.

    A ``partial`` engine whose limit is in ``limits_hit`` (the archive engine at its depth or member
    cap) did not err: the summary names the limit instead.
    """
    return engine.status is EngineStatus.ERROR or (
        engine.status is EngineStatus.PARTIAL and engine.name not in limited
    )


def _ranked(report: Report) -> list[Finding]:
    """Findings, most severe first (the report's order among equals)."""
    return sorted(report.findings, key=lambda f: f.severity, reverse=True)


def _compact(finding: Finding) -> dict[str, Any]:
    return {
        "engine": finding.engine,
        "rule_id": finding.rule_id,
        "category": finding.category.value,
        "severity": finding.severity.label,
        "title": finding.title,
        "archive_path": list(finding.location.archive_path),
        "offset": finding.location.offset,
    }


def _failure_reason(detail: JobStateDetail) -> str:
    exit_code = detail.last_exit_code
    code = f"exit code {exit_code}" if exit_code is not None else "no exit code"
    last_reason = detail.attempts[-1].status_reason if detail.attempts else None
    reasons = "; ".join(r for r in (detail.status_reason, last_reason) if r) or "job failed"
    return f"{reasons} ({code}, {len(detail.attempts)} attempt(s))"[:1000]


def _timings(detail: JobStateDetail) -> dict[str, float]:
    timings: dict[str, float] = {}
    if detail.created_at and detail.started_at:
        timings["queued_seconds"] = max(0.0, (detail.started_at - detail.created_at) / 1000)
    if detail.started_at and detail.stopped_at:
        timings["running_seconds"] = max(0.0, (detail.stopped_at - detail.started_at) / 1000)
    if detail.created_at and detail.stopped_at:
        timings["total_seconds"] = max(0.0, (detail.stopped_at - detail.created_at) / 1000)
    return timings
