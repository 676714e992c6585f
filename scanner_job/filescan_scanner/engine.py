"""Drives one scan: type, streaming pass, content analyzers, nested scans of archive members."""

from __future__ import annotations

import dataclasses
import shutil
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from filescan_scanner.analyzers.base import (
    AnalyzerResult,
    AnalyzerStatus,
    ContentAnalyzer,
    LimitHit,
    RemoteSource,
    ScanLimits,
    Target,
)
from filescan_scanner.analyzers.filetype import FileTypeAnalyzer
from filescan_scanner.analyzers.registry import CONTENT_ANALYZERS, load_content_analyzer, stream_analyzers
from filescan_scanner.analyzers.yara_rules import RuleSet
from filescan_scanner.source import SourceError
from filescan_scanner.streaming import stream_pass
from filescan_shared.report.vocabulary import LimitName

SPILL_HEADROOM = 64 * 1024**2
"""Work-dir space a spilled copy must leave free (extracted members, the report, the rules cache)."""


@dataclasses.dataclass
class TargetScan:
    """Everything the analyzers said about one target (the top-level file or a member)."""

    target: Target
    results: list[AnalyzerResult]
    bytes_read: int


@dataclasses.dataclass
class ScanOutcome:
    """The result of scanning a file and everything nested in it. ``targets[0]`` is the file itself."""

    targets: list[TargetScan]
    limits_hit: list[LimitHit]
    seconds: float

    @property
    def bytes_scanned(self) -> int:
        """Bytes read by streaming passes, members included."""
        return sum(t.bytes_read for t in self.targets)


@dataclasses.dataclass
class _Broken:
    """A registered content analyzer that could not be imported or built."""

    name: str
    error: str


class ScanEngine:
    """Scans local files with the configured analyzers and limits. Reusable across files."""

    def __init__(
        self,
        rules: RuleSet,
        limits: ScanLimits,
        work_dir: Path,
        *,
        overlap: int = 64 * 1024,
        head_bytes: int = 16 * 1024**2,
        content_analyzers: list[str] | None = None,
        stream_lanes: int | None = None,
    ) -> None:
        self.rules = rules
        self.stream_lanes = stream_lanes or None
        self.limits = limits
        self.work_dir = work_dir
        self._stream = stream_analyzers(rules, limits, overlap, head_bytes)
        self._filetype = FileTypeAnalyzer()
        self._content: list[ContentAnalyzer | _Broken] = []
        for reference in CONTENT_ANALYZERS if content_analyzers is None else content_analyzers:
            try:
                self._content.append(load_content_analyzer(reference))
            except Exception as exc:
                self._content.append(_Broken(reference.rpartition(":")[2], f"{type(exc).__name__}: {exc}"))

    def scan(self, source: Path | RemoteSource, display_name: str) -> ScanOutcome:
        """Scan a local file or an object read in place (named ``display_name`` for reports).

        ``SourceError`` (a ranged GET failing: throttled, overwritten, deleted) propagates: the caller
        decides whether the scan is retried or unscannable.
        """
        started = time.perf_counter()
        run = _Run(self)
        if isinstance(source, Path):
            target = Target(path=source, display_name=display_name, size=source.stat().st_size)
        else:
            target = Target(path=None, display_name=display_name, size=source.size, remote=source)
        try:
            run.scan_target(target)
        finally:
            run.drop_copy()
        return ScanOutcome(run.targets, run.limits_hit, time.perf_counter() - started)


