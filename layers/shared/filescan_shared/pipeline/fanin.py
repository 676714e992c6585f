"""The conclusion of a scan several engines ran: read each engine's output, combine, triage, record.

Called by ``analysis`` once every engine's run is terminal and this caller holds the analysis
claim. Each engine's output is loaded (bounded) and read into its ``EngineResult``
(``engines.read.read_engine_result``): filescan's report from ``reports/{scan_id}.json`` as always,
any other engine's from the result envelope its job's collector wrote
(``reports/{scan_id}/engines/{engine}/result.json``) and the output it names. The results are
combined (``engines.verdict.combine_results``), written with each engine's bounded raw output to
``reports/{scan_id}/engines.json``, summarised by the triage step over every engine's findings, and
stored on the record: the combined verdict, severity, reasons and top findings, and each engine's
outcome columns (``engines.<name>``).

Everything an engine wrote is untrusted: the envelope is size-capped and must name an output key
under the engine's own prefix, the output is read up to the engine's ``max_output_bytes``.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from filescan_shared.aws_errors import error_code, is_missing_object
from filescan_shared.engines.catalogue import FILESCAN_ENGINE, OutputFormat
from filescan_shared.engines.read import read_engine_result
from filescan_shared.engines.results import EngineResult, EngineRunStatus, ReadBy
from filescan_shared.engines.verdict import combine_results
from filescan_shared.exit_codes import ExitCode
from filescan_shared.pipeline.analysis import (
    TOP_ENGINE_FINDINGS,
    TOP_FINDINGS,
    compact,
    load_report,
    ranked,
    run_triage,
    triage_finding,
    triage_input_from_report,
)
from filescan_shared.records import EngineJobState, EngineRun, ScanFields, ScanRecord
from filescan_shared.settings import ConfigurationError
from filescan_shared.severity import Severity, Verdict
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from filescan_shared.engines.catalogue import EngineSpec
    from filescan_shared.engines.read import LlmReader
    from filescan_shared.pipeline.analysis import AnalysisDeps
    from filescan_shared.report.model import Finding, Report
    from filescan_shared.triage import TriageInput

MAX_ENVELOPE_BYTES = 64 * 1024
"""A result envelope is a few hundred bytes; anything larger is not one."""


def conclude_engines(record: ScanRecord, deps: AnalysisDeps) -> tuple[ScanState, ScanFields, int | None]:
    """The final state and fields of a scan whose engines' runs are all terminal."""
    deps.repository.advance(record.scan_id, ScanState.ANALYZING)
    runs = record.engines or {}
    reader = _llm_reader(deps) if _needs_llm(runs, deps) else None
    report: Report | None = None
    report_bytes: int | None = None
    results: list[EngineResult] = []
    for name, run in runs.items():
        result, engine_report, size = _read_engine(record, name, run, deps, reader)
        results.append(result)
        if engine_report is not None or name == FILESCAN_ENGINE:
            report, report_bytes = engine_report, size
    decision = combine_results(results)
    engines_key = _write_results(record, results, deps)
    findings = ranked([finding for result in results for finding in result.findings])
    summary = run_triage(_triage_input(record, report, findings, decision.verdict, decision.severity), deps)
    file_facts = report.file if report else None
    all_failed = all(run.state is EngineJobState.FAILED for run in runs.values())
    fields = ScanFields(
        verdict=decision.verdict,
        severity=summary.final_severity,
        verdict_reasons=list(decision.reasons),
        report_key=deps.settings.report_key(record.scan_id) if report else engines_key,
        findings_count=len(findings),
        top_findings=[compact(finding) for finding in findings[:TOP_FINDINGS]],
        sha256=file_facts.sha256 if file_facts else None,
        mime=file_facts.mime if file_facts else None,
        size=file_facts.size if file_facts else None,
        analysis=summary.to_item(),
        job_id=record.job_id,
        cost=_total_cost(runs),
        timings=_longest_timings(runs),
        failure_reason=_failure_reasons(runs) if all_failed else None,
        engines={result.engine: _outcome(runs[result.engine], result) for result in results},
    )
    return (ScanState.FAILED if all_failed else ScanState.COMPLETE), fields, report_bytes


