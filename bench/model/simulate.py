"""Replay a mix through one routing strategy: when each file gets its verdict, and what it costs.

A small discrete-event replay, deterministic for a given mix:

1. every upload reaches enqueue after ``ingest + batching window + enqueue`` seconds;
2. the strategy groups files into *submissions* (one SubmitJob each) of *tasks* (one Fargate task each)
   or sends them to the Lambda fast path;
3. SubmitJob calls pass a 50 TPS token bucket; tasks wait for the compute environment's vCPUs (FIFO)
   and for the Fargate launch bucket (100 burst, 20/s), then provision (~30 s), pull the whole image
   (billed from the pull's start), start the process and scan their files one after the other;
4. a file's verdict follows its own scan's end by the analysis step.

Costs: Fargate per billed second (one-minute minimum) split over a task's files by their work, the
scanner Lambda's GB-seconds, and per-file requests (S3, SQS, DynamoDB, EventBridge, Lambda).
"""

from __future__ import annotations

import dataclasses
import enum
import heapq
import math
from collections.abc import Iterable
from decimal import Decimal

from bench.model import aws
from bench.model.mix import MiB, Upload
from bench.model.pipeline import Stack, Timing, smallest_class_limit


class Strategy(enum.StrEnum):
    """How small files are routed (files above the small limit always get one job each)."""

    PER_FILE = "per-file"
    """Today: one Batch job per file."""
    ARRAY = "array"
    """Small files grouped into one array job per window; each child is still its own Fargate task."""
    BATCHED = "batched"
    """Small files grouped into one job that loops over a staged list (a few minutes of work or a
    maximum wait, whichever comes first)."""
    LAMBDA = "lambda"
    """Small files scanned by the scanner packaged as a container-image Lambda; no Batch job."""


@dataclasses.dataclass(frozen=True)
class Options:
    """Strategy knobs."""

    small_limit: int = dataclasses.field(default_factory=smallest_class_limit)
    """Files up to this size take the small-file route (default: ``size_job``'s smallest class)."""
    batch_work_seconds: float = 180.0
    """A batch closes at this much estimated scan work (Batch guidance: jobs of 3-5 minutes)."""
    batch_max_wait_seconds: float = 10.0
    """... or when its first file has waited this long."""
    lambda_memory_mib: int = 1024
    lambda_concurrency: int = aws.LAMBDA_CONCURRENCY


@dataclasses.dataclass
class FileResult:
    """One file's fate."""

    upload: Upload
    verdict_at: float | None = None
    """Seconds into the day; ``None`` = skipped (over the size limit)."""
    cost: Decimal = Decimal(0)
    """Everything this file costs (scan compute + requests), USD."""
    compute_cost: Decimal = Decimal(0)
    """The scan compute alone (its share of Fargate tasks, or its scanner Lambda), USD."""

    @property
    def latency(self) -> float | None:
        """Upload-to-verdict seconds."""
        return None if self.verdict_at is None else self.verdict_at - self.upload.arrival


@dataclasses.dataclass
class Task:
    """One Fargate task and the files it scans in order."""

    files: list[FileResult]
    vcpus: float
    memory_mib: int
    runnable_at: float = 0.0


@dataclasses.dataclass
class Replay:
    """The outcome of one strategy on one mix."""

    strategy: Strategy
    files: list[FileResult]
    tasks: int
    submissions: int
    lambda_invocations: int
    lambda_cold_starts: int
    small_ceiling_per_second: float


class TokenBucket:
    """A token bucket (AWS's rate limits): ``take(t)`` returns when a request made at ``t`` may pass.

    Requests must be taken in time order.
    """

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.moment = 0.0

    def take(self, moment: float) -> float:
        """The time at which one token is available for a request made at ``moment``."""
        moment = max(moment, self.moment)
        self.tokens = min(self.capacity, self.tokens + (moment - self.moment) * self.rate)
        self.moment = moment
        if self.tokens >= 1:
            self.tokens -= 1
            return moment
        wait = (1 - self.tokens) / self.rate
        self.moment = moment + wait
        self.tokens = 0.0
        return self.moment


