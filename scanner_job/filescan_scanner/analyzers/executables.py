"""Executable analyzer: PE facts and notable imports (pefile), ELF header facts (parsed here).

PE: ``pefile`` maps the file (no heap copy) with ``fast_load``; only the import directory is parsed,
and only for files up to ``FULL_PARSE_MAX`` bytes (beyond: headers only, a limit hit). Section entropy is
computed streaming over each section's raw data, bounded per section.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from filescan_scanner.analyzers.base import (
    AnalyzerResult,
    AnalyzerStatus,
    Finding,
    LimitHit,
    Location,
    ScanContext,
    Target,
    local_file,
)
from filescan_scanner.text import safe_excerpt
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

if TYPE_CHECKING:
    import pefile

FULL_PARSE_MAX = 256 * 1024 * 1024
ENTROPY_MAX_BYTES = 64 * 1024 * 1024
MAX_LISTED = 64
_PACKER_SECTIONS = {b"UPX0", b"UPX1", b"UPX2", b".aspack", b".adata", b".MPRESS1", b".MPRESS2", b".petite"}
_PACKER_SECTIONS |= {b".nsp0", b".nsp1", b"PEC2", b".themida", b".vmp0", b".vmp1"}
_API_GROUPS: dict[str, tuple[Severity, str, tuple[frozenset[str], ...]]] = {
    "pe.process_injection": (
        Severity.MEDIUM,
        "imports the process-injection API set",
        (
            frozenset({"VirtualAllocEx", "VirtualAlloc"}),
            frozenset({"WriteProcessMemory"}),
            frozenset({"CreateRemoteThread", "CreateRemoteThreadEx", "NtCreateThreadEx"}),
        ),
    ),
    "pe.downloader": (
        Severity.MEDIUM,
        "imports a URL download API",
        (frozenset({"URLDownloadToFileA", "URLDownloadToFileW", "URLDownloadToCacheFileA"}),),
    ),
    "pe.execution": (
        Severity.LOW,
        "imports a command/program execution API",
        (frozenset({"WinExec", "ShellExecuteA", "ShellExecuteW", "ShellExecuteExA", "ShellExecuteExW"}),),
    ),
    "pe.anti_debug": (
        Severity.LOW,
        "imports debugger-detection APIs",
        (frozenset({"IsDebuggerPresent", "CheckRemoteDebuggerPresent", "NtQueryInformationProcess"}),),
    ),
    "pe.keylogging": (
        Severity.LOW,
        "imports keyboard hooking/polling APIs",
        (frozenset({"SetWindowsHookExA", "SetWindowsHookExW", "GetAsyncKeyState", "GetKeyState"}),),
    ),
}
_NOTABLE = frozenset(name for _, _, groups in _API_GROUPS.values() for g in groups for name in g)
_ELF_MACHINES = {
    3: "x86",
    8: "mips",
    20: "ppc",
    21: "ppc64",
    40: "arm",
    62: "x86_64",
    183: "aarch64",
    243: "riscv",
}
_ELF_TYPES = {1: "relocatable", 2: "executable", 3: "shared-object", 4: "core"}


def stream_entropy(fp: BinaryIO, offset: int, size: int) -> tuple[float, int]:
    """Shannon entropy (bits per byte) of ``size`` bytes at ``offset``, read in chunks; bytes read too."""
    fp.seek(offset)
    counts = [0] * 256
    total = 0
    left = min(size, ENTROPY_MAX_BYTES)
    while left > 0 and (chunk := fp.read(min(left, 1024 * 1024))):
        left -= len(chunk)
        total += len(chunk)
        for value in set(chunk):
            counts[value] += chunk.count(value)
    if not total:
        return 0.0, 0
    entropy = -sum(c / total * math.log2(c / total) for c in counts if c)
    return round(entropy, 3), total


class ExecutableAnalyzer:
    """PE and ELF structure facts, notable imports, packing hints."""

    name = "executable"

    def applies_to(self, target: Target) -> bool:
        """Files starting with ``MZ`` or the ELF magic."""
        head = _head(target, 4)
        return head[:2] == b"MZ" or head == b"\x7fELF"

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        """Collect facts and findings; malformed headers give status ``error`` with the reason."""
        import pefile  # noqa: PLC0415 - imported only when an executable applies

        started = time.monotonic()
        head = _head(target, 64)
        result = AnalyzerResult(self.name, f"pefile-{pefile.__version__}", AnalyzerStatus.OK)
        try:
            if head[:2] == b"MZ":
                if (path := local_file(target, context, result)) is not None:
                    _analyze_pe(path, target, result)
            elif head[:4] == b"\x7fELF":
                _analyze_elf(target, head, result)
            else:
                result.status = AnalyzerStatus.SKIPPED
        except (pefile.PEFormatError, struct.error, OSError, ValueError) as exc:
            result.status = AnalyzerStatus.ERROR
            result.error = f"malformed executable: {safe_excerpt(str(exc), 200)}"
        if result.status is AnalyzerStatus.OK and result.limits_hit:
            result.status = AnalyzerStatus.PARTIAL
        result.seconds = time.monotonic() - started
        return result


def _head(target: Target, n: int) -> bytes:
    try:
        with target.open() as fp:
            return fp.read(n)
    except OSError:
        return b""


def _finding(target: Target, rule: str, severity: Severity, title: str, evidence: str | None) -> Finding:
    where = Location(target.location.archive_path)
    return Finding("executable", rule, FindingCategory.EXECUTABLE, severity, title, where, evidence=evidence)


def _analyze_pe(path: Path, target: Target, result: AnalyzerResult) -> None:
    import pefile  # noqa: PLC0415

    pe = pefile.PE(str(path), fast_load=True)
    try:
        fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
        security = oh.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
        facts: dict[str, Any] = {
            "format": "pe",
            "machine": pefile.MACHINE_TYPE.get(fh.Machine, hex(fh.Machine)),
            "timestamp": dt.datetime.fromtimestamp(fh.TimeDateStamp, dt.UTC).isoformat(),
            "subsystem": pefile.SUBSYSTEM_TYPE.get(oh.Subsystem, str(oh.Subsystem)),
            "is_dll": bool(fh.Characteristics & 0x2000),
            "is_64bit": oh.Magic == 0x20B,
            "signed": security.VirtualAddress != 0 and security.Size != 0,
        }
        result.facts["executable"] = facts
        _sections(pe, target, facts, result)
        if target.size > FULL_PARSE_MAX:
            detail = f"imports not parsed above {FULL_PARSE_MAX} bytes"
            result.limits_hit.append(LimitHit(LimitName.PE_FULL_PARSE_BYTES, FULL_PARSE_MAX, detail))
            return
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]])
        _imports(pe, target, facts, result)
    finally:
        pe.close()


def _sections(pe: pefile.PE, target: Target, facts: dict[str, Any], result: AnalyzerResult) -> None:
    sections = []
    packer_names = []
    high_entropy = []
    with target.open() as fp:
        for section in pe.sections[:MAX_LISTED]:
            raw_name = bytes(section.Name).rstrip(b"\x00")
            name = safe_excerpt(raw_name, 40)
            entropy, read = stream_entropy(fp, section.PointerToRawData, section.SizeOfRawData)
            sections.append(
                {
                    "name": name,
                    "virtual_size": section.Misc_VirtualSize,
                    "raw_size": section.SizeOfRawData,
                    "entropy": entropy,
                }
            )
            if raw_name in _PACKER_SECTIONS:
                packer_names.append(name)
            if entropy > 7.2 and read >= 1024:
                high_entropy.append(name)
    facts["sections"] = sections
    facts["section_count"] = len(pe.sections)
    if packer_names:
        evidence = ", ".join(packer_names)
        result.findings.append(
            _finding(target, "pe.packer_sections", Severity.MEDIUM, "packer section names", evidence)
        )
    if high_entropy:
        evidence = ", ".join(high_entropy)
        result.findings.append(
            _finding(
                target,
                "pe.high_entropy_section",
                Severity.LOW,
                "high-entropy section (packed or encrypted code)",
                evidence,
            )
        )


def _imports(pe: pefile.PE, target: Target, facts: dict[str, Any], result: AnalyzerResult) -> None:
    dlls: list[str] = []
    imported: set[str] = set()
    count = 0
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        if len(dlls) < MAX_LISTED:
            dlls.append(safe_excerpt(entry.dll or b"", 80))
        for imp in entry.imports:
            count += 1
            if imp.name:
                imported.add(imp.name.decode("ascii", "replace"))
    notable = sorted(imported & _NOTABLE)
    facts.update({"import_dlls": dlls, "import_count": count, "notable_imports": notable})
    for rule, (severity, title, groups) in _API_GROUPS.items():
        if all(imported & group for group in groups):
            evidence = ", ".join(sorted(imported & frozenset().union(*groups)))
            result.findings.append(_finding(target, rule, severity, title, evidence))


def _analyze_elf(target: Target, head: bytes, result: AnalyzerResult) -> None:
    if len(head) < 52:
        raise ValueError("truncated ELF header")
    is64 = head[4] == 2
    endian = "<" if head[5] == 1 else ">"
    e_type, e_machine = struct.unpack_from(endian + "HH", head, 16)
    if is64:
        phoff, shoff = struct.unpack_from(endian + "QQ", head, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(endian + "HHHH", head, 54)
    else:
        phoff, shoff = struct.unpack_from(endian + "II", head, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(endian + "HHHH", head, 42)
    facts: dict[str, Any] = {
        "format": "elf",
        "class": "ELF64" if is64 else "ELF32",
        "endianness": "little" if endian == "<" else "big",
        "type": _ELF_TYPES.get(e_type, str(e_type)),
        "machine": _ELF_MACHINES.get(e_machine, str(e_machine)),
    }
    with target.open() as fp:
        order: Literal["little", "big"] = "little" if endian == "<" else "big"
        ptypes = _table_words(fp, phoff, phentsize, min(phnum, 512), order)
        stypes = _table_words(fp, shoff + 4, shentsize, min(shnum, 4096), order)
    if e_type in (2, 3) and ptypes:
        facts["statically_linked"] = 3 not in ptypes and 2 not in ptypes  # no PT_INTERP, no PT_DYNAMIC
    if stypes:
        facts["stripped"] = 2 not in stypes  # no SHT_SYMTAB
    result.facts["executable"] = facts


def _table_words(
    fp: BinaryIO, offset: int, entsize: int, count: int, order: Literal["little", "big"]
) -> list[int]:
    """The first 32-bit word of each table entry (p_type / sh_type), read in one bounded read."""
    if not offset or not entsize or not count or entsize > 256:
        return []
    fp.seek(offset)
    data = fp.read(entsize * count)
    return [int.from_bytes(data[i : i + 4], order) for i in range(0, len(data) - 3, entsize)]
