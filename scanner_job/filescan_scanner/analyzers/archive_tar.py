"""Tar walking (plain or inside gzip/bzip2/xz) and single compressed streams, both fully streamed."""

from __future__ import annotations

import tarfile
from typing import Any, BinaryIO

from filescan_scanner.analyzers.archive_common import ENGINE, ArchiveWalk, is_unsafe_path, label
from filescan_scanner.analyzers.archive_stream import BoundedReader, LimitExceededError
from filescan_scanner.analyzers.base import Finding
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

MAX_EXTENDED_HEADER = 1024 * 1024
"""Pax and GNU long-name headers are read into memory by ``tarfile``: refuse bigger ones."""
_EXTENDED_TYPES = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE, b"X")


class _BoundedTarInfo(tarfile.TarInfo):
    """A ``TarInfo`` that refuses oversized extended headers before ``tarfile`` reads them."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> Any:
        if self.type in _EXTENDED_TYPES and self.size > MAX_EXTENDED_HEADER:
            raise tarfile.HeaderError(f"extended header of {self.size} bytes")
        return getattr(super(), "_proc_member")(tarfile_)  # noqa: B009  (private, absent from stubs)


def looks_like_tar(head: bytes) -> bool:
    """Whether a 512-byte header block is a tar header (ustar magic, or a valid v7 checksum)."""
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":
        return True
    try:
        stored = int(head[148:156].split(b"\x00", 1)[0].strip() or b"-1", 8)
    except ValueError:
        return False
    computed = sum(head[:148]) + 8 * 32 + sum(head[156:512])
    return stored == computed and head[0] != 0


def _kind(ti: tarfile.TarInfo) -> str:
    if ti.isreg():
        return "file"
    if ti.isdir():
        return "dir"
    if ti.issym():
        return "symlink"
    if ti.islnk():
        return "hardlink"
    if ti.isdev():
        return "device"
    return "other"


def walk_tar(walk: ArchiveWalk, stream: BoundedReader) -> None:
    """Walk a tar stream member by member; links and devices are listed, never followed."""
    with tarfile.open(fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo) as tf:  # type: ignore[call-overload]
        while not walk.stopped:
            ti = tf.next()
            if ti is None:
                break
            tf.members.clear()  # tarfile keeps every header otherwise: memory would grow per member
            name = label(ti.name)
            kind = _kind(ti)
            info: dict[str, Any] = {"size": ti.size if kind == "file" else 0, "kind": kind}
            if kind in ("symlink", "hardlink"):
                info["link_target"] = label(ti.linkname)
            if not walk.add_member(name, **info):
                return
            walk.check_name(ti.name, name)
            if kind in ("symlink", "hardlink") and is_unsafe_path(ti.linkname):
                walk.finding(
                    "archive.link_escape",
                    FindingCategory.ARCHIVE_ANOMALY,
                    Severity.MEDIUM,
                    f"{kind} points outside the archive",
                    name,
                )
            if kind != "file" or not walk.may_extract(name):
                continue
            member = tf.extractfile(ti)
            if member is None:
                continue
            budget = walk.member_budget()
            if ti.size > budget:
                walk.hit(
                    _budget_limit(walk, budget), budget, f"member of {ti.size} bytes not extracted", name
                )
                continue
            walk.extract(name, member)


def stream_limit(walk: ArchiveWalk) -> int:
    """The most decompressed bytes a compressed tar stream may produce (members plus headers)."""
    limits = walk.context.limits
    return limits.max_total_member_bytes + limits.max_members * 1024 + 1024 * 1024


def walk_single_stream(walk: ArchiveWalk, fp: BinaryIO, kind: str) -> None:
    """A gzip/bzip2/xz file: a tar inside is walked, anything else is one member."""
    limits = walk.context.limits
    head_reader = BoundedReader(fp, kind, max_ratio=None)
    head = b""
    while len(head) < 512 and (piece := head_reader.read(512 - len(head))):
        head += piece
    fp.seek(0)
    if looks_like_tar(head):
        walk.kind = f"tar+{kind}"
        reader = BoundedReader(
            fp,
            kind,
            max_output=stream_limit(walk),
            max_ratio=limits.max_compression_ratio,
            output_limit_name=LimitName.MAX_TOTAL_MEMBER_BYTES,
        )
        try:
            walk_tar(walk, reader)
        except LimitExceededError as exc:
            walk.hit(exc.limit, exc.value, f"{exc.detail}; rest of the archive not scanned")
        _stream_notes(walk, reader)
        return
    name = label(_inner_name(walk.target.display_name, kind))
    if not walk.add_member(name, size=None, kind="file"):
        return
    if not walk.may_extract(name):
        return
    budget = walk.member_budget()
    reader = BoundedReader(
        fp,
        kind,
        max_output=budget,
        max_ratio=limits.max_compression_ratio,
        output_limit_name=_budget_limit(walk, budget),
    )
    written = walk.extract(name, reader)
    if written is not None and walk.members:
        walk.members[-1]["size"] = written
        walk.declared_bytes += written
    _stream_notes(walk, reader)


def _stream_notes(walk: ArchiveWalk, reader: BoundedReader) -> None:
    if reader.truncated:
        walk.uninspectable.append(f"truncated {reader.kind} stream")
    if reader.trailing_data:
        title = f"data after the end of the {reader.kind} stream"
        walk.findings.append(
            Finding(
                ENGINE,
                "archive.trailing_data",
                FindingCategory.ARCHIVE_ANOMALY,
                Severity.LOW,
                title,
                walk.location(),
            )
        )


def _inner_name(display_name: str, kind: str) -> str:
    suffixes = {"gzip": (".gz", ".tgz"), "bzip2": (".bz2",), "xz": (".xz",)}[kind]
    lower = display_name.lower()
    base = display_name.rsplit("/", 1)[-1]
    for suffix in suffixes:
        if lower.endswith(suffix):
            stem = base[: -len(suffix)]
            return stem + ".tar" if suffix == ".tgz" else stem or "member"
    return (base or "member") + ".decompressed"


def _budget_limit(walk: ArchiveWalk, budget: int) -> LimitName:
    return (
        LimitName.MAX_MEMBER_BYTES
        if budget == walk.context.limits.max_member_bytes
        else LimitName.MAX_TOTAL_MEMBER_BYTES
    )
