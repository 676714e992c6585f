"""enqueue: S3 "Object Created" notifications (EventBridge -> SQS) -> scan records and Batch jobs.

Each SQS message is one EventBridge event. Records are processed independently; a failed one is
reported as a batch item failure so SQS redelivers only it (and, after maxReceiveCount, parks it in
the ingest DLQ): nothing is lost, nothing is submitted twice (see ``pipeline.enqueue``).
"""

import functools
import logging
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_shared import clients
from filescan_shared.observability import logger, metrics, tracer
from filescan_shared.pipeline.enqueue import EnqueueOutcome, UploadedObject, enqueue_upload
from filescan_shared.pipeline.publish import publish_outcome
from filescan_shared.repository import ScanRepository
from filescan_shared.s3_events import ObjectCreatedEvent
from filescan_shared.settings import EnqueueSettings, load_settings

settings = load_settings(EnqueueSettings)
# A batch whose every record failed still answers with its item failures (SQS retries them, then the
# DLQ) instead of raising: the same redelivery, without counting as a function error. Given the
# function's logger, the processor logs each failed record (a malformed notification) as a warning
# with its exception; without one it only logs at DEBUG, and the DLQ would be the only trace.
# (It takes a ``logging.Logger``: the standard logger under the Powertools one, same JSON handler.)
processor = BatchProcessor(
    event_type=EventType.SQS, raise_on_entire_batch_failure=False, logger=logging.getLogger(logger.name)
)

_METRIC_BY_OUTCOME = {
    EnqueueOutcome.SUBMITTED: "ScansQueued",
    EnqueueOutcome.SKIPPED: "ScansSkipped",
    EnqueueOutcome.CACHED: "ScansCached",
    EnqueueOutcome.DUPLICATE: "DuplicateEvents",
    EnqueueOutcome.REPUBLISHED: "ScansRepublished",
    EnqueueOutcome.IGNORED: "IgnoredEvents",
}


@tracer.capture_method
def handle_message(record: SQSRecord) -> None:
    """Enqueue the scan of the object one message names (a malformed body raises: item failure)."""
    detail = ObjectCreatedEvent.model_validate_json(record.body).detail
    upload = UploadedObject(
        bucket=detail.bucket.name,
        key=detail.object.key,
        version_id=detail.object.version_id,
        etag=detail.object.etag,
        sequencer=detail.object.sequencer,
        size=detail.object.size,
    )
    repository = ScanRepository(clients.dynamodb(), settings.scans_table)
    publish = functools.partial(
        publish_outcome,
        s3=clients.s3(),
        events=clients.events(),
        repository=repository,
        bus_name=settings.event_bus_name,
    )
    result = enqueue_upload(
        upload,
        settings=settings,
        repository=repository,
        s3=clients.s3(),
        batch=clients.batch(),
        publish=publish,
        sqs=clients.sqs() if settings.fast_scan_queue_url else None,
    )
    logger.info("enqueue", outcome=result.outcome, scan_id=result.scan_id, detail=result.detail)
    metrics.add_metric(name=_METRIC_BY_OUTCOME[result.outcome], unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Process one SQS batch with partial-failure reporting."""
    return process_partial_response(
        event=event, record_handler=handle_message, processor=processor, context=context
    )