def _read_engine(
    record: ScanRecord, name: str, run: EngineRun, deps: AnalysisDeps, reader: LlmReader | None
) -> tuple[EngineResult, Report | None, int | None]:
    """One engine's normalised result, and the filescan report when the engine writes one."""
    status = engine_run_status(run)
    spec = _spec(name, deps)
    if spec is None:
        reason = f"engine {name} is not in the engine catalogue: its output cannot be read"
        verdict = Verdict.ERROR
        return (
            EngineResult(
                engine=name,
                required=run.required,
                status=status,
                read_by=ReadBy.NONE,
                verdict=verdict,
                reasons=[reason],
            ),
            None,
            None,
        )
    finished = run.state is EngineJobState.SUCCEEDED
    report: Report | None = None
    size: int | None = None
    problems = [run.failure_reason] if run.failure_reason else []
    if spec.output is OutputFormat.FILESCAN_REPORT:
        if finished:
            report, problem, size = load_report(
                deps, deps.settings.report_key(record.scan_id), record.scan_id
            )
            problems.append(problem)
        result = read_engine_result(
            spec, status=status, output=None, output_key=None, report=report, llm_reader=None
        )
    else:
        output = _load_output(deps, record.scan_id, spec) if finished else _Output()
        problems.append(output.problem)
        result = read_engine_result(
            spec,
            status=status,
            output=output.data,
            output_key=output.key,
            report=None,
            llm_reader=reader if spec.read_by_llm else None,
            output_truncated=output.truncated,
        )
    extra = [problem[:2000] for problem in problems if problem]
    return result.model_copy(update={"reasons": [*result.reasons, *extra]}), report, size


def _spec(name: str, deps: AnalysisDeps) -> EngineSpec | None:
    return deps.engine_plan().spec(name)


def engine_run_status(run: EngineRun) -> EngineRunStatus:
    """How a terminal engine run ended, for its verdict (and its ``outcome`` column).

    Batch terminates an attempt that outlives its timeout
    (https://docs.aws.amazon.com/batch/latest/userguide/job_timeouts.html); the job's status
    reason then says so ("Job attempt duration exceeded timeout"), which is what is matched.
    """
    if run.state is EngineJobState.SUCCEEDED:
        unscannable = run.exit_code == ExitCode.UNSCANNABLE
        return EngineRunStatus.UNSCANNABLE if unscannable else EngineRunStatus.SUCCEEDED
    timed_out = "timeout" in (run.failure_reason or "").lower()
    return EngineRunStatus.TIMED_OUT if timed_out else EngineRunStatus.FAILED


@dataclasses.dataclass(frozen=True)
class _Output:
    """An engine's output as its envelope names it (``data`` ``None``: none could be read)."""

    data: bytes | None = None
    key: str | None = None
    truncated: bool = False
    problem: str = ""


def _load_output(deps: AnalysisDeps, scan_id: str, spec: EngineSpec) -> _Output:
    """The engine's output, read through its result envelope, at most ``max_output_bytes`` of it."""
    bucket = deps.settings.reports_bucket
    folder = f"{deps.settings.reports_prefix}{scan_id}/engines/{spec.name}/"
    envelope_bytes = _get(deps, bucket, folder + "result.json", MAX_ENVELOPE_BYTES)
    if envelope_bytes is None:
        return _Output(problem=f"no result envelope at s3://{bucket}/{folder}result.json")
    try:
        envelope = json.loads(envelope_bytes)
    except (ValueError, RecursionError):
        return _Output(problem="the result envelope is not JSON")
    if not isinstance(envelope, dict):
        return _Output(problem="the result envelope is not a JSON object")
    key = envelope.get("output_key")
    if not isinstance(key, str) or not key.startswith(folder) or ".." in key:
        return _Output(problem=f"the result envelope names no output under s3://{bucket}/{folder}")
    data = _get(deps, bucket, key, spec.max_output_bytes + 1)
    if data is None:
        return _Output(key=key, problem=f"no output at s3://{bucket}/{key}")
    return _Output(data, key, envelope.get("output_truncated") is True)


