"""The analyzer contract: what every analyzer receives and returns.

Two kinds of analyzer exist:

* **stream analyzers** see every byte once, chunk by chunk, in the single streaming pass over the file
  (hashes, YARA-X chunked rules, entropy). They must keep bounded state: memory may not grow with the
  file size.
* **content analyzers** run after the streaming pass when the file's type says they apply (archives,
  PDF, Office, PE/ELF, ClamAV). They read it themselves through ``Target.open`` (seekable; ranged GETs
  when the target is an S3 object read in place), bounded by ``ScanLimits``; one that needs a real
  path (a library that wants a file name, a subprocess) asks ``local_file``, which spills the object to
  the work dir only when it fits and otherwise records the ``work_dir_bytes`` limit.

An analyzer never raises to stop a scan: the engine catches any exception, records the analyzer as
``error`` and goes on (an errored analyzer keeps the verdict from being clean).
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from filescan_shared.report.vocabulary import EngineStatus, FindingCategory, LimitName
from filescan_shared.severity import Severity

AnalyzerStatus = EngineStatus
"""How an analyzer's run ended: the report's engine status (``ok``, ``skipped``, ``not_run``...)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: a path of archive members from the top-level file, and a byte offset."""

    archive_path: tuple[str, ...] = ()
    offset: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One thing an analyzer found. ``evidence`` is short and already escaped (see ``text.safe_excerpt``)."""

    engine: str
    rule_id: str
    category: FindingCategory
    severity: Severity
    title: str
    location: Location = Location()
    evidence: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class LimitHit:
    """A bound that stopped inspection (archive depth, member count, bytes, ratio, match cap...)."""

    limit: LimitName
    value: int | float
    detail: str
    location: Location = Location()


@dataclasses.dataclass(slots=True)
class AnalyzerResult:
    """What one analyzer reports for one target (the top-level file or an archive member)."""

    name: str
    version: str
    status: AnalyzerStatus
    rules_version: str | None = None
    seconds: float = 0.0
    findings: list[Finding] = dataclasses.field(default_factory=list)
    limits_hit: list[LimitHit] = dataclasses.field(default_factory=list)
    uninspectable: list[str] = dataclasses.field(default_factory=list)
    """Reasons some content could not be inspected (an encrypted member, a truncated stream...)."""
    facts: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Analyzer-specific facts for the report (hashes, MIME, PE imports...), JSON-serialisable."""
    error: str | None = None


class RemoteSource(Protocol):
    """A file read in place, without a local copy (an S3 object: ``remote.RemoteObject``)."""

    @property
    def size(self) -> int:
        """Its size in bytes."""
        ...

    def parts(self) -> Iterator[bytes]:
        """Every byte once, in order, in bounded pieces (with bounded read-ahead)."""
        ...

    def open(self) -> io.RawIOBase:
        """A seekable reader (random access on demand)."""
        ...

    def copy_to(self, directory: Path) -> Path:
        """Spill the whole file to a fresh file in ``directory``; return its path."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """The thing being analysed: the file or S3 object, or an archive member extracted to the work dir."""

    path: Path | None
    """Local file to read, or None for an object read in place (``remote``). Never derived from
    untrusted names (the engine picks it)."""
    display_name: str
    """The original name (object key or member name), for extension checks and reports only."""
    size: int
    location: Location = Location()
    depth: int = 0
    """0 for the top-level file, n for a member nested n archives deep."""
    mime: str | None = None
    """libmagic MIME type, filled in by the type analyzer before content analyzers run."""
    remote: RemoteSource | None = None
    """The object read in place when ``path`` is None."""

    def open(self) -> io.BufferedReader:
        """A seekable binary reader over the target, local or remote."""
        if self.remote is not None:
            return io.BufferedReader(self.remote.open())
        if self.path is None:
            raise ValueError("a target needs a path or a remote source")
        return self.path.open("rb")

    def chunks(self, chunk_bytes: int) -> Iterator[bytes]:
        """The whole target in order: ``chunk_bytes`` reads of the file, or the remote's parts."""
        if self.remote is not None:
            yield from self.remote.parts()
            return
        if self.path is None:
            raise ValueError("a target needs a path or a remote source")
        with self.path.open("rb", buffering=0) as handle:
            while data := handle.read(chunk_bytes):
                yield data


