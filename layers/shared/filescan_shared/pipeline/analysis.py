"""Analysis: finished engine jobs -> the scan's verdict, triage summary, final state and publication.

A scan runs one job per enabled engine (``pipeline/submit.py``). Each finished job (a SUCCEEDED or
FAILED "Batch Job State Change", or a run that ended elsewhere: ``finish_engine_run``) records its
engine's run terminal with a conditional write; a duplicate, or an event for a job the run no
longer tracks, changes nothing. When every engine on the record is terminal, one caller takes the
*analysis claim* (conditional; stale after ``ANALYSIS_CLAIM_STALE_AFTER``, so a claimant that died
is replaced by a redelivered event or the sweeper's) and concludes the scan exactly once: the
fan-in on the table (docs/architecture.md, step 8, says why not a Batch aggregation job).

A single-engine scan (filescan only) concludes as it always did: SUCCEEDED reads the report,
validates it, derives the verdict deterministically and asks the triage step for a summary (which
can raise the severity, never lower it); the scanner's unscannable exit code completes the scan
with verdict ``unscannable``; any other FAILED job fails the scan with the reason, exit code and
attempts. A missing or invalid report is never read as clean: it is an ``error``. Several engines
are read and combined by ``pipeline/fanin.py``.

Publishing (verdict tag, optional quarantine, outcome event) happens after the final state is
written and is marked with ``published_at``; a redelivered completion event re-publishes a scan whose
publication was interrupted, so no finished scan stays untagged.

The report model (its pydantic validators) and the triage package (pydantic models, the openai
client) are imported on first use: only SUCCEEDED jobs need them, and importing them at module level
would add about 110 ms to every cold start (measured with bench/cold_start.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import is_missing_object
from filescan_shared.batch_events import JobStateDetail, is_interruption
from filescan_shared.engines.catalogue import FILESCAN_ENGINE
from filescan_shared.exit_codes import ExitCode
from filescan_shared.pipeline.cost import FargatePrices, estimate_job_cost
from filescan_shared.pipeline.fast_route import QUEUE_MARKER as FAST_QUEUE_MARKER
from filescan_shared.pipeline.job_status import record_attempts, tracks_job
from filescan_shared.pipeline.publish import publish_outcome
from filescan_shared.pipeline.submit import new_claim
from filescan_shared.records import Attempt, EngineJobState, EngineRun, ScanFields, ScanRecord, utc_now
from filescan_shared.report.verdict import decide_verdict
from filescan_shared.report.vocabulary import EngineStatus
from filescan_shared.repository import ScanStore
from filescan_shared.settings import AnalysisSettings, ConfigurationError
from filescan_shared.severity import Severity, Verdict
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client

    from filescan_shared.engines.read import LlmReader
    from filescan_shared.pipeline.engine_plan import EnginePlan
    from filescan_shared.report.model import Engine, Finding, Report
    from filescan_shared.triage import LlmConfig, TriageFinding, TriageInput, TriageResult

MAX_REPORT_BYTES = 64 * 1024**2
TOP_FINDINGS = 20
TOP_ENGINE_FINDINGS = 3
TRIAGE_SAFETY_MARGIN_SECONDS = 10.0
ANALYSIS_CLAIM_STALE_AFTER = dt.timedelta(minutes=16)
"""Longer than a Lambda invocation can run (15 minutes), so only a claimant that died goes stale:
https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html"""

EngineReaderFactory = Callable[["LlmConfig", float], "LlmReader"]
"""Builds the LLM reader of engines without a mapping from the LLM configuration and a deadline
(seconds); ``triage.engine_reader.make_engine_reader`` in the deployed function."""


class AnalysisOutcome(enum.StrEnum):
    """What a completion event did."""

    COMPLETED = "completed"
    FAILED = "failed"
    REPUBLISHED = "republished"
    DUPLICATE = "duplicate"
    FOREIGN = "foreign"
    UNKNOWN_SCAN = "unknown_scan"
    WAITING = "waiting"
    """The engine's run is recorded; other engines' jobs are still running."""
    IN_PROGRESS = "in_progress"
    """Every engine is done and another caller holds the analysis claim: it concludes the scan."""
    ESCALATED = "escalated"
    """The engine's job was interrupted on Spot too often and resubmitted on demand."""


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
    batch: BatchClient | None = None
    """Resubmits escalated engine jobs; ``None``: no escalation (the job's failure is recorded)."""
    engines: EnginePlan | None = None
    """The enabled engines and their catalogue; ``None``: the settings' (the bundled catalogue)."""
    engine_reader: EngineReaderFactory | None = None
    """Builds the LLM reader of engines without a mapping; ``None``: their output is unreadable."""

    def engine_plan(self) -> EnginePlan:
        """The deployment's enabled engines and the catalogue they come from."""
        return self.engines or self.settings.engine_plan()


