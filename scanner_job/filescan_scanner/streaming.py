"""The streaming pass: read the file once, feed every chunk to every stream analyzer, in order.

The analyzers are spread over a fixed number of *lanes* (``lanes``: by default one per CPU, at least
two), not one thread each: on a 2-vCPU Batch job six analyzer threads only fight over the two cores
and the GIL. Each analyzer stays on one lane for the whole pass, chosen by ``plan_lanes`` from its
``cost`` (measured single-core CPU seconds per GiB) so that the lanes' loads are balanced; a lane
feeds each chunk to its analyzers one after the other, chunks in file order. hashlib and YARA-X
release the GIL on big buffers and TLSH is fed in small slices, so the lanes really run in parallel
and the most loaded lane sets the pace.

Lane 0 is the main thread: it reads the file (chunks are ``bytes`` straight from ``FileIO.read``, or
the parts of an S3 object read in place with ranged GETs, ``remote.py``: the YARA-X binding only
accepts ``bytes``, hashlib takes the same object without a copy), hands every
chunk to the worker lanes through bounded queues of ``QUEUE_DEPTH`` chunks, and feeds its own
analyzers up to ``READ_AHEAD`` chunks behind its reads, so the workers never wait for it. The read
cost is counted in lane 0's load. At most about ``QUEUE_DEPTH + READ_AHEAD + 1`` chunks are alive at
once, whatever the file size. Small files (one chunk) run inline, without threads.

A failing analyzer (``start``, ``feed`` or ``finish`` raising) is recorded as ``error`` and skipped for
the rest of the pass; its lane-mates and the other lanes go on.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Sequence

from filescan_scanner.analyzers.base import (
    AnalyzerResult,
    AnalyzerStatus,
    StreamAnalyzer,
    StreamSession,
    Target,
)

QUEUE_DEPTH = 3
"""Chunks a worker lane may have waiting; the reader blocks when a lane is this far behind."""
DEFAULT_COST = 1.0
"""Planning cost of an analyzer that does not declare one (about YARA-X's)."""
READ_AHEAD = 2
"""Chunks the main thread reads ahead of its own analyzers (so worker lanes do not wait for it)."""
READ_COST = 0.2
"""CPU seconds per GiB of ``read`` (the kernel's copy from the page cache): lane 0, the main thread's."""
SWITCH_INTERVAL = 0.0005
"""GIL switch interval during a threaded pass: a lane whose C call (hash, scan) returns waits at most
this long for a lane running Python code (entropy sampling, match collection) to let go of the GIL.
Python's default (5 ms) costs a lane up to 5 ms per chunk."""
GIB = 1024**3
_STOP = None


@dataclasses.dataclass
class _Slot:
    """One analyzer's session within a lane, with its error and time."""

    analyzer: StreamAnalyzer
    session: StreamSession | None
    error: str | None = None
    seconds: float = 0.0
    final: AnalyzerResult | None = None

    def feed(self, chunk: memoryview, offset: int) -> None:
        if self.session is None or self.error is not None:
            return
        started = time.perf_counter()
        try:
            self.session.feed(chunk, offset)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            self.error = _describe(exc)
        self.seconds += time.perf_counter() - started

    def result(self) -> AnalyzerResult:
        if self.final is not None:
            return self.final
        if self.error is None and self.session is not None:
            started = time.perf_counter()
            try:
                result = self.session.finish()
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:
                self.error = _describe(exc)
            else:
                result.seconds = max(result.seconds, self.seconds + time.perf_counter() - started)
                self.final = result
                return result
        self.final = AnalyzerResult(
            name=self.analyzer.name,
            version="unknown",
            status=AnalyzerStatus.ERROR,
            seconds=self.seconds,
            error=self.error,
        )
        return self.final


@dataclasses.dataclass
class _Lane:
    """A worker thread feeding each chunk, in order, to its analyzers."""

    slots: list[_Slot]
    inbox: queue.Queue[tuple[memoryview, int] | None] = dataclasses.field(
        default_factory=lambda: queue.Queue(maxsize=QUEUE_DEPTH)
    )
    thread: threading.Thread | None = None

    def run(self) -> None:
        slots = self.slots
        while (item := self.inbox.get()) is not _STOP:
            chunk, offset = item
            for slot in slots:
                slot.feed(chunk, offset)
            del item, chunk
        # Finish on the lane's own thread: some engines' objects (a yara-x Scanner) must die where made.
        for slot in slots:
            slot.result()


def default_lanes() -> int:
    """One lane per CPU this process may use, at least two (the reader mostly sleeps in ``read``)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(2, cpus)


def analyzer_cost(analyzer: StreamAnalyzer, size: int = GIB) -> float:
    """Planned CPU seconds of ``analyzer`` over ``size`` bytes.

    ``analyzer.planned_cost(size)`` when it has one (TLSH: only the head of the file costs), else its
    ``cost`` attribute (CPU seconds per GiB) scaled to ``size``, else ``DEFAULT_COST`` per GiB.
    """
    planned = getattr(analyzer, "planned_cost", None)
    if callable(planned):
        value = planned(size)
        if isinstance(value, int | float) and value >= 0:
            return float(value)
    cost = getattr(analyzer, "cost", DEFAULT_COST)
    per_gib = float(cost) if isinstance(cost, int | float) and cost >= 0 else DEFAULT_COST
    return per_gib * size / GIB


def plan_lanes(costs: Sequence[float], lanes: int, reader_cost: float = 0.0) -> list[list[int]]:
    """Assign analyzer indexes to ``lanes`` lanes (``max(1, lanes)`` lists), balancing the summed cost.

    Lane 0 is the reader's own lane (the main thread reads the file, then feeds its analyzers), so it
    starts loaded with ``reader_cost``. Longest-processing-time-first: the costliest analyzer goes to
    the least loaded lane. With the default analyzers on two lanes this gives
    read + YARA-X + sha1 + TLSH + entropy (main thread) | md5 + sha256 (worker); see the README's
    Performance section. Within a lane, analyzers keep their order; a lane may be left empty.
    """
    count = max(1, lanes)
    loads = [0.0] * count
    loads[0] = reader_cost
    plan: list[list[int]] = [[] for _ in range(count)]
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        lane = min(range(count), key=lambda n: (loads[n], n))
        plan[lane].append(index)
        loads[lane] += costs[index]
    return [sorted(indexes) for indexes in plan]


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:500]


def stream_pass(
    target: Target,
    analyzers: Sequence[StreamAnalyzer],
    chunk_bytes: int,
    *,
    lanes: int | None = None,
) -> tuple[list[AnalyzerResult], int]:
    """Feed ``target`` through ``analyzers``; return their results (in order) and the bytes read.

    ``lanes`` is the number of worker threads (``None``: ``default_lanes()``). An analyzer whose
    ``start``, ``feed`` or ``finish`` raises is reported with status ``error``; the others go on.
    Errors reading the file itself propagate (the caller decides what they mean).
    """
    slots = []
    for analyzer in analyzers:
        try:
            slots.append(_Slot(analyzer, analyzer.start(target)))
        except Exception as exc:
            slots.append(_Slot(analyzer, None, error=_describe(exc)))
    own = slots
    workers: list[_Lane] = []
    if target.size > chunk_bytes and len(slots) > 1:
        costs = [analyzer_cost(a, target.size) for a in analyzers]
        plan = plan_lanes(costs, lanes or default_lanes(), READ_COST * target.size / GIB)
        own = [slots[i] for i in plan[0]]
        workers = [_Lane([slots[i] for i in indexes]) for indexes in plan[1:] if indexes]
    offset = 0
    switch_interval = sys.getswitchinterval()
    try:
        if workers:
            sys.setswitchinterval(min(switch_interval, SWITCH_INTERVAL))
            for number, worker in enumerate(workers, start=1):
                worker.thread = threading.Thread(target=worker.run, name=f"lane-{number}", daemon=True)
                worker.thread.start()
        offset = _read_and_feed(target, chunk_bytes, workers, own)
    finally:
        for worker in workers:
            if worker.thread is not None:
                worker.inbox.put(_STOP)
                worker.thread.join()
        sys.setswitchinterval(switch_interval)
    return [slot.result() for slot in slots], offset


def _read_and_feed(target: Target, chunk_bytes: int, workers: list[_Lane], own: list[_Slot]) -> int:
    """Read the target, hand each chunk to every worker lane, feed the main thread's own slots.

    The main thread reads up to ``READ_AHEAD`` chunks ahead of its own analyzers, so the worker lanes
    are not starved while it works on a chunk; their bounded queues stop it running further ahead.
    Returns the number of bytes read.
    """
    read_ahead = READ_AHEAD if workers else 0
    pending: collections.deque[tuple[memoryview, int]] = collections.deque()
    offset = 0
    for data in target.chunks(chunk_bytes):
        view = memoryview(data)
        for worker in workers:
            worker.inbox.put((view, offset))
        pending.append((view, offset))
        offset += len(data)
        del view, data
        while len(pending) > read_ahead:
            _feed_own(own, pending)
    while pending:
        _feed_own(own, pending)
    return offset


def _feed_own(own: list[_Slot], pending: collections.deque[tuple[memoryview, int]]) -> None:
    chunk, at = pending.popleft()
    for slot in own:
        slot.feed(chunk, at)