def replay(
    uploads: Iterable[Upload],
    strategy: Strategy,
    *,
    stack: Stack | None = None,
    timing: Timing | None = None,
    options: Options | None = None,
) -> Replay:
    """Replay ``uploads`` through ``strategy``."""
    stack = stack or Stack()
    timing = timing or Timing()
    options = options or Options()
    results = [FileResult(upload) for upload in uploads]
    in_scope = [r for r in results if r.upload.size <= stack.max_object_bytes]
    lead = timing.ingest_seconds + stack.batching_window_seconds + timing.enqueue_seconds
    small = [
        r for r in in_scope if r.upload.size <= options.small_limit and strategy is not Strategy.PER_FILE
    ]
    small_ids = {id(r) for r in small}
    submissions: list[tuple[float, list[Task]]] = [
        (r.upload.arrival + lead, [_single_task(r, stack)]) for r in in_scope if id(r) not in small_ids
    ]
    invocations = cold = 0
    if strategy is Strategy.LAMBDA:
        invocations, cold = _run_lambda(small, lead, timing, options)
    elif small:
        submissions.extend(_group(small, lead, strategy, stack, timing, options))
    tasks = _run_batch(submissions, stack, timing)
    for result in in_scope:
        result.cost += _request_cost(result, strategy, options, stack)
    return Replay(
        strategy=strategy,
        files=results,
        tasks=tasks,
        submissions=len(submissions),
        lambda_invocations=invocations,
        lambda_cold_starts=cold,
        small_ceiling_per_second=small_file_ceiling(strategy, stack, timing, options),
    )


def _single_task(result: FileResult, stack: Stack) -> Task:
    size = stack.job_size(result.upload.size)
    return Task([result], float(size.vcpus), size.memory_mib)


def _group(
    small: list[FileResult], lead: float, strategy: Strategy, stack: Stack, timing: Timing, options: Options
) -> list[tuple[float, list[Task]]]:
    """Small files in windows: closed by work (batched) or child count (array), or by the maximum wait."""
    size = stack.job_size(0)
    vcpus = float(size.vcpus)
    groups: list[tuple[float, list[FileResult]]] = []
    current: list[FileResult] = []
    opened = work = 0.0
    for result in small:
        ready = result.upload.arrival + lead
        if current and ready > opened + options.batch_max_wait_seconds:
            groups.append((opened + options.batch_max_wait_seconds, current))
            current = []
        if not current:
            opened, work = ready, 0.0
        current.append(result)
        work += timing.scan_seconds(result.upload.size, vcpus)
        full = (
            work >= options.batch_work_seconds
            if strategy is Strategy.BATCHED
            else len(current) >= aws.ARRAY_MAX_CHILDREN
        )
        if full:
            groups.append((ready, current))
            current = []
    if current:
        groups.append((opened + options.batch_max_wait_seconds, current))
    if strategy is Strategy.BATCHED:
        return [(closed, [Task(files, vcpus, size.memory_mib)]) for closed, files in groups]
    return [(closed, [Task([f], vcpus, size.memory_mib) for f in files]) for closed, files in groups]


def _run_batch(submissions: list[tuple[float, list[Task]]], stack: Stack, timing: Timing) -> int:
    """Push submissions through SubmitJob, the vCPU cap and the launch rate; set verdicts and costs."""
    submit = TokenBucket(aws.SUBMIT_JOB_TPS, aws.SUBMIT_JOB_TPS)
    tasks: list[Task] = []
    for ready, group in sorted(submissions, key=lambda item: item[0]):
        submitted = submit.take(ready)
        for task in group:
            task.runnable_at = submitted + aws.BATCH_DISPATCH_SECONDS
            tasks.append(task)
    tasks.sort(key=lambda task: task.runnable_at)
    launch = TokenBucket(aws.FARGATE_LAUNCH_BURST, aws.FARGATE_LAUNCH_PER_SECOND)
    rate = aws.FargateRate(spot=stack.spot)
    running: list[tuple[float, float]] = []  # (end, vcpus)
    used = 0.0
    previous = 0.0
    pull = timing.image_mib / aws.IMAGE_PULL_MIB_PER_SECOND
    for task in tasks:
        start = max(task.runnable_at, previous)
        vcpus = min(task.vcpus, stack.vcpu_quota)
        while running and (running[0][0] <= start or used + vcpus > stack.vcpu_quota + 1e-9):
            end, freed = heapq.heappop(running)
            used -= freed
            start = max(start, end)
        start = launch.take(start)
        previous = start
        billed_from = start + aws.FARGATE_PROVISION_SECONDS
        clock = billed_from + pull + timing.container_start_seconds
        works = []
        for result in task.files:
            work = timing.scan_seconds(result.upload.size, task.vcpus)
            clock += work
            works.append(work)
            result.verdict_at = clock + timing.analysis_seconds
        used += vcpus
        heapq.heappush(running, (clock, vcpus))
        cost = rate.task_cost(clock - billed_from, task.vcpus, task.memory_mib, stack.ephemeral_gib)
        total = sum(works)
        for result, work in zip(task.files, works, strict=True):
            share = cost * Decimal(str(work / total))
            result.cost += share
            result.compute_cost += share
    return len(tasks)


