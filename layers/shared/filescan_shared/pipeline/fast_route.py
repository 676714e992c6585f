"""Routing to the small-file fast path (``fast_scan``): the light part enqueue and the sweeper import.

Enqueue sends objects of ``size_job``'s smallest class, at most ``FAST_PATH_MAX_BYTES`` (0: the fast
path is off, every scan is a Batch job), to the fast scan queue (one message = scan id + object
identity) and records the scan SUBMITTED with ``job_queue = "lambda:<queue name>"`` and no job id.
A queue rather than an asynchronous invoke: an outage or throttle backs up instead of dropping,
partial batch failures retry one message, and the event source mapping's
``ScalingConfig.MaximumConcurrency`` bounds the fan-out
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-eventsourcemapping-scalingconfig.html).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from filescan_shared.pipeline.sizing import size_job
from filescan_shared.records import ScanFields, ScanRecord
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from filescan_shared.pipeline.submit import Submission

QUEUE_MARKER = "lambda:"
"""``job_queue`` of a scan routed to the fast path: ``lambda:<fast scan queue name>``."""
FUNCTION_TIMEOUT_SECONDS = 120
"""The scan function's timeout (template ``ScanFunction``: keep equal, a template test checks)."""
RUNNER_DEADLINE = dt.timedelta(seconds=FUNCTION_TIMEOUT_SECONDS + 30)
"""A fast-path scan RUNNING (or SUBMITTED) without change for longer has no live runner: Lambda ends
every invocation at its timeout."""


class FastScanMessage(BaseModel):
    """One fast scan queue message: which scan, and the object version it scans."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    scan_id: str = Field(min_length=1, max_length=128)
    bucket: str = Field(min_length=3, max_length=63)
    key: str = Field(min_length=1, max_length=4096)
    version_id: str | None = None

    @classmethod
    def of(cls, record: ScanRecord) -> FastScanMessage:
        """The message that scans ``record``'s object version."""
        return cls(scan_id=record.scan_id, bucket=record.bucket, key=record.key, version_id=record.version_id)


def is_fast_path(record: ScanRecord) -> bool:
    """Whether the scan is on the fast path (routed to the queue, no Batch job yet)."""
    return record.job_id is None and (record.job_queue or "").startswith(QUEUE_MARKER)


def takes_fast_path(size: int, *, max_bytes: int) -> bool:
    """Whether an object of ``size`` bytes goes to the fast path (``max_bytes`` 0: the path is off).

    Only ``size_job``'s smallest class qualifies, whatever ``max_bytes`` says.
    """
    return max_bytes > 0 and size <= max_bytes and size_job(size) is size_job(0)


def route(record: ScanRecord, *, sqs: SQSClient, queue_url: str, submission: Submission) -> str:
    """Send ``record``'s scan to the fast scan queue and record it SUBMITTED there; return the marker.

    The caller holds the scan's submit claim, as it would for SubmitJob. Two messages for one scan are
    harmless: the second loses the RUNNING claim.
    """
    message = FastScanMessage.of(record)
    marker = QUEUE_MARKER + queue_url.rstrip("/").rsplit("/", 1)[-1]
    # Recorded before the send: the function may claim the scan before this call returns. A crash
    # between the two leaves a fast-path scan SUBMITTED without a message: the sweeper re-routes it.
    submission.repository.advance(
        record.scan_id, ScanState.SUBMITTED, ScanFields(job_queue=marker), now=submission.now
    )
    sqs.send_message(QueueUrl=queue_url, MessageBody=message.model_dump_json())
    return marker


def send_to_fallback(message: FastScanMessage, *, sqs: SQSClient, dlq_url: str) -> None:
    """Queue ``message`` on the fast scan DLQ, whose consumer submits the scan's Batch job."""
    sqs.send_message(QueueUrl=dlq_url, MessageBody=message.model_dump_json())
