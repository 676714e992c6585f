"""Archive analyzer: zip, tar, gzip, bombs, nesting, encryption, traversal names, corrupt input."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import tarfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filescan_scanner.analyzers.archives import ArchiveAnalyzer
from filescan_scanner.analyzers.base import AnalyzerStatus, ScanLimits
from filescan_shared.severity import Severity
from tests.unit.scanner_content.content_helpers import FakeContext, encrypted_zip, make_target

MiB = 1024 * 1024


def _zip(path: Path, members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_given_a_zip_when_analyzed_then_members_are_extracted_to_generated_names_and_scanned(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "a.zip", {"hello.txt": b"hello", "../../etc/evil": b"x", "dir/": b""})
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK, result
    assert [t.location.archive_path for t in ctx.nested] == [("hello.txt",), ("../../etc/evil",)]
    assert all(t.depth == 1 for t in ctx.nested)
    assert all(t.path.name.startswith("member-") for t in ctx.nested)
    assert not any(t.path.exists() for t in ctx.nested)  # deleted after the nested scan
    assert ctx.contents == [b"hello", b"x"]
    anomalies = [f for f in result.findings if f.category == "archive-anomaly"]
    assert [f.rule_id for f in anomalies] == ["archive.path_traversal"]
    facts = result.facts["archive"]
    assert facts["type"] == "zip"
    assert facts["member_count"] == 3
    assert facts["members"][0] == {
        "name": "hello.txt",
        "size": 5,
        "compressed_size": 7,
        "encrypted": False,
        "kind": "file",
    }


def test_given_bzip2_and_stored_zip_members_when_analyzed_then_both_are_extracted(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "b.zip", {"a": b"abc" * 1000}, zipfile.ZIP_BZIP2)
    stored = _zip(tmp_path / "s.zip", {"s": b"stored!"}, zipfile.ZIP_STORED)
    assert ArchiveAnalyzer().analyze(make_target(path), ctx).status is AnalyzerStatus.OK
    assert ArchiveAnalyzer().analyze(make_target(stored), ctx).status is AnalyzerStatus.OK
    assert ctx.contents == [b"abc" * 1000, b"stored!"]


def test_given_a_hostile_member_name_when_analyzed_then_it_is_escaped_and_truncated(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "n.zip", {"\x1b[31m" + "é" * 500: b"x"})
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    (name,) = ctx.nested[0].location.archive_path
    assert name.startswith("\\x1b[31m\\xc3\\xa9")
    assert len(name) <= 200 and name.isascii() and name.endswith("...")
    assert result.facts["archive"]["members"][0]["name"] == name


@pytest.fixture(scope="module")
def zip_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 GiB of zeros deflated, written streaming (about 1 MiB on disk)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    zeros = bytes(MiB)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("zeros.bin", "w", force_zip64=True) as member,
    ):
        for _ in range(1024):
            member.write(zeros)
    return path


@pytest.mark.slow
def test_given_a_zip_bomb_when_analyzed_then_it_stops_early_on_the_compression_ratio(
    zip_bomb: Path, ctx: FakeContext
) -> None:
    assert zip_bomb.stat().st_size < 8 * MiB
    tracemalloc.start()
    started = time.monotonic()
    result = ArchiveAnalyzer().analyze(make_target(zip_bomb), ctx)
    elapsed = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in result.limits_hit] == ["max_compression_ratio"]
    assert result.limits_hit[0].location.archive_path == ("zeros.bin",)
    assert ctx.nested == []  # never handed on
    assert list(ctx.work_dir.iterdir()) == []  # partial file deleted
    assert elapsed < 5
    assert peak < 16 * MiB
    assert result.facts["archive"]["members"][0]["size"] == 1024 * MiB


def test_given_a_stored_member_over_the_size_limit_when_analyzed_then_the_member_limit_is_hit(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "big.zip", {"big": bytes(3 * MiB)}, zipfile.ZIP_STORED)
    ctx.limits = ScanLimits(max_member_bytes=MiB)
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert [h.limit for h in result.limits_hit] == ["max_member_bytes"]
    assert result.status is AnalyzerStatus.PARTIAL
    assert ctx.nested == [] and list(ctx.work_dir.iterdir()) == []


def test_given_many_members_when_analyzed_then_member_count_and_total_byte_limits_stop_it(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "many.zip", {f"f{i}": bytes([i]) * 1000 for i in range(10)})
    ctx.limits = ScanLimits(max_members=4)
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert len(ctx.nested) == 4
    assert [h.limit for h in result.limits_hit] == ["max_members"]
    ctx2 = FakeContext(work_dir=ctx.work_dir, limits=ScanLimits(max_total_member_bytes=2500))
    result2 = ArchiveAnalyzer().analyze(make_target(path), ctx2)
    assert len(ctx2.nested) == 2
    assert {h.limit for h in result2.limits_hit} == {"max_total_member_bytes"}
    assert result2.status is AnalyzerStatus.PARTIAL


def test_given_twenty_nested_zips_when_analyzed_then_they_hit_the_depth_limit(
    tmp_path: Path, ctx: FakeContext
) -> None:
    data = b"innermost"
    for level in range(20, 0, -1):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"level{level}.zip" if level < 20 else "core.txt", data)
        data = buf.getvalue()
    path = tmp_path / "nested.zip"
    path.write_bytes(data)
    ctx.analyzer = ArchiveAnalyzer()
    ctx.limits = ScanLimits(max_depth=5)
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK
    assert max(t.depth for t in ctx.nested) == 5
    deepest = ctx.nested_results[0]  # the innermost analysis finishes first
    assert deepest.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in deepest.limits_hit] == ["max_depth"]
    assert deepest.limits_hit[0].location.archive_path == (
        "level1.zip",
        "level2.zip",
        "level3.zip",
        "level4.zip",
        "level5.zip",
    )
    assert deepest.facts["archive"]["member_count"] == 1  # still listed, not extracted


def test_given_an_encrypted_zip_member_when_analyzed_then_it_is_reported_not_extracted(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = tmp_path / "enc.zip"
    path.write_bytes(encrypted_zip(b"secret.txt", b"top secret payload", b"pw"))
    with zipfile.ZipFile(path) as zf:  # the fixture is genuinely encrypted
        assert zf.read("secret.txt", pwd=b"pw") == b"top secret payload"
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert ctx.nested == []
    assert result.status is AnalyzerStatus.PARTIAL
    assert result.uninspectable == ["encrypted member: secret.txt"]
    (finding,) = result.findings
    assert (finding.category, finding.severity) == ("encrypted", Severity.MEDIUM)
    assert result.facts["archive"]["members"][0]["encrypted"] is True


def test_given_a_tar_with_traversal_names_and_links_when_analyzed_then_they_are_flagged_not_followed(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = tmp_path / "t.tar"
    with tarfile.open(path, "w") as tf:
        for name, data in (("ok.txt", b"fine"), ("../escape.txt", b"evil"), ("/abs.txt", b"abs")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
        hard = tarfile.TarInfo("hard")
        hard.type, hard.linkname = tarfile.LNKTYPE, "ok.txt"
        tf.addfile(hard)
        dev = tarfile.TarInfo("null")
        dev.type = tarfile.CHRTYPE
        tf.addfile(dev)
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert ctx.contents == [b"fine", b"evil", b"abs"]
    assert result.status is AnalyzerStatus.OK
    kinds = {m["name"]: m["kind"] for m in result.facts["archive"]["members"]}
    assert kinds == {
        "ok.txt": "file",
        "../escape.txt": "file",
        "/abs.txt": "file",
        "passwd": "symlink",
        "hard": "hardlink",
        "null": "device",
    }
    rules = sorted(f.rule_id for f in result.findings)
    assert rules == ["archive.link_escape", "archive.path_traversal", "archive.path_traversal"]
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize(
    ("suffix", "compress"), [("gz", gzip.compress), ("bz2", bz2.compress), ("xz", lzma.compress)]
)
def test_given_a_compressed_tar_when_analyzed_then_its_members_are_extracted(
    tmp_path: Path, ctx: FakeContext, suffix: str, compress: object
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("inner.txt")
        info.size = 5
        tf.addfile(info, io.BytesIO(b"inner"))
    path = tmp_path / f"t.tar.{suffix}"
    path.write_bytes(compress(buf.getvalue()))  # type: ignore[operator]
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK
    assert result.facts["archive"]["type"] == f"tar+{ {'gz': 'gzip', 'bz2': 'bzip2', 'xz': 'xz'}[suffix] }"
    assert ctx.contents == [b"inner"]


def test_given_a_gzip_file_when_analyzed_then_its_single_stream_is_the_member(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = tmp_path / "report.txt.gz"
    path.write_bytes(gzip.compress(b"line\n" * 100))
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK
    (nested,) = ctx.nested
    assert nested.location.archive_path == ("report.txt",)
    assert ctx.contents == [b"line\n" * 100]
    assert result.facts["archive"]["members"][0]["size"] == 500


def test_given_a_gzip_bomb_or_a_truncated_gzip_when_analyzed_then_it_is_limited_or_partial(
    tmp_path: Path, ctx: FakeContext
) -> None:
    bomb = tmp_path / "z.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fp:
        for _ in range(64):
            fp.write(bytes(MiB))
    result = ArchiveAnalyzer().analyze(make_target(bomb), ctx)
    assert [h.limit for h in result.limits_hit] == ["max_compression_ratio"]
    assert ctx.nested == []
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(b"some text " * 50)[:20])
    result = ArchiveAnalyzer().analyze(make_target(cut), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert "truncated gzip stream" in result.uninspectable


def test_given_a_corrupt_zip_when_analyzed_then_it_is_partial_or_an_error(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "c.zip", {"a.txt": b"hello world " * 100})
    data = bytearray(path.read_bytes())
    data[35] = 0xFF  # first deflate byte: block type 3 is invalid
    path.write_bytes(bytes(data))
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert result.uninspectable[0].startswith("corrupt member: a.txt: deflate data corrupt")
    assert ctx.nested == []
    crc = _zip(tmp_path / "crc.zip", {"b.txt": b"stored data"}, zipfile.ZIP_STORED)
    raw = crc.read_bytes().replace(b"stored data", b"stored DATA", 1)
    crc.write_bytes(raw)
    result = ArchiveAnalyzer().analyze(make_target(crc), ctx)
    assert result.uninspectable == ["corrupt member: b.txt: CRC mismatch"]
    assert result.status is AnalyzerStatus.PARTIAL
    cut = tmp_path / "cut.zip"
    cut.write_bytes(bytes(data[:-30]))  # no end-of-central-directory record
    result = ArchiveAnalyzer().analyze(make_target(cut), ctx)
    assert result.status is AnalyzerStatus.ERROR
    assert result.error and "corrupt zip" in result.error


def test_given_overlapping_zip_members_when_analyzed_then_they_are_flagged(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _zip(tmp_path / "o.zip", {"a": b"A" * 100, "b": b"B" * 100})
    data = bytearray(path.read_bytes())
    second = data.rfind(b"PK\x01\x02")
    data[second + 42 : second + 46] = (0).to_bytes(4, "little")  # b's local header offset -> a's
    path.write_bytes(bytes(data))
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert "archive.overlapping_members" in {f.rule_id for f in result.findings}


def test_given_a_7z_or_a_non_archive_when_analyzed_then_7z_is_partial_and_text_skipped(
    tmp_path: Path, ctx: FakeContext
) -> None:
    seven = tmp_path / "a.7z"
    seven.write_bytes(b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(100))
    analyzer = ArchiveAnalyzer()
    assert analyzer.applies_to(make_target(seven))
    result = analyzer.analyze(make_target(seven), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert result.uninspectable == ["7z not supported: members not inspected"]
    text = tmp_path / "a.txt"
    text.write_bytes(b"just text")
    assert not analyzer.applies_to(make_target(text))
    assert analyzer.analyze(make_target(text), ctx).status is AnalyzerStatus.SKIPPED


def test_given_scan_limits_when_inspected_then_they_are_a_dataclass() -> None:
    assert dataclasses.is_dataclass(ScanLimits)


def test_given_an_oversized_gnu_longname_header_when_analyzed_then_it_is_refused(
    tmp_path: Path, ctx: FakeContext
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("a" * (2 * MiB))
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    path = tmp_path / "long.tar"
    path.write_bytes(buf.getvalue())
    result = ArchiveAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.ERROR
    assert result.error and "extended header" in result.error
    assert ctx.nested == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["zip", "tgz"]),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255))),
)
def test_given_damaged_archives_when_analyzed_then_they_never_raise(
    tmp_path: Path, kind: str, flips: list[tuple[int, int]]
) -> None:
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("a.txt", b"alpha " * 200)
            zf.writestr("b/c.bin", bytes(range(256)) * 4)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            info = tarfile.TarInfo("a.txt")
            info.size = 1200
            tf.addfile(info, io.BytesIO(b"alpha " * 200))
    data = bytearray(buf.getvalue())
    for pos, value in flips:
        data[pos % len(data)] = value
    work = tmp_path / f"w{len(list(tmp_path.iterdir()))}"
    work.mkdir()
    path = work / "in.bin"
    path.write_bytes(bytes(data))
    context = FakeContext(work_dir=work)
    result = ArchiveAnalyzer().analyze(make_target(path), context)
    assert result.status in set(AnalyzerStatus)
    quiet = result.status in (AnalyzerStatus.OK, AnalyzerStatus.SKIPPED)
    assert quiet or result.limits_hit or result.uninspectable or result.findings