def _run_lambda(small: list[FileResult], lead: float, timing: Timing, options: Options) -> tuple[int, int]:
    """Scan small files in the Lambda fast path: warm environments are reused, else a cold start."""
    free: list[float] = []  # times at which execution environments become idle
    vcpus = options.lambda_memory_mib / LAMBDA_MIB_PER_VCPU
    gigabytes = Decimal(options.lambda_memory_mib) / 1024
    cold_starts = 0
    for result in small:
        start = result.upload.arrival + lead
        free = [moment for moment in free if start - moment <= aws.LAMBDA_IDLE_SECONDS]
        idle = [moment for moment in free if moment <= start]
        if idle:
            free.remove(max(idle))
            cold = False
        elif len(free) < options.lambda_concurrency:
            cold = True
        else:
            earliest = min(free)
            free.remove(earliest)
            start, cold = earliest, False
        # The function decides the verdict itself (the shared analysis code, no LLM) and records it.
        duration = (
            timing.scan_seconds(result.upload.size, vcpus)
            + timing.inline_analysis_seconds
            + (aws.LAMBDA_IMAGE_COLD_START_SECONDS if cold else 0.0)
        )
        cold_starts += cold
        free.append(start + duration)
        result.verdict_at = start + duration
        billed = Decimal(str(math.ceil(duration * 1000) / 1000))
        compute = billed * gigabytes * aws.LAMBDA_GB_SECOND + aws.LAMBDA_REQUEST
        result.cost += compute
        result.compute_cost += compute
    return len(small), cold_starts


LAMBDA_MIB_PER_VCPU = 1769
"""Lambda allocates CPU in proportion to memory: one vCPU at 1,769 MB.
https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html (NOT VERIFIED here)"""


@dataclasses.dataclass(frozen=True)
class Calls:
    """Billable requests per file outside the scan compute (Lambda: invocations and GB-seconds)."""

    s3_get: float
    s3_put: float
    sqs: float
    dynamodb_write_units: float
    dynamodb_read_units: float
    custom_events: float
    lambda_invocations: float
    lambda_gb_seconds: float

    def cost(self) -> Decimal:
        """USD for these requests."""
        return (
            Decimal(str(self.s3_get)) * aws.S3_GET_REQUEST
            + Decimal(str(self.s3_put)) * aws.S3_PUT_REQUEST
            + Decimal(str(self.sqs)) * aws.SQS_REQUEST
            + Decimal(str(self.dynamodb_write_units)) * aws.DYNAMODB_WRITE_UNIT
            + Decimal(str(self.dynamodb_read_units)) * aws.DYNAMODB_READ_UNIT
            + Decimal(str(self.custom_events)) * aws.EVENTBRIDGE_CUSTOM_EVENT
            + Decimal(str(self.lambda_invocations)) * aws.LAMBDA_REQUEST
            + Decimal(str(self.lambda_gb_seconds)) * aws.LAMBDA_GB_SECOND
        )


INGEST_SQS_REQUESTS = 1.2
"""The ingest queue per file: EventBridge's send and a share of enqueue's 10-message receive/delete."""
FAST_QUEUE_SQS_REQUESTS = 3.0
"""The fast scan queue per small file: enqueue's send, the event source mapping's receive and delete."""
BATCH_STATE_EVENTS = 6
"""State changes a Batch job emits (SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED), each
one status-function invocation and one conditional write."""
WRITE_UNITS = 2.0
"""A scan-record update: ~1 KB item + the ByStatus index entry (assumption)."""
FINAL_WRITE_UNITS = 8.0
"""The terminal write: verdict, top findings, analysis (~3 KB) + index (assumption)."""


