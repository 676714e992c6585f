"""analysis: "Batch Job State Change" SUCCEEDED/FAILED -> verdict, triage summary, final scan state.

Invoked asynchronously by EventBridge (retries, then the target's DLQ). Powertools idempotency keys
on (job id, status): a redelivered event returns the first result instead of calling the LLM again,
and a concurrent duplicate waits its turn. Events that are ignored (malformed, another queue's job,
an unknown scan) are screened out *before* the idempotency layer, so only a scan's conclusion is
ever stored under a real key: a broken event carrying a real job id cannot shadow the genuine
completion. The logic lives in ``pipeline.analysis``.
"""

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_shared import clients
from filescan_shared.batch_events import JobStateDetail, parse_job_event
from filescan_shared.observability import logger, metrics, tracer
from filescan_shared.pipeline.analysis import AnalysisDeps, AnalysisResult, finish_job, screen
from filescan_shared.pipeline.llm_settings import DeployedLlm
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import AnalysisSettings, load_settings

if TYPE_CHECKING:
    pass

settings = load_settings(AnalysisSettings)
idempotency = IdempotencyConfig(event_key_jmespath="[jobId, status]", expires_after_seconds=24 * 3600)
deployed_llm = DeployedLlm(settings)
llm_config = deployed_llm.config
"""The LLM configuration; the API key comes from Secrets Manager (cached for five minutes)."""
engine_reader = deployed_llm.engine_reader
"""The LLM reader of engines without a mapping (built only when such an engine's output is read)."""


def _emit_metrics(result: AnalysisResult) -> None:
    record = result.record
    if record is None or result.outcome.value not in {"completed", "failed"}:
        return
    if record.verdict:
        with single_metric(name="Verdict", unit=MetricUnit.Count, value=1) as metric:
            metric.add_dimension(name="verdict", value=record.verdict)
    if record.status.value == "FAILED":
        metrics.add_metric(name="ScansFailed", unit=MetricUnit.Count, value=1)
    for name, key in (("ScanDurationSeconds", "total_seconds"), ("QueueWaitSeconds", "queued_seconds")):
        if record.timings and key in record.timings:
            metrics.add_metric(name=name, unit=MetricUnit.Seconds, value=float(record.timings[key]))
    if record.size is not None:
        metrics.add_metric(name="ScannedBytes", unit=MetricUnit.Bytes, value=record.size)
    if record.cost:
        metrics.add_metric(name="ScanComputeCostUsd", unit=MetricUnit.Count, value=float(record.cost["usd"]))
    analysis = record.analysis or {}
    if analysis.get("status") == "misconfigured":
        # Alarmed (LlmConfigurationErrorsAlarm): every scan now lacks its LLM summary until fixed.
        metrics.add_metric(name="LlmConfigurationErrors", unit=MetricUnit.Count, value=1)
    usage = analysis.get("usage") or {}
    if usage.get("total_tokens"):
        metrics.add_metric(name="LlmTokens", unit=MetricUnit.Count, value=usage["total_tokens"])
    if analysis.get("cost_usd"):
        metrics.add_metric(name="LlmCostUsd", unit=MetricUnit.Count, value=float(analysis["cost_usd"]))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Conclude one finished job's scan, at most once per (job id, status); ignored events are not stored."""
    detail = parse_job_event(event)
    if detail is None:
        return {"outcome": "malformed"}
    deps = AnalysisDeps(
        repository=ScanRepository(clients.dynamodb(), settings.scans_table),
        s3=clients.s3(),
        events=clients.events(),
        settings=settings,
        llm=llm_config,
        remaining_seconds=lambda: context.get_remaining_time_in_millis() / 1000,
        batch=clients.batch(),
        engine_reader=engine_reader,
    )
    ignored = screen(detail, deps)
    if ignored is not None:
        logger.info("analysis", outcome=ignored, scan_id=detail.scan_id, status=detail.status)
        return {"outcome": ignored.value, "scan_id": detail.scan_id, "verdict": None, "status": None}
    idempotency.register_lambda_context(context)
    return _idempotent_conclude()(job=event["detail"], detail=detail, deps=deps)


Conclude = Callable[..., dict[str, Any]]


@functools.cache
def _idempotent_conclude() -> Conclude:
    """``conclude`` behind Powertools idempotency (keyed on the job's id and status), built on first use.

    The persistence layer shares the cached DynamoDB client, which, as in every function here, is
    created by the first event rather than at import.
    """
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.idempotency_table, boto3_client=clients.dynamodb()
    )
    wrapped: Conclude = idempotent_function(
        data_keyword_argument="job", persistence_store=persistence, config=idempotency
    )(conclude)
    return wrapped


def conclude(*, job: dict[str, Any], detail: JobStateDetail, deps: AnalysisDeps) -> dict[str, Any]:
    """Conclude one finished job's scan (the idempotency layer calls this once per ``job`` key)."""
    del job  # the idempotency key's source; ``detail`` is the same event, parsed
    result = finish_job(detail, deps)
    logger.info("analysis", outcome=result.outcome, scan_id=detail.scan_id, status=detail.status)
    _emit_metrics(result)
    record = result.record
    return {
        "outcome": result.outcome.value,
        "scan_id": detail.scan_id,
        "verdict": record.verdict if record else None,
        "status": record.status.value if record else None,
    }
