"""fast_fallback: the fast scan queue's DLQ -> the normal Batch job of each scan the Lambda could not finish.

A message lands here when the scanner function failed it ``maxReceiveCount`` times (a crash, a
timeout, out of memory), or when a redelivery or the sweeper found its runner dead. The scan's Batch
job is submitted (or adopted) and recorded; its events carry the scan to its end like any other.
Logic in ``pipeline.fast_scan.fall_back``.
"""

import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_shared import clients
from filescan_shared.observability import logger, metrics, tracer
from filescan_shared.pipeline.fast_route import FastScanMessage
from filescan_shared.pipeline.fast_scan import fall_back
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import FastFallbackSettings, load_settings

settings = load_settings(FastFallbackSettings)
processor = BatchProcessor(
    event_type=EventType.SQS, raise_on_entire_batch_failure=False, logger=logging.getLogger(logger.name)
)


@tracer.capture_method
def handle_message(record: SQSRecord) -> None:
    """Submit the Batch job of the scan one message names (a malformed body raises: item failure)."""
    message = FastScanMessage.model_validate_json(record.body)
    repository = ScanRepository(clients.dynamodb(), settings.scans_table)
    job_id = fall_back(message, repository=repository, batch=clients.batch(), settings=settings)
    logger.info("fast path fallback", scan_id=message.scan_id, job_id=job_id)
    metrics.add_metric(
        name="FastScanFallbacks" if job_id else "FastScanFallbackNoOps", unit=MetricUnit.Count, value=1
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process one SQS batch from the fast scan DLQ with partial-failure reporting."""
    return process_partial_response(
        event=event, record_handler=handle_message, processor=processor, context=context
    )