@dataclasses.dataclass(frozen=True, slots=True)
class Bounds:
    """The range a configurable value must lie in (checked when it is read from the environment)."""

    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False


def bounded(minimum: float | None = None, maximum: float | None = None, **kw: bool) -> dict[str, Bounds]:
    """Field metadata holding the field's ``Bounds`` (``exclusive_minimum=True`` for ``> minimum``)."""
    return {"bounds": Bounds(minimum, maximum, **kw)}


@dataclasses.dataclass(frozen=True, slots=True)
class ScanLimits:
    """Every bound the scanner enforces, from configuration. A hit is reported, never treated as clean.

    Each field is declared once, here: its default and bounds. The scanner's settings read it from
    ``FILESCAN_<FIELD>`` (``FILESCAN_MAX_DEPTH``), and a hit reports the field's name as its
    ``LimitName`` (every field but ``chunk_bytes`` is one; a test keeps the two in step).
    """

    max_depth: int = dataclasses.field(default=5, metadata=bounded(0))
    max_members: int = dataclasses.field(default=10_000, metadata=bounded(0))
    max_total_member_bytes: int = dataclasses.field(default=4 * 1024**3, metadata=bounded(0))
    max_member_bytes: int = dataclasses.field(default=2 * 1024**3, metadata=bounded(0))
    max_compression_ratio: float = dataclasses.field(
        default=200.0, metadata=bounded(0, exclusive_minimum=True)
    )
    max_matches_per_rule: int = dataclasses.field(default=50, metadata=bounded(1))
    office_max_bytes: int = dataclasses.field(default=200 * 1024**2, metadata=bounded(0))
    pdf_max_bytes: int = dataclasses.field(default=2 * 1024**3, metadata=bounded(0))
    fuzzy_hash_max_bytes: int = dataclasses.field(default=4 * 1024**2, metadata=bounded(0))
    """TLSH covers the head only: ~6 ms of CPU per MiB with the GIL held, which the other lane feels
    (4 MiB: ~0.03 s). Enough for a similarity fingerprint; the report records ``tlsh_bytes``."""
    chunk_bytes: int = dataclasses.field(default=16 * 1024**2, metadata=bounded(4096))
    """Bytes per read of the streaming pass (not a limit that can be hit)."""


class ScanContext(Protocol):
    """What the engine offers a content analyzer while it runs."""

    @property
    def limits(self) -> ScanLimits:
        """The configured bounds."""
        ...

    @property
    def work_dir(self) -> Path:
        """A private scratch directory for extracted members; the engine deletes it afterwards."""
        ...

    def local_copy(self, target: Target) -> Path | LimitHit:
        """``target.path``, or a copy of a remote target in the work dir (made once per scan).

        The copy is made only when it fits; otherwise the ``work_dir_bytes`` limit hit is returned.
        """
        ...

    def scan_nested(self, target: Target) -> None:
        """Scan an extracted member with the full analyzer set (streaming pass and content analyzers).

        Its results are merged into the report under ``target.location.archive_path``. The engine
        enforces depth, member-count and total-bytes limits here too and records any hit.
        """
        ...


class StreamAnalyzer(Protocol):
    """An analyzer fed every chunk of the file once, in order."""

    name: str

    def start(self, target: Target) -> StreamSession:
        """Begin a pass over ``target``; the session receives the chunks."""
        ...


class StreamSession(Protocol):
    """One pass of a stream analyzer over one target."""

    def feed(self, chunk: memoryview, offset: int) -> None:
        """Consume the bytes at ``offset`` (chunks arrive in order, without gaps or overlap)."""
        ...

    def finish(self) -> AnalyzerResult:
        """Return the result once every chunk was fed."""
        ...


class ContentAnalyzer(Protocol):
    """An analyzer that reads the file itself when it applies."""

    name: str

    def applies_to(self, target: Target) -> bool:
        """Whether this analyzer should run on ``target`` (by MIME, magic bytes or size)."""
        ...

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        """Inspect ``target``, bounded by ``context.limits``; never load the whole file into memory."""
        ...


def local_file(target: Target, context: ScanContext, result: AnalyzerResult) -> Path | None:
    """A local path for an analyzer that needs one; None after recording the limit on ``result``."""
    copy = context.local_copy(target)
    if isinstance(copy, LimitHit):
        result.status = AnalyzerStatus.PARTIAL
        result.limits_hit.append(copy)
        return None
    return copy
