"""Targets read in place (``Target.remote``): the engine's spill rule and the ``work_dir_bytes`` limit.

``SpooledObject`` stands in for ``remote.RemoteObject`` (the S3 one is tested against a moto server in
tests/integration/test_scanner_s3.py): its bytes live in a file outside the work dir, and it may claim a
size larger than any disk to exercise the no-room path.
"""

from __future__ import annotations

import dataclasses
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

from filescan_scanner.analyzers.base import AnalyzerStatus, LimitHit, ScanLimits, Target
from filescan_scanner.analyzers.executables import ExecutableAnalyzer
from filescan_scanner.analyzers.yara_rules import RuleSet
from filescan_scanner.engine import ScanEngine, _Run
from filescan_shared.report.vocabulary import LimitName
from tests.unit.scanner.conftest import eicar_bytes


@dataclasses.dataclass
class SpooledObject:
    """A ``RemoteSource`` over a file; ``claimed`` overrides the size it reports."""

    backing: Path
    claimed: int | None = None
    copies: int = 0

    @property
    def size(self) -> int:
        return self.claimed if self.claimed is not None else self.backing.stat().st_size

    def parts(self) -> Iterator[bytes]:
        with self.backing.open("rb") as fp:
            while part := fp.read(1000):
                yield part

    def open(self) -> io.RawIOBase:
        return io.FileIO(self.backing)

    def copy_to(self, directory: Path) -> Path:
        self.copies += 1
        target = directory / f"copy-{self.copies}.bin"
        shutil.copyfile(self.backing, target)
        return target


def _engine(tmp_path: Path, rules: RuleSet, content: list[str]) -> tuple[ScanEngine, Path]:
    work = tmp_path / "work"
    work.mkdir()
    engine = ScanEngine(rules, ScanLimits(chunk_bytes=4096), work, overlap=1024, content_analyzers=content)
    return engine, work


def test_given_a_remote_target_when_read_then_it_streams_parts_and_spills_once(
    tmp_path: Path, rules: RuleSet
) -> None:
    backing = tmp_path / "object.exe"
    backing.write_bytes(b"MZ" + b"\0" * 5000 + eicar_bytes())
    remote = SpooledObject(backing)
    engine, work = _engine(tmp_path, rules, ["filescan_scanner.analyzers.executables:ExecutableAnalyzer"])
    outcome = engine.scan(remote, "object.exe")
    top = outcome.targets[0]
    assert top.bytes_read == backing.stat().st_size
    assert any(f.engine == "yara-x" for r in top.results for f in r.findings)  # EICAR, read in parts
    executable = next(r for r in top.results if r.name == "executable")
    assert executable.status is AnalyzerStatus.ERROR  # not a real PE: pefile read the spilled copy
    assert remote.copies == 1
    assert list(work.iterdir()) == []  # the copy is gone after the scan


def test_given_an_object_too_big_for_the_work_dir_when_spilled_then_a_limit_is_hit(
    tmp_path: Path, rules: RuleSet
) -> None:
    backing = tmp_path / "object.exe"
    backing.write_bytes(b"MZ" + b"\0" * 100)
    remote = SpooledObject(backing, claimed=2**60)
    target = Target(path=None, display_name="huge.exe", size=remote.size, remote=remote)
    engine, _ = _engine(tmp_path, rules, [])
    context = _Run(engine)
    hit = context.local_copy(target)
    assert isinstance(hit, LimitHit) and hit.limit == LimitName.WORK_DIR_BYTES
    result = ExecutableAnalyzer().analyze(target, context)
    assert result.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in result.limits_hit] == [LimitName.WORK_DIR_BYTES]
    assert remote.copies == 0
