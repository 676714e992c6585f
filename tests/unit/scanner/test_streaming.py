"""The streaming pass: lanes, order, error isolation, bounded memory; and the scanner settings."""

import hashlib
import os
import threading
import time
import weakref
from pathlib import Path

import pytest

from filescan_scanner import streaming
from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, ScanLimits, Target
from filescan_scanner.analyzers.registry import stream_analyzers
from filescan_scanner.analyzers.yara_rules import load_rules
from filescan_scanner.settings import ConfigurationError, ScannerSettings
from filescan_scanner.streaming import plan_lanes, stream_pass

CHUNK = 4096


class Recorder:
    """Checks chunks arrive in order without gaps; digests them; notes its thread(s)."""

    def __init__(self, name: str, cost: float = 1.0, delay: float = 0.0) -> None:
        self.name = name
        self.cost = cost
        self.delay = delay
        self.threads: set[str] = set()

    def start(self, target: Target) -> "RecorderSession":
        return RecorderSession(self)


class RecorderSession:
    def __init__(self, owner: Recorder) -> None:
        self.owner = owner
        self.expected = 0
        self.digest = hashlib.sha256()
        self.busy = threading.Lock()

    def feed(self, chunk: memoryview, offset: int) -> None:
        assert self.busy.acquire(blocking=False), f"{self.owner.name}: fed by two lanes at once"
        self.busy.release()
        assert offset == self.expected, f"{self.owner.name}: chunk at {offset}, expected {self.expected}"
        self.expected += len(chunk)
        self.digest.update(chunk)
        self.owner.threads.add(threading.current_thread().name)
        if self.owner.delay:
            time.sleep(self.owner.delay)

    def finish(self) -> AnalyzerResult:
        return AnalyzerResult(
            self.owner.name,
            "1",
            AnalyzerStatus.OK,
            facts={"bytes": self.expected, "sha256": self.digest.hexdigest()},
        )


class FailsAt(Recorder):
    """Raises on the chunk at ``fail_offset``."""

    def __init__(self, name: str, fail_offset: int, cost: float = 1.0) -> None:
        super().__init__(name, cost)
        self.fail_offset = fail_offset

    def start(self, target: Target) -> RecorderSession:
        session = RecorderSession(self)
        feed = session.feed

        def failing(chunk: memoryview, offset: int) -> None:
            if offset == self.fail_offset:
                raise RuntimeError("boom")
            feed(chunk, offset)

        session.feed = failing  # type: ignore[method-assign]
        return session


class ChunkTracker(Recorder):
    """Keeps weak references to every chunk view it is fed; ``peak`` is the most alive at once."""

    def __init__(self, name: str, cost: float) -> None:
        super().__init__(name, cost)
        self.live: weakref.WeakSet[memoryview] = weakref.WeakSet()
        self.peak = 0

    def start(self, target: Target) -> RecorderSession:
        session = RecorderSession(self)
        feed = session.feed

        def tracking(chunk: memoryview, offset: int) -> None:
            self.live.add(chunk)
            self.peak = max(self.peak, len(self.live))
            feed(chunk, offset)

        session.feed = tracking  # type: ignore[method-assign]
        return session


def _target(tmp_path: Path, data: bytes) -> Target:
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return Target(path, "data.bin", len(data))


@pytest.mark.parametrize("lanes", [1, 2, 3, 8])
def test_given_any_lane_count_when_streamed_then_every_analyzer_gets_every_byte_in_order(
    tmp_path: Path, lanes: int
) -> None:
    data = os.urandom(CHUNK * 37 + 123)
    analyzers = [Recorder(f"r{i}", cost=float(i % 3 + 1), delay=0.0005 * (i % 2)) for i in range(6)]
    results, read = stream_pass(_target(tmp_path, data), analyzers, CHUNK, lanes=lanes)
    assert read == len(data)
    assert [r.name for r in results] == [a.name for a in analyzers]
    for result in results:
        assert result.status is AnalyzerStatus.OK
        assert result.facts == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert all(len(a.threads) == 1 for a in analyzers)  # an analyzer stays on its lane's thread
    used = set().union(*(a.threads for a in analyzers))
    assert len(used) == min(lanes, len(analyzers))


def test_given_a_failing_analyzer_when_streamed_then_its_lane_mates_still_finish(tmp_path: Path) -> None:
    data = os.urandom(CHUNK * 10)
    bad = FailsAt("bad", fail_offset=3 * CHUNK, cost=5.0)
    mates = [Recorder("mate1", cost=1.0), Recorder("mate2", cost=1.0)]
    # One lane: the failing analyzer shares its thread with both mates; two: lanes share floaters.
    for lanes in (1, 2):
        results, _ = stream_pass(_target(tmp_path, data), [bad, *mates], CHUNK, lanes=lanes)
        by_name = {r.name: r for r in results}
        assert by_name["bad"].status is AnalyzerStatus.ERROR
        assert by_name["bad"].error is not None and "RuntimeError: boom" in by_name["bad"].error
        for name in ("mate1", "mate2"):
            assert by_name[name].status is AnalyzerStatus.OK
            assert by_name[name].facts["sha256"] == hashlib.sha256(data).hexdigest()


