"""sweeper (scheduled): scans stuck past their deadline are checked against Batch and resolved.

Terminal outcomes are handed to the analysis function as "Batch Job State Change" events (an
asynchronous invoke), so analysis writes, tags and publishes every scan that had a job, as it does
for Batch's own events (enqueue ends the scans that never get one: skipped, content-cache hits).
"""

import json
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_shared import clients
from filescan_shared.observability import logger, metrics, tracer
from filescan_shared.pipeline.fast_route import FastScanMessage, send_to_fallback
from filescan_shared.pipeline.sweeper import SweepAction, sweep
from filescan_shared.records import ScanRecord
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import SweeperSettings, load_settings

settings = load_settings(SweeperSettings)


def hand_over(event: dict[str, Any]) -> None:
    """Invoke the analysis function asynchronously with a job state change event."""
    clients.lambda_().invoke(
        FunctionName=settings.analysis_function_name,
        InvocationType="Event",
        Payload=json.dumps(event).encode(),
    )


def reroute(record: ScanRecord) -> None:
    """Send a stuck fast-path scan to the fast scan DLQ, whose consumer submits its Batch job."""
    send_to_fallback(FastScanMessage.of(record), sqs=clients.sqs(), dlq_url=settings.fast_scan_dlq_url)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Run one bounded sweep."""
    report = sweep(
        repository=ScanRepository(clients.dynamodb(), settings.scans_table),
        batch=clients.batch(),
        settings=settings,
        hand_over=hand_over,
        reroute=reroute if settings.fast_scan_dlq_url else None,
    )
    resolved = report.examined - report.actions[SweepAction.WAITING]
    metrics.add_metric(name="ScansStuck", unit=MetricUnit.Count, value=resolved)
    logger.info("sweep", examined=report.examined, actions=dict(report.actions))
    return {"examined": report.examined, "actions": {k.value: v for k, v in report.actions.items()}}
