"""The streaming pass: read the file once, feed every chunk to every stream analyzer.

Each analyzer gets its own lane (a thread with a small bounded queue) when the file is larger than
one chunk: hashlib and YARA-X release the GIL, so the lanes share the cores and the slowest lane sets
the pace. Chunks are ``bytes`` objects read straight from the file (``FileIO.read``): YARA-X's Python
binding only accepts ``bytes``, so this is the one allocation per chunk and no extra copy is made
(glibc recycles the freed chunk buffers, so it does not fault new pages). Memory is bounded by
``(queue depth + 2) x chunk size`` whatever the file size. Small files run inline, without threads.
"""

from __future__ import annotations

import dataclasses
import queue
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

QUEUE_DEPTH = 2
_STOP = None


@dataclasses.dataclass
class _Lane:
    analyzer: StreamAnalyzer
    session: StreamSession | None
    error: str | None = None
    seconds: float = 0.0
    inbox: queue.Queue[tuple[memoryview, int] | None] | None = None
    thread: threading.Thread | None = None
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

    def run(self) -> None:
        assert self.inbox is not None
        while (item := self.inbox.get()) is not _STOP:
            self.feed(*item)
        # Finish on the lane's own thread: some engines' objects must die where they were made.
        self.final = self.result()

    def result(self) -> AnalyzerResult:
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
                return result
        return AnalyzerResult(
            name=self.analyzer.name,
            version="unknown",
            status=AnalyzerStatus.ERROR,
            seconds=self.seconds,
            error=self.error,
        )


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:500]


def stream_pass(
    target: Target, analyzers: Sequence[StreamAnalyzer], chunk_bytes: int
) -> tuple[list[AnalyzerResult], int]:
    """Feed ``target`` through ``analyzers``; return their results and the number of bytes read.

    An analyzer whose ``start``, ``feed`` or ``finish`` raises is reported with status ``error``;
    the others go on. Errors reading the file itself propagate (the caller decides what they mean).
    """
    lanes = []
    for analyzer in analyzers:
        try:
            lanes.append(_Lane(analyzer, analyzer.start(target)))
        except Exception as exc:
            lanes.append(_Lane(analyzer, None, error=_describe(exc)))
    threaded = target.size > chunk_bytes and len(lanes) > 1
    if threaded:
        for lane in lanes:
            lane.inbox = queue.Queue(maxsize=QUEUE_DEPTH)
            lane.thread = threading.Thread(target=lane.run, name=f"lane-{lane.analyzer.name}", daemon=True)
            lane.thread.start()
    offset = 0
    try:
        with target.path.open("rb", buffering=0) as handle:
            while data := handle.read(chunk_bytes):
                view = memoryview(data)
                for lane in lanes:
                    if lane.inbox is not None:
                        lane.inbox.put((view, offset))
                    else:
                        lane.feed(view, offset)
                offset += len(data)
                del view, data
    finally:
        for lane in lanes:
            if lane.inbox is not None and lane.thread is not None:
                lane.inbox.put(_STOP)
                lane.thread.join()
    return [lane.final if lane.final is not None else lane.result() for lane in lanes], offset
