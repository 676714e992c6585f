"""State shared by the archive walkers: limits, the member listing, extraction to the work dir."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Protocol

from filescan_scanner.analyzers.archive_stream import CorruptDataError, LimitExceededError
from filescan_scanner.analyzers.base import Finding, LimitHit, Location, ScanContext, Target
from filescan_scanner.text import safe_excerpt
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

ENGINE = "archive"
MEMBER_LIST_CAP = 200
"""At most this many members are listed in the facts; ``members_capped`` says when more existed."""
NAME_LIMIT = 200
COPY_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class Readable(Protocol):
    """Anything with ``read(n)``: a ``BoundedReader`` or a tar member stream."""

    def read(self, n: int = -1, /) -> bytes:
        """Return up to ``n`` bytes."""
        ...


def label(name: str | bytes) -> str:
    """Escape and truncate an untrusted member name for reports and ``archive_path``."""
    raw = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
    return safe_excerpt(raw, NAME_LIMIT)


def is_unsafe_path(name: str) -> bool:
    """Whether a member name would escape an extraction directory (absolute, drive, ``..``)."""
    if not name:
        return False
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return True
    return any(part == ".." for part in re.split(r"[/\\]", name))


@dataclasses.dataclass
class ArchiveWalk:
    """One archive being walked: counters, the bounded member list and everything to report."""

    target: Target
    context: ScanContext
    kind: str
    findings: list[Finding] = dataclasses.field(default_factory=list)
    limits_hit: list[LimitHit] = dataclasses.field(default_factory=list)
    uninspectable: list[str] = dataclasses.field(default_factory=list)
    members: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    member_count: int = 0
    declared_bytes: int = 0
    extracted_count: int = 0
    extracted_bytes: int = 0
    stopped: bool = False
    """A per-archive limit was reached: list no more, extract no more."""
    _depth_reported: bool = False

    def location(self, name_label: str | None = None) -> Location:
        """The location of this archive, or of one of its members."""
        base = self.target.location.archive_path
        return Location(archive_path=(*base, name_label) if name_label is not None else base)

    def hit(self, limit: LimitName, value: float, detail: str, name_label: str | None = None) -> None:
        """Record a limit hit."""
        self.limits_hit.append(LimitHit(limit, value, detail, self.location(name_label)))

    def finding(
        self, rule_id: str, category: FindingCategory, severity: Severity, title: str, name_label: str
    ) -> None:
        """Record a finding about a member."""
        where = self.location(name_label)
        self.findings.append(Finding(ENGINE, rule_id, category, severity, title, where, evidence=name_label))

    def add_member(self, name_label: str, **info: Any) -> bool:
        """Count and list a member; return False (and stop the walk) past ``max_members``."""
        limits = self.context.limits
        if self.member_count >= limits.max_members:
            if not self.stopped:
                self.hit(LimitName.MAX_MEMBERS, limits.max_members, f"more than {limits.max_members} members")
            self.stopped = True
            return False
        self.member_count += 1
        size = info.get("size")
        if isinstance(size, int):
            self.declared_bytes += size
        if len(self.members) < MEMBER_LIST_CAP:
            self.members.append({"name": name_label, **info})
        return True

    def check_name(self, name: str, name_label: str) -> None:
        """Report a path-traversal ("zip-slip") member name."""
        if is_unsafe_path(name):
            self.finding(
                "archive.path_traversal",
                FindingCategory.ARCHIVE_ANOMALY,
                Severity.MEDIUM,
                "member name escapes the extraction directory",
                name_label,
            )

    def may_extract(self, name_label: str) -> bool:
        """Whether another member may be extracted (depth and total-bytes limits)."""
        limits = self.context.limits
        if self.target.depth + 1 > limits.max_depth:
            if not self._depth_reported:
                self.hit(
                    LimitName.MAX_DEPTH, limits.max_depth, f"members nested deeper than {limits.max_depth}"
                )
                self._depth_reported = True
            return False
        if self.extracted_bytes >= limits.max_total_member_bytes:
            self.hit(
                LimitName.MAX_TOTAL_MEMBER_BYTES,
                limits.max_total_member_bytes,
                "total extracted bytes limit reached",
                name_label,
            )
            self.stopped = True
            return False
        return True

    def member_budget(self) -> int:
        """The most bytes the next member may decompress to."""
        limits = self.context.limits
        return min(limits.max_member_bytes, limits.max_total_member_bytes - self.extracted_bytes)

    def extract(self, name_label: str, source: Readable) -> int | None:
        """Copy ``source`` to a fresh file in the work dir and scan it nested; return the bytes written.

        On a limit or corrupt data the partial file is deleted and the reason recorded (None returned).
        The file name is generated, never derived from the member name.
        """
        fd, tmp = tempfile.mkstemp(prefix="member-", dir=self.context.work_dir)
        path = Path(tmp)
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(COPY_CHUNK):
                    written += len(chunk)
                    out.write(chunk)
        except LimitExceededError as exc:
            path.unlink(missing_ok=True)
            self.hit(exc.limit, exc.value, f"{exc.detail}; member not scanned", name_label)
            if exc.limit == LimitName.MAX_TOTAL_MEMBER_BYTES:
                self.stopped = True
            return None
        except CorruptDataError as exc:
            path.unlink(missing_ok=True)
            self.uninspectable.append(f"corrupt member: {name_label}: {exc}")
            return None
        self.extracted_count += 1
        self.extracted_bytes += written
        nested = Target(
            path=path,
            display_name=name_label,
            size=written,
            location=self.location(name_label),
            depth=self.target.depth + 1,
        )
        try:
            self.context.scan_nested(nested)
        finally:
            with contextlib.suppress(OSError):
                path.unlink()
        return written

    def facts(self) -> dict[str, Any]:
        """The archive tree summary for the report."""
        return {
            "type": self.kind,
            "member_count": self.member_count,
            "declared_uncompressed_bytes": self.declared_bytes,
            "extracted_members": self.extracted_count,
            "extracted_bytes": self.extracted_bytes,
            "members": self.members,
            "members_capped": self.member_count > len(self.members),
        }
