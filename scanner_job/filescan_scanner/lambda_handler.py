"""The scanner as a Lambda function: the small-file fast path (logic in ``pipeline.fast_scan``).

Each SQS message of the fast scan queue names one scan. Per message: claim it ``SUBMITTED ->
RUNNING`` (a duplicate delivery is a no-op), scan the object in place exactly as the Batch job does
(``cli.scan_object``: same engine, same report key), then conclude the scan here through the shared
analysis logic (verdict, record, tag, "Scan Completed"). A failed message is reported as a batch item
failure, so SQS retries only it and, after ``maxReceiveCount``, its DLQ's consumer submits the normal
Batch job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_scanner.cli import scan_object
from filescan_shared import clients
from filescan_shared.observability import logger, metrics, tracer
from filescan_shared.pipeline.analysis import AnalysisDeps
from filescan_shared.pipeline.cost import LambdaPrices
from filescan_shared.pipeline.fast_route import FastScanMessage, send_to_fallback
from filescan_shared.pipeline.fast_scan import run_fast_scan
from filescan_shared.pipeline.llm_settings import DeployedLlm
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import FastScanSettings, load_settings

if TYPE_CHECKING:
    pass

settings = load_settings(FastScanSettings)
prices = LambdaPrices.from_json(settings.lambda_prices)
processor = BatchProcessor(
    event_type=EventType.SQS, raise_on_entire_batch_failure=False, logger=logging.getLogger(logger.name)
)
llm_config = DeployedLlm(settings).config
"""The triage LLM's configuration, built as the analysis function builds it (one shared definition)."""


def _scan(message: FastScanMessage) -> int:
    return scan_object(message.bucket, message.key, message.version_id, message.scan_id, s3=clients.s3())


def _fall_back(message: FastScanMessage) -> None:
    send_to_fallback(message, sqs=clients.sqs(), dlq_url=settings.fast_scan_dlq_url)


@tracer.capture_method
def handle_message(record: SQSRecord, lambda_context: LambdaContext) -> None:
    """Scan and conclude the scan one message names; raising makes it a batch item failure."""
    message = FastScanMessage.model_validate_json(record.body)
    deps = AnalysisDeps(
        repository=ScanRepository(clients.dynamodb(), settings.scans_table),
        s3=clients.s3(),
        events=clients.events(),
        settings=settings,
        llm=llm_config,
        remaining_seconds=lambda: lambda_context.get_remaining_time_in_millis() / 1000,
    )
    result = run_fast_scan(
        message,
        deps=deps,
        scan=_scan,
        fall_back=_fall_back,
        memory_mb=settings.fast_scan_memory_mb,
        prices=prices,
    )
    done = result.record
    logger.info(
        "fast scan",
        outcome=result.outcome,
        scan_id=message.scan_id,
        status=done.status.value if done else None,
        verdict=done.verdict if done else None,
    )
    metrics.add_metric(name=f"FastScan_{result.outcome.value}", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process one SQS batch of fast scan messages with partial-failure reporting."""
    return process_partial_response(
        event=event, record_handler=handle_message, processor=processor, context=context
    )
