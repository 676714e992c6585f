"""PDF analyzer: active-content names (JavaScript, Launch, OpenAction...) found by streaming the raw bytes.

Pass 1 reads the file in chunks with an overlap, so a name straddling a chunk boundary is seen once,
and decodes ``#xx`` escapes (``/J#61vaScript`` is ``/JavaScript``, and is reported as obfuscated).
It also records where streams start. Pass 2 inflates the streams that start with a zlib header
(FlateDecode: object streams hide names there) with ``zlib.decompressobj`` in bounded steps, under a
per-stream and a total output budget; what the budget leaves out is reported as a limit hit. Streams
of other filters are not decoded (images and fonts carry no PDF names), and neither are the streams of
an encrypted PDF, which is reported as uninspectable.
"""

from __future__ import annotations

import dataclasses
import platform
import re
import time
import zlib
from typing import Any, BinaryIO

from filescan_scanner.analyzers.base import (
    AnalyzerResult,
    AnalyzerStatus,
    Finding,
    LimitHit,
    Location,
    ScanContext,
    Target,
)
from filescan_scanner.text import safe_excerpt
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

CHUNK = 1024 * 1024
OVERLAP = 512
"""Longer than any name we look for, even fully ``#xx``-escaped (a PDF name is at most 127 bytes)."""
MAX_OFFSETS = 10
MAX_STREAMS = 20_000
STREAM_BUDGET = 32 * 1024 * 1024
TOTAL_BUDGET = 256 * 1024 * 1024
_NAME = re.compile(rb"/[^\x00\t\n\x0c\r ()<>\[\]{}/%]{1,127}")
_HEX = re.compile(rb"#([0-9A-Fa-f]{2})")
_STREAM = re.compile(rb"(?<!end)stream\r?\n")
KEYWORDS = (
    "JavaScript",
    "JS",
    "OpenAction",
    "AA",
    "Launch",
    "EmbeddedFile",
    "RichMedia",
    "URI",
    "SubmitForm",
    "AcroForm",
    "XFA",
    "Encrypt",
)
_KEYSET = frozenset(k.encode() for k in KEYWORDS)
_SEVERITY = {
    "JavaScript": Severity.HIGH,
    "JS": Severity.HIGH,
    "Launch": Severity.HIGH,
    "EmbeddedFile": Severity.MEDIUM,
    "RichMedia": Severity.MEDIUM,
    "OpenAction": Severity.LOW,
    "AA": Severity.LOW,
    "SubmitForm": Severity.LOW,
    "XFA": Severity.LOW,
    "URI": Severity.INFO,
    "AcroForm": Severity.INFO,
}


@dataclasses.dataclass
class _Hits:
    count: int = 0
    obfuscated: int = 0
    offsets: list[int] = dataclasses.field(default_factory=list)
    evidence: str = ""
    in_streams: int = 0


class NameScanner:
    """Counts the keyword names in a byte stream fed in chunks; a name across two chunks counts once."""

    def __init__(self, hits: dict[str, _Hits], *, find_streams: bool = False) -> None:
        self.hits = hits
        self.stream_starts: list[int] = []
        self.streams_dropped = 0
        self._find_streams = find_streams
        self._tail = b""
        self._base = 0

    def feed(self, chunk: bytes, *, final: bool = False, fixed_offset: int | None = None) -> None:
        """Scan ``chunk`` (``fixed_offset`` reports every hit at one offset: a decompressed stream's)."""
        buf = self._tail + chunk
        limit = len(buf) if final else max(len(buf) - OVERLAP, 0)
        for m in _NAME.finditer(buf, 0, len(buf)):
            if m.start() >= limit:
                break
            self._name(
                m.group(), self._base + m.start() if fixed_offset is None else fixed_offset, fixed_offset
            )
        if self._find_streams:
            for m in _STREAM.finditer(buf):
                if m.start() >= limit:
                    break
                if len(self.stream_starts) < MAX_STREAMS:
                    self.stream_starts.append(self._base + m.end())
                else:
                    self.streams_dropped += 1
        self._tail = buf[limit:]
        self._base += limit

    def _name(self, raw: bytes, offset: int, fixed: int | None) -> None:
        body = raw[1:]
        decoded = _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), body) if b"#" in body else body
        if decoded not in _KEYSET:
            return
        hits = self.hits.setdefault(decoded.decode(), _Hits())
        hits.count += 1
        if fixed is not None:
            hits.in_streams += 1
        if decoded != body:
            hits.obfuscated += 1
        if len(hits.offsets) < MAX_OFFSETS and offset not in hits.offsets:
            hits.offsets.append(offset)
        if not hits.evidence or (decoded != body and "#" not in hits.evidence):
            hits.evidence = safe_excerpt(raw, 80)


@dataclasses.dataclass
class _StreamStats:
    found: int = 0
    flate_inspected: int = 0
    not_flate: int = 0
    undecodable: int = 0
    decompressed_bytes: int = 0


def _looks_zlib(head: bytes) -> bool:
    return len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0