def _get(deps: AnalysisDeps, bucket: str, key: str, limit: int) -> bytes | None:
    """At most ``limit`` bytes of an object (a ranged GET), or ``None`` when it does not exist."""
    try:
        response = deps.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{limit - 1}")
    except ClientError as error:
        if is_missing_object(error):
            return None
        if error_code(error) == "InvalidRange":  # S3 answers a range of an empty object with 416
            return b""
        raise
    return response["Body"].read(limit)


def _needs_llm(runs: dict[str, EngineRun], deps: AnalysisDeps) -> bool:
    """Whether an engine without a mapping finished, so its output goes to the LLM reader."""
    specs = [_spec(name, deps) for name, run in runs.items() if run.state is EngineJobState.SUCCEEDED]
    return deps.engine_reader is not None and any(spec is not None and spec.read_by_llm for spec in specs)


def _llm_reader(deps: AnalysisDeps) -> LlmReader | None:
    """The LLM reader of unmapped engines' outputs, or ``None`` when the LLM is not configured."""
    if deps.engine_reader is None:
        return None
    try:
        config = deps.llm()
    except ConfigurationError:
        return None  # read as "no LLM reader": unreadable, never clean
    reader: LlmReader = deps.engine_reader(config, max(1.0, deps.remaining_seconds() / 2))
    return reader


def _write_results(record: ScanRecord, results: list[EngineResult], deps: AnalysisDeps) -> str:
    """Write the combined report (each engine's result with its raw output excerpt); its key."""
    key = f"{deps.settings.reports_prefix}{record.scan_id}/engines.json"
    document = {"scan_id": record.scan_id, "engines": [result.model_dump(mode="json") for result in results]}
    deps.s3.put_object(
        Bucket=deps.settings.reports_bucket,
        Key=key,
        Body=json.dumps(document, ensure_ascii=False).encode(),
        ContentType="application/json",
    )
    return key


def _triage_input(
    record: ScanRecord, report: Report | None, findings: list[Finding], verdict: Verdict, severity: Severity
) -> TriageInput:
    """The triage step's view: filescan's facts (when it ran) with every engine's findings."""
    from filescan_shared.triage import FileFacts, TriageInput  # noqa: PLC0415 - see analysis' docstring

    combined = tuple(triage_finding(finding) for finding in findings)
    if report is not None:
        base = triage_input_from_report(record, report, verdict, severity)
        return base.model_copy(update={"findings": combined})
    facts = FileFacts(size=record.size or 0, sha256=record.sha256 or "")
    return TriageInput(
        scan_id=record.scan_id,
        object_key=record.key,
        file=facts,
        verdict=verdict,
        severity=severity,
        findings=combined,
    )


def _outcome(run: EngineRun, result: EngineResult) -> EngineRun:
    """The engine's run with its outcome columns (what the API and ``filescan show`` list)."""
    top = [compact(finding) for finding in ranked(list(result.findings))[:TOP_ENGINE_FINDINGS]]
    return run.model_copy(
        update={
            "outcome": result.status.value,
            "verdict": result.verdict,
            "severity": result.severity,
            "read_by": result.read_by.value,
            "findings_count": len(result.findings),
            "top_findings": top,
            "reasons": list(result.reasons)[:10],
        }
    )


def _total_cost(runs: dict[str, EngineRun]) -> dict[str, Any] | None:
    """Every engine's compute cost added up (each engine's own is on its run)."""
    costs = [run.cost for run in runs.values() if run.cost]
    if not costs:
        return None
    usd = sum((Decimal(str(cost.get("usd", "0"))) for cost in costs), Decimal(0))
    billed = sum(int(cost.get("billed_seconds", 0)) for cost in costs)
    return {"usd": f"{usd:.6f}", "billed_seconds": billed, "engines": len(costs)}


def _longest_timings(runs: dict[str, EngineRun]) -> dict[str, Any] | None:
    """The timings of the engine that took longest in total (the scan waited for it)."""
    timed = [run.timings for run in runs.values() if run.timings]
    return max(timed, key=lambda timings: float(timings.get("total_seconds", 0.0)), default=None)


def _failure_reasons(runs: dict[str, EngineRun]) -> str:
    """Why every engine failed, engine by engine."""
    return "; ".join(f"{name}: {run.failure_reason or 'job failed'}" for name, run in runs.items())[:1000]
