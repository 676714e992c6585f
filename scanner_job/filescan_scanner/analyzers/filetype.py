"""File type from the head of the file: libmagic MIME and description, and extension mismatches.

The mismatch check is a small table on purpose: a few magic signatures we are sure of, and the
extensions that claim something else. Executable bytes under a document/image/text extension are the
classic disguise (high); other disagreements are reported low.
"""

from __future__ import annotations

import sys
import time
from pathlib import PurePosixPath
from types import ModuleType

from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, Finding, Location, Target
from filescan_scanner.text import safe_excerpt
from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity


def _import_magic() -> ModuleType:
    """Import python-magic without its ``ctypes.util.find_library("magic")`` probe on Linux.

    That probe runs ``ldconfig -p`` (or gcc) in a subprocess, ~10 ms of every scan's start-up; on Linux
    python-magic then falls back to loading ``libmagic.so.1`` by its soname, which is what the probe
    finds anyway. Elsewhere the import is left alone.
    """
    if sys.platform != "linux" or "magic" in sys.modules:
        import magic  # noqa: PLC0415

        return magic
    import ctypes.util  # noqa: PLC0415

    probe = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None if name == "magic" else probe(name)
    try:
        import magic  # noqa: PLC0415
    finally:
        ctypes.util.find_library = probe
    return magic


magic = _import_magic()

ENGINE = "filetype"
HEAD_BYTES = 1024 * 1024
"""How much of the file libmagic sees (its own default read size)."""

EXECUTABLE_KINDS = frozenset({"pe", "elf", "macho"})

_SIGNATURES: tuple[tuple[str, int, bytes], ...] = (
    ("pe", 0, b"MZ"),
    ("elf", 0, b"\x7fELF"),
    ("macho", 0, b"\xcf\xfa\xed\xfe"),
    ("macho", 0, b"\xce\xfa\xed\xfe"),
    ("macho", 0, b"\xfe\xed\xfa\xcf"),
    ("macho", 0, b"\xfe\xed\xfa\xce"),
    ("pdf", 0, b"%PDF-"),
    ("zip", 0, b"PK\x03\x04"),
    ("zip", 0, b"PK\x05\x06"),
    ("png", 0, b"\x89PNG\r\n\x1a\n"),
    ("jpeg", 0, b"\xff\xd8\xff"),
    ("gif", 0, b"GIF87a"),
    ("gif", 0, b"GIF89a"),
    ("ole", 0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
    ("gzip", 0, b"\x1f\x8b"),
    ("7z", 0, b"7z\xbc\xaf\x27\x1c"),
    ("rar", 0, b"Rar!\x1a\x07"),
)

EXPECTED_KINDS: dict[str, frozenset[str]] = {
    ".pdf": frozenset({"pdf"}),
    ".png": frozenset({"png"}),
    ".jpg": frozenset({"jpeg"}),
    ".jpeg": frozenset({"jpeg"}),
    ".gif": frozenset({"gif"}),
    ".zip": frozenset({"zip"}),
    ".docx": frozenset({"zip"}),
    ".xlsx": frozenset({"zip"}),
    ".pptx": frozenset({"zip"}),
    ".jar": frozenset({"zip"}),
    ".doc": frozenset({"ole"}),
    ".xls": frozenset({"ole"}),
    ".ppt": frozenset({"ole"}),
    ".gz": frozenset({"gzip"}),
    ".7z": frozenset({"7z"}),
    ".rar": frozenset({"rar"}),
    ".txt": frozenset({"text"}),
    ".csv": frozenset({"text"}),
    ".json": frozenset({"text"}),
    ".md": frozenset({"text"}),
    ".log": frozenset({"text"}),
    ".mp3": frozenset(),
    ".mp4": frozenset(),
}
"""Extensions that claim a type, and the kinds that satisfy the claim (empty: no kind is checked,
but executable bytes still mismatch)."""


def detect_kind(head: bytes) -> str | None:
    """The kind named by a known magic signature at the start of ``head``, or None."""
    for kind, offset, signature in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            if kind == "pe" and not _looks_like_pe(head):
                continue
            return kind
    return None


def _looks_like_pe(head: bytes) -> bool:
    if len(head) < 0x40:
        return False
    e_lfanew = int.from_bytes(head[0x3C:0x40], "little")
    return head[e_lfanew : e_lfanew + 4] == b"PE\0\0" if e_lfanew + 4 <= len(head) else True


def extension_of(display_name: str) -> str:
    """The lower-case last extension of a name (``""`` when none)."""
    return PurePosixPath(display_name.replace("\\", "/")).suffix.lower()[:16]


def check_extension(extension: str, kind: str | None, mime: str) -> Severity | None:
    """Severity of the mismatch between ``extension`` and the detected content, or None if consistent."""
    expected = EXPECTED_KINDS.get(extension)
    if expected is None:
        return None
    if kind in EXECUTABLE_KINDS:
        return Severity.HIGH
    if not expected:
        return None
    if "text" in expected:
        return (
            None
            if mime.startswith("text/") or mime in {"application/json", "application/csv"}
            else Severity.LOW
        )
    if kind in expected:
        return None
    return Severity.LOW


class FileTypeAnalyzer:
    """libmagic MIME type and description, detected kind, extension mismatch finding."""

    name = ENGINE

    def __init__(self) -> None:
        self._mime = magic.Magic(mime=True)
        self._describe = magic.Magic()

    def analyze(self, target: Target) -> AnalyzerResult:
        """Type ``target`` from its first ``HEAD_BYTES`` bytes."""
        started = time.perf_counter()
        with target.open() as handle:
            head = handle.read(HEAD_BYTES)
        mime = str(self._mime.from_buffer(head)) if head else "application/x-empty"
        description = str(self._describe.from_buffer(head)) if head else "empty"
        kind = detect_kind(head)
        extension = extension_of(target.display_name)
        severity = check_extension(extension, kind, mime)
        result = AnalyzerResult(name=ENGINE, version=_libmagic_version(), status=AnalyzerStatus.OK)
        result.facts = {
            "mime": mime,
            "magic": safe_excerpt(description, 200),
            "detected_kind": kind,
            "extension": safe_excerpt(extension, 20) if extension else None,
            "extension_mismatch": severity is not None,
        }
        if severity is not None:
            result.findings.append(
                Finding(
                    engine=ENGINE,
                    rule_id="filetype.extension_mismatch",
                    category=FindingCategory.TYPE_MISMATCH,
                    severity=severity,
                    title=f"content is {kind or mime} but the name ends in {safe_excerpt(extension, 20)}",
                    location=Location(target.location.archive_path, 0),
                    evidence=safe_excerpt(head[:16], 64),
                )
            )
        result.seconds = time.perf_counter() - started
        return result


def _libmagic_version() -> str:
    try:
        return f"libmagic {magic.version()}"
    except Exception:
        return "libmagic"