@dataclasses.dataclass(frozen=True)
class AnalysisResult:
    """The outcome, and the final record when this call finished the scan (for metrics)."""

    outcome: AnalysisOutcome
    record: ScanRecord | None = None
    report_bytes: int | None = None


@dataclasses.dataclass(frozen=True)
class EngineRunEnd:
    """How one engine's run for a scan ended: what its job (or a Lambda) tells us."""

    succeeded: bool
    exit_code: int | None
    job_id: str
    job_queue: str | None = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    failure_reason: str | None = None
    cost: dict[str, Any] | None = None
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    runtime: Literal["batch", "lambda"] = "batch"

    @property
    def unscannable(self) -> bool:
        """Whether the run ended with the unscannable exit code (complete; not retried)."""
        return not self.succeeded and self.exit_code == ExitCode.UNSCANNABLE

    @classmethod
    def from_event(cls, detail: JobStateDetail, settings: AnalysisSettings) -> EngineRunEnd:
        """The end of a Batch job, from its SUCCEEDED or FAILED event."""
        return cls(
            succeeded=detail.status == "SUCCEEDED",
            exit_code=detail.last_exit_code,
            job_id=detail.job_id,
            job_queue=detail.job_queue,
            attempts=detail.recorded_attempts(),
            failure_reason=_failure_reason(detail) if detail.status == "FAILED" else None,
            cost=estimate_job_cost(
                detail,
                prices=FargatePrices.from_json(settings.fargate_prices),
                spot=detail.job_queue == settings.job_queue_standard,
            ),
            timings=_timings(detail),
        )

    def ended(self, current: EngineRun) -> EngineRun:
        """``current`` (the record's run of this job) made terminal with what this end tells."""
        state = EngineJobState.SUCCEEDED if self.succeeded or self.unscannable else EngineJobState.FAILED
        return current.model_copy(
            update={
                "state": state,
                "job_queue": self.job_queue or current.job_queue,
                "attempts": max(current.attempts, len(self.attempts)),
                "interruptions": max(
                    current.interruptions, sum(1 for a in self.attempts if is_interruption(a.reason))
                ),
                "exit_code": self.exit_code,
                "duration_seconds": self.timings.get("running_seconds"),
                "cost": self.cost,
                "timings": self.timings or None,
                "failure_reason": self.failure_reason,
            }
        )


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
    """Record a SUCCEEDED or FAILED engine job and conclude its scan once every engine is done.

    Screened first (foreign jobs and unknown scans are no-ops); a job interrupted on Spot too often
    is resubmitted on demand instead (``pipeline/escalation.py``).
    """
    record = _accept(detail, deps)
    if isinstance(record, AnalysisOutcome):
        return AnalysisResult(record)
    engine = detail.engine or FILESCAN_ENGINE
    if engine == FILESCAN_ENGINE and tracks_job(record, engine, detail.job_id):
        record_attempts(detail, repository=deps.repository, scan_id=record.scan_id)
    if not record.status.terminal:
        from filescan_shared.pipeline.escalation import escalate  # noqa: PLC0415 - FAILED jobs only

        if detail.status == "FAILED" and escalate(detail, record, engine, deps):
            return AnalysisResult(AnalysisOutcome.ESCALATED, record)
    return finish_engine_run(record.scan_id, engine, EngineRunEnd.from_event(detail, deps.settings), deps)


