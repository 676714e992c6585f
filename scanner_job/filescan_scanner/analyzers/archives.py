"""Archive analyzer: walks zip, tar (plain, gz, bz2, xz) and gzip/bzip2/xz streams recursively.

Each member is extracted, streamed and bounded, to a generated file name in the work dir and handed to
``context.scan_nested``. Depth, member-count, per-member, total-bytes and compression-ratio limits are
enforced while streaming (see ``archive_stream``); any hit is reported and makes the result ``partial``.
7z and RAR are recognised but not inspected: they are reported as uninspectable, never as clean.
"""

from __future__ import annotations

import platform
import struct
import tarfile
import time
import zipfile

from filescan_scanner.analyzers.archive_common import ArchiveWalk
from filescan_scanner.analyzers.archive_stream import BoundedReader, CorruptDataError, LimitExceededError
from filescan_scanner.analyzers.archive_tar import looks_like_tar, walk_single_stream, walk_tar
from filescan_scanner.analyzers.archive_zip import walk_zip
from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, ScanContext, Target

_MAGIC = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"PK\x07\x08", "zip"),
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
)
_UNSUPPORTED = {"7z", "rar"}
_CORRUPT = (
    zipfile.BadZipFile,
    tarfile.TarError,
    CorruptDataError,
    EOFError,
    OSError,
    NotImplementedError,  # zipfile: multi-disk archives
    ValueError,
    struct.error,
)


def detect_archive(target: Target) -> str | None:
    """Return the archive type of the target from its magic bytes (``zip``, ``tar``, ``gzip``...), or None."""
    try:
        with target.open() as fp:
            head = fp.read(512)
    except OSError:
        return None
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "tar" if looks_like_tar(head) else None


class ArchiveAnalyzer:
    """Recursively inspects archive members through ``context.scan_nested``."""

    name = "archive"

    def applies_to(self, target: Target) -> bool:
        """Whether the file's magic bytes say it is a supported (or recognised) archive."""
        return detect_archive(target) is not None

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        """Walk the archive; every limit hit, encrypted or corrupt member is reported."""
        started = time.monotonic()
        kind = detect_archive(target)
        result = AnalyzerResult(self.name, f"python-{platform.python_version()}", AnalyzerStatus.SKIPPED)
        if kind is None:
            result.seconds = time.monotonic() - started
            return result
        walk = ArchiveWalk(target, context, kind)
        error: str | None = None
        if kind in _UNSUPPORTED:
            walk.uninspectable.append(f"{kind} not supported: members not inspected")
        else:
            try:
                self._walk(walk, kind)
            except LimitExceededError as exc:
                walk.hit(exc.limit, exc.value, exc.detail)
            except _CORRUPT as exc:
                error = f"corrupt {walk.kind}: {type(exc).__name__}: {exc}"[:300]
        result.findings = walk.findings
        result.limits_hit = walk.limits_hit
        result.uninspectable = walk.uninspectable
        result.facts = {"archive": walk.facts()}
        if error is not None:
            result.uninspectable.append(error)
            result.error = error
            result.status = AnalyzerStatus.PARTIAL if walk.member_count else AnalyzerStatus.ERROR
        elif walk.limits_hit or walk.uninspectable:
            result.status = AnalyzerStatus.PARTIAL
        else:
            result.status = AnalyzerStatus.OK
        result.seconds = time.monotonic() - started
        return result

    @staticmethod
    def _walk(walk: ArchiveWalk, kind: str) -> None:
        with walk.target.open() as fp:
            if kind == "zip":
                walk_zip(walk, fp)
            elif kind == "tar":
                walk_tar(walk, BoundedReader(fp, "stored"))
            else:
                walk_single_stream(walk, fp, kind)