class PdfAnalyzer:
    """Finds JavaScript, auto-actions, launch actions, embedded files and links in PDFs."""

    name = "pdf"

    def __init__(self, stream_budget: int = STREAM_BUDGET, total_budget: int = TOTAL_BUDGET) -> None:
        self.stream_budget = stream_budget
        self.total_budget = total_budget

    def applies_to(self, target: Target) -> bool:
        """PDF by MIME type, or ``%PDF-`` within the first KiB."""
        if target.mime == "application/pdf":
            return True
        try:
            with target.open() as fp:
                return b"%PDF-" in fp.read(1024)
        except OSError:
            return False

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        """Scan the raw bytes, then the FlateDecode streams within budget."""
        started = time.monotonic()
        result = AnalyzerResult(
            self.name, f"filescan-pdf-1/python-{platform.python_version()}", AnalyzerStatus.OK
        )
        hits: dict[str, _Hits] = {}
        stats = _StreamStats()
        try:
            with target.open() as fp:
                raw = self._scan_raw(fp, target, context, hits, result)
                stats.found = len(raw.stream_starts) + raw.streams_dropped
                if raw.streams_dropped:
                    result.limits_hit.append(
                        LimitHit(
                            LimitName.PDF_STREAMS, MAX_STREAMS, "streams past the limit were not decoded"
                        )
                    )
                if "Encrypt" in hits:
                    result.uninspectable.append("encrypted PDF: compressed streams not inspected")
                else:
                    self._scan_streams(fp, raw.stream_starts, hits, stats, result)
        except OSError as exc:
            result.status = AnalyzerStatus.ERROR
            result.error = f"read error: {exc}"[:300]
        self._findings(hits, target, result)
        result.facts = {"pdf": {"keywords": _facts(hits), "streams": dataclasses.asdict(stats)}}
        if result.status is AnalyzerStatus.OK and (result.limits_hit or result.uninspectable):
            result.status = AnalyzerStatus.PARTIAL
        result.seconds = time.monotonic() - started
        return result

    @staticmethod
    def _scan_raw(
        fp: BinaryIO, target: Target, context: ScanContext, hits: dict[str, _Hits], result: AnalyzerResult
    ) -> NameScanner:
        scanner = NameScanner(hits, find_streams=True)
        cap = context.limits.pdf_max_bytes
        left = cap
        while left > 0 and (chunk := fp.read(min(CHUNK, left))):
            left -= len(chunk)
            scanner.feed(chunk)
        scanner.feed(b"", final=True)
        if target.size > cap:
            result.limits_hit.append(
                LimitHit(LimitName.PDF_MAX_BYTES, cap, f"only the first {cap} bytes were scanned")
            )
        return scanner

    def _scan_streams(
        self,
        fp: BinaryIO,
        starts: list[int],
        hits: dict[str, _Hits],
        stats: _StreamStats,
        result: AnalyzerResult,
    ) -> None:
        for index, start in enumerate(starts):
            fp.seek(start)
            head = fp.read(2)
            if not _looks_zlib(head):
                stats.not_flate += 1
                continue
            if stats.decompressed_bytes >= self.total_budget:
                left = len(starts) - index
                detail = f"{left} streams not decoded: total decompression budget used"
                result.limits_hit.append(
                    LimitHit(LimitName.PDF_DECOMPRESSED_BYTES, self.total_budget, detail)
                )
                return
            fp.seek(start)
            self._inflate(fp, start, hits, stats, result)

    def _inflate(
        self, fp: BinaryIO, start: int, hits: dict[str, _Hits], stats: _StreamStats, result: AnalyzerResult
    ) -> None:
        d = zlib.decompressobj()
        scanner = NameScanner(hits)
        budget = min(self.stream_budget, self.total_budget - stats.decompressed_bytes)
        produced = 0
        pending = b""
        try:
            while not d.eof:
                data = pending or fp.read(64 * 1024)
                if not data:
                    break
                out = d.decompress(data, min(CHUNK, budget - produced + 1))
                pending = d.unconsumed_tail
                produced += len(out)
                scanner.feed(out, fixed_offset=start)
                if produced > budget:
                    detail = f"stream at offset {start} decoded only to {budget} bytes"
                    result.limits_hit.append(
                        LimitHit(LimitName.PDF_STREAM_BYTES, budget, detail, Location(offset=start))
                    )
                    break
        except zlib.error:
            stats.undecodable += 1
        else:
            stats.flate_inspected += 1
        scanner.feed(b"", final=True, fixed_offset=start)
        stats.decompressed_bytes += produced

    @staticmethod
    def _findings(hits: dict[str, _Hits], target: Target, result: AnalyzerResult) -> None:
        def add(rule: str, severity: Severity, title: str, key: str) -> None:
            h = hits[key]
            where = Location(target.location.archive_path, h.offsets[0] if h.offsets else None)
            result.findings.append(
                Finding(
                    "pdf",
                    rule,
                    FindingCategory.PDF_ACTIVE_CONTENT,
                    severity,
                    title,
                    where,
                    evidence=h.evidence,
                )
            )

        for key, severity in _SEVERITY.items():
            if key in hits:
                add(f"pdf.{key.lower()}", severity, f"PDF contains /{key} ({hits[key].count}x)", key)
        script = next((k for k in ("JavaScript", "JS") if k in hits), None)
        auto = next((k for k in ("OpenAction", "AA") if k in hits), None)
        if script and auto:
            add("pdf.auto_javascript", Severity.HIGH, f"JavaScript run automatically (/{auto})", script)
        for key, h in hits.items():
            if h.obfuscated:
                add("pdf.obfuscated_name", Severity.HIGH, f"hex-escaped name hides /{key}", key)


def _facts(hits: dict[str, _Hits]) -> dict[str, Any]:
    return {
        key: {"count": h.count, "obfuscated": h.obfuscated, "in_streams": h.in_streams, "offsets": h.offsets}
        for key, h in sorted(hits.items())
    }