def finish_engine_run(scan_id: str, engine: str, run: EngineRunEnd, deps: AnalysisDeps) -> AnalysisResult:
    """Record engine ``engine``'s run of scan ``scan_id`` terminal; conclude the scan if it was the last.

    Only the run of job ``run.job_id`` that is not yet terminal is recorded (duplicates and runs of
    replaced jobs are no-ops); whatever this run did, a scan whose engines are all terminal and
    which nobody concludes is concluded now, exactly once.
    """
    record = deps.repository.get(scan_id)
    if record is None:
        return AnalysisResult(AnalysisOutcome.UNKNOWN_SCAN)
    if record.status.terminal:
        if record.published_at is None:
            publish(record, deps)
            return AnalysisResult(AnalysisOutcome.REPUBLISHED, record)
        return AnalysisResult(AnalysisOutcome.DUPLICATE, record)
    if record.engines is None and engine == FILESCAN_ENGINE:
        # A scan submitted before engines existed (or whose submitter died before recording them)
        # follows the filescan job it is told about, as it always did.
        legacy = EngineRun(state=EngineJobState.SUBMITTED, job_id=run.job_id, job_queue=run.job_queue)
        deps.repository.record_engines(scan_id, {FILESCAN_ENGINE: legacy})
        record = deps.repository.get(scan_id) or record
    current = (record.engines or {}).get(engine)
    if current is not None and current.job_id == run.job_id and not current.state.terminal:
        ended = run.ended(current)
        record = deps.repository.replace_engine_run(scan_id, engine, ended, job_id=run.job_id) or record
    return conclude_when_done(record, deps)


def conclude_when_done(record: ScanRecord, deps: AnalysisDeps) -> AnalysisResult:
    """Conclude a scan whose engines are all terminal, if this caller wins the analysis claim."""
    runs = record.engines or {}
    if not runs or not all(run.state.terminal for run in runs.values()):
        return AnalysisResult(AnalysisOutcome.WAITING, record)
    now, claim = utc_now(), new_claim()
    stale_before = now - ANALYSIS_CLAIM_STALE_AFTER
    if not deps.repository.claim_analysis(record.scan_id, claim, stale_before=stale_before, now=now):
        return AnalysisResult(AnalysisOutcome.IN_PROGRESS, record)
    try:
        state, fields, report_bytes = _conclude(record, deps)
    except BaseException:
        deps.repository.release_analysis(record.scan_id, claim)
        raise
    if not deps.repository.advance(record.scan_id, state, fields):
        return AnalysisResult(AnalysisOutcome.DUPLICATE, record)
    done = deps.repository.get(record.scan_id)
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


def _conclude(record: ScanRecord, deps: AnalysisDeps) -> tuple[ScanState, ScanFields, int | None]:
    """The scan's final state and fields from its terminal engine runs."""
    runs = record.engines or {}
    if set(runs) != {FILESCAN_ENGINE}:
        from filescan_shared.pipeline.fanin import conclude_engines  # noqa: PLC0415 - several engines only

        return conclude_engines(record, deps)
    run = runs[FILESCAN_ENGINE]
    state, fields, report_bytes = _conclude_filescan(record, run, deps)
    # A fast-path run (the scanner Lambda) is tracked under its queue's marker: no Batch job id.
    batch_job = run.job_id if run.job_id and not run.job_id.startswith(FAST_QUEUE_MARKER) else None
    job = ScanFields(job_id=batch_job, cost=run.cost, timings=run.timings)
    outcome = ScanFields(engines={FILESCAN_ENGINE: _single_engine_outcome(run, fields)})
    return state, fields.merged(job).merged(outcome), report_bytes


def _single_engine_outcome(run: EngineRun, fields: ScanFields) -> EngineRun:
    """The filescan run with the outcome columns of a single-engine scan (its verdict is the scan's)."""
    from filescan_shared.pipeline.fanin import engine_run_status  # noqa: PLC0415 - concluding only

    return run.model_copy(
        update={
            "outcome": engine_run_status(run).value,
            "verdict": fields.verdict,
            "severity": fields.severity,
            "read_by": "report" if fields.report_key else "none",
            "findings_count": fields.findings_count,
            "top_findings": fields.top_findings[:TOP_ENGINE_FINDINGS],
            "reasons": list(fields.verdict_reasons) or ([run.failure_reason] if run.failure_reason else []),
        }
    )