def calls(strategy: Strategy, size: int, *, small: bool, stack: Stack, options: Options) -> Calls:
    """The requests one file costs under ``strategy`` (``small``: it took the small-file route)."""
    ranged_gets = max(1, math.ceil(size / (16 * MiB)))
    enqueue_gb_s = 0.3 * stack.function_memory_mib / 1024 / 10  # a 10-message SQS batch shares it
    analysis_gb_s = 0.5 * stack.analysis_memory_mib / 1024
    status_gb_s = 0.1 * stack.function_memory_mib / 1024
    # HEAD (enqueue) + ranged GETs + report GET (analysis) + the object's tags read before the
    # verdict tag is merged in (publish); report PUT + verdict tag.
    s3_get, s3_put = 1 + ranged_gets + 1 + 1, 2.0
    # EventBridge -> SQS send, and a share of the receive/delete batch.
    sqs = INGEST_SQS_REQUESTS
    # QUEUED, the engine run recorded (at submit, or on its end for a fast-path scan), the run made
    # terminal, the analysis claim (the fan-in: pipeline/analysis.py), ANALYZING, published.
    writes = 6.0
    invocations, gb_s = 0.1 + 1.0, enqueue_gb_s + analysis_gb_s
    if small and strategy is Strategy.LAMBDA:
        # As built (pipeline/fast_scan.py; tests/unit/pipeline/test_fast_scan.py counts the calls):
        # scan and verdict in one invocation of the scanner function (billed in _run_lambda), no
        # analysis function and no Batch state events; but the scanner's own HeadObject, the
        # SUBMITTED and RUNNING (claim) writes, and the fast scan queue's send, receive and delete
        # (batch size 1). The report is read back by the shared analysis step, as for a job.
        s3_get += 1
        writes += 2
        sqs += FAST_QUEUE_SQS_REQUESTS
        invocations, gb_s = 0.1, enqueue_gb_s
    elif not small or strategy in {Strategy.PER_FILE, Strategy.ARRAY}:
        # SUBMITTED + one per state change, + the engine run's move to running (job_status.py)
        writes += 1 + BATCH_STATE_EVENTS + 1
        invocations += BATCH_STATE_EVENTS
        gb_s += BATCH_STATE_EVENTS * status_gb_s
    elif strategy is Strategy.BATCHED:
        # the staging queue (send, receive, delete), SUBMITTED + RUNNING per file; the batch's own
        # state changes and manifest are shared by its files (negligible per file).
        sqs += 1.2
        writes += 2
    return Calls(
        s3_get=s3_get,
        s3_put=s3_put,
        sqs=sqs,
        dynamodb_write_units=writes * WRITE_UNITS + FINAL_WRITE_UNITS,
        dynamodb_read_units=4.0,
        custom_events=1.0,
        lambda_invocations=invocations,
        lambda_gb_seconds=gb_s,
    )


def _request_cost(result: FileResult, strategy: Strategy, options: Options, stack: Stack) -> Decimal:
    small = strategy is not Strategy.PER_FILE and result.upload.size <= options.small_limit
    return calls(strategy, result.upload.size, small=small, stack=stack, options=options).cost()


def small_file_ceiling(strategy: Strategy, stack: Stack, timing: Timing, options: Options) -> float:
    """Sustained small files per second before a quota or rate limit queues them (a 64 KiB file)."""
    size = stack.job_size(0)
    vcpus = float(size.vcpus)
    work = timing.scan_seconds(64 * 1024, vcpus)
    start_up = (
        aws.FARGATE_PROVISION_SECONDS
        + timing.image_mib / aws.IMAGE_PULL_MIB_PER_SECOND
        + timing.container_start_seconds
    )
    tasks_at_once = stack.vcpu_quota / vcpus
    if strategy is Strategy.LAMBDA:
        lambda_vcpus = options.lambda_memory_mib / LAMBDA_MIB_PER_VCPU
        duration = timing.scan_seconds(64 * 1024, lambda_vcpus) + timing.inline_analysis_seconds
        return options.lambda_concurrency / duration
    if strategy is Strategy.BATCHED:
        per_task = max(1.0, options.batch_work_seconds / work)
        occupancy = start_up + per_task * work
        return min(
            tasks_at_once * per_task / occupancy,
            aws.SUBMIT_JOB_TPS * per_task,
            aws.FARGATE_LAUNCH_PER_SECOND * per_task,
        )
    limits = [tasks_at_once / (start_up + work), aws.FARGATE_LAUNCH_PER_SECOND]
    if strategy is Strategy.PER_FILE:
        limits.append(aws.SUBMIT_JOB_TPS)
    return min(limits)