def test_given_analyzers_failing_at_start_or_finish_when_streamed_then_only_they_error(
    tmp_path: Path,
) -> None:
    class BadStart(Recorder):
        def start(self, target: Target) -> RecorderSession:
            raise ValueError("cannot start")

    class BadFinish(Recorder):
        def start(self, target: Target) -> RecorderSession:
            session = RecorderSession(self)

            def finish() -> AnalyzerResult:
                raise OSError("cannot finish")

            session.finish = finish  # type: ignore[method-assign]
            return session

    data = os.urandom(CHUNK * 6)
    analyzers = [BadStart("s"), BadFinish("f"), Recorder("ok")]
    results, _ = stream_pass(_target(tmp_path, data), analyzers, CHUNK, lanes=2)
    assert [r.status for r in results] == [AnalyzerStatus.ERROR, AnalyzerStatus.ERROR, AnalyzerStatus.OK]
    assert results[0].error is not None and "cannot start" in results[0].error
    assert results[1].error is not None and "cannot finish" in results[1].error


@pytest.mark.parametrize("slow_cost", [2.0, 0.5])  # the slow analyzer on a worker lane / the reader's
def test_given_a_slow_analyzer_when_streamed_then_live_chunks_are_bounded_by_the_queue_depth(
    tmp_path: Path, slow_cost: float
) -> None:
    data = os.urandom(CHUNK * 64)
    tracker = ChunkTracker("tracker", cost=1.0)
    slow = Recorder("slow", cost=slow_cost, delay=0.002)
    results, _ = stream_pass(_target(tmp_path, data), [tracker, slow], CHUNK, lanes=2)
    assert all(r.status is AnalyzerStatus.OK for r in results)
    assert tracker.threads != slow.threads  # they were on different lanes
    assert (threading.current_thread().name in slow.threads) is (slow_cost < 1.0)
    # Chunks alive at once: the worker's queue and the one it works on, the reader's read-ahead.
    assert 2 <= tracker.peak <= streaming.QUEUE_DEPTH + streaming.READ_AHEAD + 1


def test_given_a_file_smaller_than_a_chunk_when_streamed_then_it_runs_inline(tmp_path: Path) -> None:
    data = os.urandom(CHUNK - 1)
    analyzers = [Recorder("a"), Recorder("b")]
    results, read = stream_pass(_target(tmp_path, data), analyzers, CHUNK, lanes=2)
    assert read == len(data) and all(r.status is AnalyzerStatus.OK for r in results)
    assert analyzers[0].threads == analyzers[1].threads == {threading.current_thread().name}


def test_given_analyzer_costs_when_lanes_are_planned_then_loads_balance_and_each_is_placed_once() -> None:
    costs = [1.0, 1.4, 0.6, 0.6, 0.1, 0.15]
    plan = plan_lanes(costs, 2, reader_cost=0.2)
    assert len(plan) == 2
    assert sorted(i for lane in plan for i in lane) == list(range(len(costs)))
    loads = [sum(costs[i] for i in lane) for lane in plan]
    loads[0] += 0.2  # lane 0 is the reader's
    assert max(loads) - min(loads) <= max(costs)
    assert plan_lanes(costs, 1) == [list(range(6))]
    assert plan_lanes(costs, 0) == [list(range(6))]
    eight = plan_lanes(costs, 8, reader_cost=0.2)
    assert len(eight) == 8 and sum(1 for lane in eight if lane) == 6
    assert eight[0] == []  # the reader's lane is the most loaded before any analyzer is placed
    assert plan_lanes([], 2) == [[], []]


def test_given_the_default_analyzers_when_lanes_are_planned_then_md5_stays_off_the_readers_lane() -> None:
    analyzers = stream_analyzers(load_rules(), ScanLimits(), 64 * 1024, 16 * 1024**2)
    gib = 1024**3
    plan = plan_lanes([streaming.analyzer_cost(a, gib) for a in analyzers], 2, streaming.READ_COST)
    names = [{analyzers[i].name for i in lane} for lane in plan]
    assert names == [{"yara-x", "sha1", "sha256"}, {"md5", "tlsh", "entropy"}]
    # On a 64 MiB file TLSH's fixed head cost weighs as much as a hash: the split still balances.
    small = 64 * 1024**2
    costs = [streaming.analyzer_cost(a, small) for a in analyzers]
    assert analyzers[4].name == "tlsh" and costs[4] == streaming.analyzer_cost(analyzers[4], 4 * 1024**2)
    loads = [sum(costs[i] for i in lane) for lane in plan_lanes(costs, 2, streaming.READ_COST / 16)]
    assert max(loads) < 0.6 * sum(costs)


def test_given_scanner_variables_when_settings_load_then_they_parse_and_every_bad_one_is_named() -> None:
    settings = ScannerSettings.from_env(
        {"FILESCAN_MAX_DEPTH": "3", "FILESCAN_MAX_COMPRESSION_RATIO": "50.5", "REPORTS_BUCKET": "b"}
    )
    assert settings.scan_limits.max_depth == 3 and settings.limits().max_depth == 3
    assert settings.scan_limits.max_compression_ratio == 50.5 and settings.reports_bucket == "b"
    assert ScannerSettings.from_env({}) == ScannerSettings()
    with pytest.raises(ConfigurationError) as info:
        ScannerSettings.from_env(
            {
                "FILESCAN_MAX_DEPTH": "three",
                "FILESCAN_CHUNK_BYTES": "12",
                "FILESCAN_MAX_COMPRESSION_RATIO": "0",
                "FILESCAN_DOWNLOAD_CONCURRENCY": "65",
            }
        )
    message = str(info.value)
    for variable in (
        "FILESCAN_MAX_DEPTH",
        "FILESCAN_CHUNK_BYTES",
        "FILESCAN_MAX_COMPRESSION_RATIO",
        "FILESCAN_DOWNLOAD_CONCURRENCY",
    ):
        assert variable in message
