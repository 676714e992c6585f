"""status: "Batch Job State Change" progress events (SUBMITTED..RUNNING) -> monotonic scan updates.

Invoked asynchronously by EventBridge. Malformed, foreign or late events are logged and counted but
never raise: retrying them could not help.
"""

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.typing import LambdaContext

from filescan_shared import clients
from filescan_shared.batch_events import parse_job_event
from filescan_shared.observability import logger, metrics, tracer
from filescan_shared.pipeline.job_status import StatusOutcome, apply_job_progress
from filescan_shared.repository import ScanRepository
from filescan_shared.settings import JobTrackingSettings, load_settings

settings = load_settings(JobTrackingSettings)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    """Apply one job state change to its scan record."""
    detail = parse_job_event(event)
    if detail is None:
        return {"outcome": "malformed"}
    outcome = apply_job_progress(
        detail,
        repository=ScanRepository(clients.dynamodb(), settings.scans_table),
        our_queues=settings.job_queues,
    )
    logger.info("job progress", outcome=outcome, scan_id=detail.scan_id, status=detail.status)
    if outcome is not StatusOutcome.ADVANCED:
        metrics.add_metric(name="IgnoredJobEvents", unit=MetricUnit.Count, value=1)
    with single_metric(name="JobsByState", unit=MetricUnit.Count, value=1) as metric:
        metric.add_dimension(name="state", value=detail.status)
    return {"outcome": outcome.value}
