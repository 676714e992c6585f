"""Zip walking: the central directory via ``zipfile``, member data decompressed by ``BoundedReader``.

The member data is read raw (from the local header's data offset, ``compress_size`` bytes) and
decompressed here rather than through ``ZipFile.open``, so that every decompression step is bounded
(``zipfile`` decompresses bzip2/lzma members without an output bound).
"""

from __future__ import annotations

import itertools
import stat
import struct
import zipfile
from typing import BinaryIO

from filescan_scanner.analyzers.archive_common import ArchiveWalk, label
from filescan_scanner.analyzers.archive_stream import BoundedReader
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate", zipfile.ZIP_BZIP2: "bzip2"}
_AES_METHOD = 99
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_EOCD_SIG = b"PK\x05\x06"
_MAX_CD_BYTES = 32 * 1024 * 1024
_MAX_CD_ENTRIES = 65536
"""``zipfile`` keeps every central directory entry in memory: bigger directories are not parsed."""


def central_directory_size(fp: BinaryIO, size: int) -> tuple[int, int] | None:
    """Return (entries, central directory bytes) from the end records, or None if not found."""
    tail_len = min(size, 65535 + 22 + 20)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    pos = tail.rfind(_EOCD_SIG)
    if pos < 0 or pos + 22 > len(tail):
        return None
    entries, cd_size = struct.unpack_from("<HI", tail, pos + 10)
    loc = pos - 20
    if (entries == 0xFFFF or cd_size == 0xFFFFFFFF) and loc >= 0 and tail[loc : loc + 4] == b"PK\x06\x07":
        (z64_offset,) = struct.unpack_from("<Q", tail, loc + 8)
        fp.seek(z64_offset)
        rec = fp.read(56)
        if len(rec) == 56 and rec[:4] == b"PK\x06\x06":
            entries, cd_size = struct.unpack_from("<QQ", rec, 32)
    return entries, cd_size


def _data_offset(fp: BinaryIO, info: zipfile.ZipInfo) -> int | None:
    fp.seek(info.header_offset)
    header = fp.read(_LOCAL_HEADER.size)
    if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        return None
    name_len, extra_len = struct.unpack_from("<HH", header, 26)
    return int(info.header_offset + _LOCAL_HEADER.size + name_len + extra_len)


def _check_overlaps(walk: ArchiveWalk, infos: list[zipfile.ZipInfo]) -> None:
    """Members whose data ranges overlap are the signature of a non-recursive zip bomb."""
    ranges = sorted((i.header_offset, i.header_offset + i.compress_size, i.filename) for i in infos)
    for (_, end, _name), (start, _, name) in itertools.pairwise(ranges):
        if start < end:
            walk.finding(
                "archive.overlapping_members",
                FindingCategory.ARCHIVE_ANOMALY,
                Severity.HIGH,
                "zip members share compressed data (overlapping-file zip bomb)",
                label(name),
            )
            return


def walk_zip(walk: ArchiveWalk, fp: BinaryIO) -> None:
    """Walk a zip archive: list every member, extract and scan the ones the limits allow."""
    limits = walk.context.limits
    cd = central_directory_size(fp, walk.target.size)
    if cd is not None:
        entries, cd_size = cd
        if entries > max(2 * limits.max_members, _MAX_CD_ENTRIES) or cd_size > _MAX_CD_BYTES:
            walk.hit(LimitName.MAX_MEMBERS, limits.max_members, f"central directory lists {entries} members")
            walk.uninspectable.append("zip central directory too large to parse")
            walk.stopped = True
            return
    fp.seek(0)
    with zipfile.ZipFile(fp) as zf:
        infos = zf.infolist()
        _check_overlaps(walk, infos)
        for info in infos:
            if walk.stopped:
                return
            _walk_member(walk, fp, info)


def _method(walk: ArchiveWalk, info: zipfile.ZipInfo, name: str, encrypted: bool) -> str | None:
    """The decompression for a member, or None (recorded as uninspectable) if it can't be read."""
    if encrypted:
        walk.uninspectable.append(f"encrypted member: {name}")
        walk.finding(
            "archive.encrypted", FindingCategory.ENCRYPTED, Severity.MEDIUM, "encrypted archive member", name
        )
        return None
    method = _METHODS.get(info.compress_type)
    if method is None:
        walk.uninspectable.append(f"unsupported compression method {info.compress_type}: {name}")
    return method


def _walk_member(walk: ArchiveWalk, fp: BinaryIO, info: zipfile.ZipInfo) -> None:
    name = label(info.filename)
    encrypted = bool(info.flag_bits & 0x1) or info.compress_type == _AES_METHOD
    mode = info.external_attr >> 16
    kind = "dir" if info.is_dir() else "symlink" if stat.S_ISLNK(mode) else "file"
    if not walk.add_member(
        name, size=info.file_size, compressed_size=info.compress_size, encrypted=encrypted, kind=kind
    ):
        return
    walk.check_name(info.filename, name)
    if kind != "file":
        return
    method = _method(walk, info, name, encrypted)
    if method is None or not walk.may_extract(name):
        return
    offset = _data_offset(fp, info)
    if offset is None:
        walk.uninspectable.append(f"corrupt member: {name}: bad local header")
        return
    fp.seek(offset)
    limits = walk.context.limits
    budget = walk.member_budget()
    reader = BoundedReader(
        fp,
        method,
        length=info.compress_size,
        max_output=budget,
        max_ratio=limits.max_compression_ratio,
        output_limit_name=LimitName.MAX_MEMBER_BYTES
        if budget == limits.max_member_bytes
        else LimitName.MAX_TOTAL_MEMBER_BYTES,
    )
    written = walk.extract(name, reader)
    if written is None:
        return
    if reader.truncated:
        walk.uninspectable.append(f"truncated member: {name}")
    elif reader.crc != info.CRC:
        walk.uninspectable.append(f"corrupt member: {name}: CRC mismatch")