class _Run:
    """State of one top-level scan; it is the ``ScanContext`` the content analyzers see."""

    def __init__(self, engine: ScanEngine) -> None:
        self._engine = engine
        self.targets: list[TargetScan] = []
        self.limits_hit: list[LimitHit] = []
        self.member_count = 0
        self.member_bytes = 0
        self._reported: set[str] = set()
        self._copy: Path | None = None

    @property
    def limits(self) -> ScanLimits:
        """The configured bounds."""
        return self._engine.limits

    @property
    def work_dir(self) -> Path:
        """Scratch space for extracted members."""
        return self._engine.work_dir

    def local_copy(self, target: Target) -> Path | LimitHit:
        """``target.path``, or one spilled copy of the remote target when it fits the work dir."""
        if target.path is not None:
            return target.path
        if self._copy is not None:
            return self._copy
        assert target.remote is not None
        free = shutil.disk_usage(self.work_dir).free
        if target.size + SPILL_HEADROOM > free:
            detail = f"a local copy of {target.size} bytes does not fit the work dir ({free} bytes free)"
            return LimitHit(LimitName.WORK_DIR_BYTES, free, detail, target.location)
        self._copy = target.remote.copy_to(self.work_dir)
        return self._copy

    def drop_copy(self) -> None:
        """Delete the spilled copy, if any."""
        if self._copy is not None:
            self._copy.unlink(missing_ok=True)
            self._copy = None

    def scan_nested(self, target: Target) -> None:
        """Scan an extracted member unless a depth, member-count or total-bytes limit forbids it."""
        limits = self.limits
        if target.path is None or not target.path.resolve().is_relative_to(self.work_dir.resolve()):
            raise ValueError("nested targets must live in the work dir")
        if target.depth > limits.max_depth:
            self._limit(
                target, LimitName.MAX_DEPTH, limits.max_depth, f"member nested deeper than {limits.max_depth}"
            )
            return
        if self.member_count >= limits.max_members:
            self._limit(
                target, LimitName.MAX_MEMBERS, limits.max_members, f"more than {limits.max_members} members"
            )
            return
        if self.member_bytes + target.size > limits.max_total_member_bytes:
            self._limit(
                target,
                LimitName.MAX_TOTAL_MEMBER_BYTES,
                limits.max_total_member_bytes,
                "members exceed the total-bytes limit; member not scanned",
            )
            return
        self.member_count += 1
        self.member_bytes += target.size
        self.scan_target(target)

    def _limit(self, target: Target, limit: LimitName, value: int, detail: str) -> None:
        # One hit per limit kind and location; a 100k-member bomb yields one line, not 100k.
        key = f"{limit}:{target.location.archive_path[:-1]}"
        if key not in self._reported:
            self._reported.add(key)
            self.limits_hit.append(LimitHit(limit, value, detail, target.location))

    def scan_target(self, target: Target) -> None:
        """Type, stream and content-analyse one target; nested members append their own entries."""
        entry = TargetScan(target, [], 0)
        self.targets.append(entry)
        typed = _timed(lambda: self._engine._filetype.analyze(target), self._engine._filetype.name)
        entry.results.append(typed)
        mime = typed.facts.get("mime")
        target = dataclasses.replace(target, mime=mime if isinstance(mime, str) else None)
        entry.target = target
        stream_results, entry.bytes_read = stream_pass(
            target, self._engine._stream, self.limits.chunk_bytes, lanes=self._engine.stream_lanes
        )
        entry.results.extend(stream_results)
        for analyzer in self._engine._content:
            entry.results.append(self._run_content(analyzer, target))

    def _run_content(self, analyzer: ContentAnalyzer | _Broken, target: Target) -> AnalyzerResult:
        if isinstance(analyzer, _Broken):
            return AnalyzerResult(analyzer.name, "unknown", AnalyzerStatus.ERROR, error=analyzer.error)
        try:
            applies = analyzer.applies_to(target)
        except SourceError:
            raise
        except Exception as exc:
            return AnalyzerResult(analyzer.name, "unknown", AnalyzerStatus.ERROR, error=_describe(exc))
        if not applies:
            return AnalyzerResult(analyzer.name, "n/a", AnalyzerStatus.SKIPPED)
        return _timed(lambda: analyzer.analyze(target, self), analyzer.name)


def _timed(call: Callable[[], AnalyzerResult], name: str) -> AnalyzerResult:
    started = time.perf_counter()
    try:
        result = call()
    except SourceError:
        raise  # the object itself could not be read: not this analyzer's failure
    except Exception as exc:
        return AnalyzerResult(
            name, "unknown", AnalyzerStatus.ERROR, seconds=time.perf_counter() - started, error=_describe(exc)
        )
    result.seconds = result.seconds or time.perf_counter() - started
    return result


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"[:500]
