"""The small-file fast path: scan in a Lambda function instead of a Batch job, fall back to Batch.

Routing is ``fast_route`` (enqueue imports only that light module).

The scan function (``run_fast_scan``) claims the scan ``SUBMITTED -> RUNNING`` with a conditional
write (a duplicate delivery loses the claim and is a no-op), runs the scanner exactly as the Batch
job does (the report lands at the same key), then concludes the scan in the same invocation through
``analysis.finish_engine_run`` (the filescan engine's run, ``runtime="lambda"``, the same fan-in a
Batch job's completion takes): deterministic verdict, record, tag, "Scan Completed" event. Enqueue
routes here only when filescan is the only enabled engine.

Failure falls back, never loses and is never clean: a run that raises is retried by SQS and, after
the queue's ``maxReceiveCount``, moved to its dead-letter queue
(https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html);
the DLQ's consumer (``fall_back``) submits the scan's normal Batch job through ``Submission`` (which
adopts a job already named after the scan). A redelivery that finds the scan RUNNING past the
function's timeout (its runner died: Lambda stops a run at its timeout) falls back at once; the
sweeper re-routes fast-path scans it finds stuck the same way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from filescan_shared.engines.catalogue import FILESCAN_ENGINE
from filescan_shared.exit_codes import ExitCode
from filescan_shared.pipeline.analysis import AnalysisDeps, EngineRunEnd, finish_engine_run, publish
from filescan_shared.pipeline.cost import LambdaPrices, estimate_lambda_cost
from filescan_shared.pipeline.fast_route import RUNNER_DEADLINE, FastScanMessage, is_fast_path
from filescan_shared.pipeline.submit import Submission
from filescan_shared.records import ScanFields, ScanRecord, utc_now
from filescan_shared.settings import FastFallbackSettings
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient

    from filescan_shared.repository import ScanStore


class FastOutcome(enum.StrEnum):
    """What one fast scan message did."""

    CONCLUDED = "concluded"
    DUPLICATE = "duplicate"
    REPUBLISHED = "republished"
    FELL_BACK = "fell_back"
    UNKNOWN_SCAN = "unknown_scan"


class ScanInProgressError(RuntimeError):
    """Another delivery of this message is scanning it now: retry later (SQS redelivers)."""


ScanRunner = Callable[[FastScanMessage], int]
"""Runs the scanner on one object and writes its report; returns the scanner's exit code."""
FallBack = Callable[[FastScanMessage], None]
"""Hands a scan to the Batch fallback (``send_to_fallback`` with its queue bound)."""


@dataclasses.dataclass(frozen=True)
class FastScanResult:
    """The outcome, and the scan's record after it."""

    outcome: FastOutcome
    record: ScanRecord | None = None


def run_fast_scan(
    message: FastScanMessage,
    *,
    deps: AnalysisDeps,
    scan: ScanRunner,
    fall_back: FallBack,
    memory_mb: int,
    prices: LambdaPrices,
    now: Callable[[], dt.datetime] | None = None,
) -> FastScanResult:
    """Claim, scan and conclude one fast-path scan; duplicates are no-ops, a dead runner falls back.

    Raises ``ScanInProgressError`` when another delivery holds the scan within the function's timeout,
    and whatever the scanner raises on a transient failure: SQS retries, then the DLQ falls back.
    """
    clock = now or utc_now
    repository = deps.repository
    record = repository.get(message.scan_id)
    if record is None:
        return FastScanResult(FastOutcome.UNKNOWN_SCAN)
    if not repository.advance(record.scan_id, ScanState.RUNNING, now=clock()):
        return _not_claimed(repository.get(record.scan_id) or record, deps, fall_back, message, clock())
    started = time.monotonic()
    exit_code = scan(message)
    if exit_code not in {ExitCode.SCANNED, ExitCode.UNSCANNABLE}:
        raise RuntimeError(f"scanner exit code {exit_code}: retried, then handed to Batch")
    elapsed = time.monotonic() - started
    # The run is named after the fast scan queue (no Batch job exists); a Batch fallback job of the
    # same scan carries its own id, so whichever run ends first concludes and the other is a no-op.
    run = EngineRunEnd(
        succeeded=exit_code == ExitCode.SCANNED,
        exit_code=int(exit_code),
        job_id=record.job_queue or "lambda",
        job_queue=record.job_queue,
        cost=estimate_lambda_cost(elapsed, memory_mb=memory_mb, prices=prices),
        timings={"running_seconds": round(elapsed, 3)},
        runtime="lambda",
    )
    result = finish_engine_run(record.scan_id, FILESCAN_ENGINE, run, deps)
    concluded = result.record is not None and result.record.status.terminal
    return FastScanResult(FastOutcome.CONCLUDED if concluded else FastOutcome.DUPLICATE, result.record)


def _not_claimed(
    record: ScanRecord,
    deps: AnalysisDeps,
    fall_back: FallBack,
    message: FastScanMessage,
    moment: dt.datetime,
) -> FastScanResult:
    """A delivery that lost the RUNNING claim: a duplicate, an owed publication, or a dead runner."""
    if record.status.terminal:
        if record.published_at is None:
            publish(record, deps)
            return FastScanResult(FastOutcome.REPUBLISHED, record)
        return FastScanResult(FastOutcome.DUPLICATE, record)
    if not is_fast_path(record):
        return FastScanResult(FastOutcome.DUPLICATE, record)  # a Batch job carries it now
    if dt.datetime.fromisoformat(record.updated_at) > moment - RUNNER_DEADLINE:
        raise ScanInProgressError(f"scan {record.scan_id} is {record.status} in another invocation")
    fall_back(message)
    return FastScanResult(FastOutcome.FELL_BACK, deps.repository.get(record.scan_id))


def fall_back(
    message: FastScanMessage,
    *,
    repository: ScanStore,
    batch: BatchClient,
    settings: FastFallbackSettings,
    now: dt.datetime | None = None,
) -> str | None:
    """Submit (or adopt) the normal Batch job of a fast-path scan; return its id.

    ``None`` when there is nothing to do: the scan is unknown, finished, or already has its job.
    The job id and queue are recorded on the scan; the Batch job's events then carry it to its end
    like any other (a RUNNING scan stays RUNNING until analysis concludes it).
    """
    record = repository.get(message.scan_id)
    if record is None or record.status.terminal or record.job_id is not None:
        return None
    priority = record.priority == "priority"
    queue = settings.job_queue_priority if priority else settings.job_queue_standard
    submission = Submission(repository, batch, settings.job_targets, now or utc_now())
    job_id, queue = submission.submit_job(record, queue=queue, object_size=record.size or 0)
    repository.set_fields(record.scan_id, ScanFields(job_id=job_id, job_queue=queue))
    return job_id