def _conclude_filescan(
    record: ScanRecord, run: EngineRun, deps: AnalysisDeps
) -> tuple[ScanState, ScanFields, int | None]:
    unscannable = run.state is EngineJobState.SUCCEEDED and run.exit_code == ExitCode.UNSCANNABLE
    if run.state is EngineJobState.FAILED:
        reason = run.failure_reason or "job failed"
        return ScanState.FAILED, ScanFields(failure_reason=reason, verdict=Verdict.ERROR), None
    deps.repository.advance(record.scan_id, ScanState.ANALYZING)
    report_key = deps.settings.report_key(record.scan_id)
    report, problem, size = load_report(deps, report_key, record.scan_id)
    if report is None:
        verdict = Verdict.UNSCANNABLE if unscannable else Verdict.ERROR
        reason = problem if not unscannable else f"scanner exit code {ExitCode.UNSCANNABLE}: {problem}"
        fields = ScanFields(verdict=verdict, severity=Severity.MEDIUM, verdict_reasons=[reason])
        return ScanState.COMPLETE, fields, size
    decision = decide_verdict(report)
    if unscannable and decision.verdict is Verdict.CLEAN:
        decision = dataclasses.replace(decision, verdict=Verdict.UNSCANNABLE)
    triage_input = triage_input_from_report(record, report, decision.verdict, decision.severity)
    summary = run_triage(triage_input, deps)
    file_facts = report.file
    fields = ScanFields(
        verdict=decision.verdict,
        severity=summary.final_severity,
        verdict_reasons=list(decision.reasons),
        report_key=report_key,
        findings_count=len(report.findings),
        top_findings=[compact(f) for f in _ranked(report)[:TOP_FINDINGS]],
        sha256=file_facts.sha256 if file_facts else None,
        mime=file_facts.mime if file_facts else None,
        size=file_facts.size if file_facts else None,
        analysis=summary.to_item(),
    )
    return ScanState.COMPLETE, fields, size


def run_triage(triage_input: TriageInput, deps: AnalysisDeps) -> TriageResult:
    """The triage summary (LLM, or the rules when it is misconfigured), within the time left."""
    from filescan_shared.triage import misconfigured, triage  # noqa: PLC0415 - see the module docstring

    budget = max(1.0, deps.remaining_seconds() - TRIAGE_SAFETY_MARGIN_SECONDS)
    try:
        llm = deps.llm()
    except ConfigurationError as error:
        return misconfigured(triage_input, str(error))
    return triage(triage_input, llm, deadline_seconds=budget)


def load_report(deps: AnalysisDeps, key: str, scan_id: str) -> tuple[Report | None, str, int | None]:
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
    from filescan_shared.triage import FileFacts, TriageInput  # noqa: PLC0415

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
        findings=tuple(triage_finding(f) for f in _ranked(report)),
        limits_hit=tuple(f"{hit.limit}: {hit.detail}" for hit in report.limits_hit),
        unscannable_reasons=tuple(report.unscannable_reasons),
        engines_not_run=tuple(e.name for e in report.engines if e.status is EngineStatus.NOT_RUN),
        engines_errored=tuple(e.name for e in report.engines if _errored(e, limited)),
    )


def triage_finding(finding: Finding) -> TriageFinding:
    """One finding as the triage step sees it."""
    from filescan_shared.triage import TriageFinding  # noqa: PLC0415 - see the module docstring

    return TriageFinding(
        engine=finding.engine,
        rule_id=finding.rule_id,
        category=finding.category,
        severity=finding.severity,
        title=finding.title,
        archive_path="/".join(finding.location.archive_path) or None,
        offset=finding.location.offset,
        evidence=finding.evidence,
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
    return ranked(report.findings)


def ranked(findings: list[Finding]) -> list[Finding]:
    """``findings``, most severe first (their order among equals)."""
    return sorted(findings, key=lambda f: f.severity, reverse=True)


def compact(finding: Finding) -> dict[str, Any]:
    """A finding as the scan record keeps it among its top findings."""
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
