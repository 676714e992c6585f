"""Executable analyzer on a PE32 and ELF headers assembled at test time."""

from __future__ import annotations

import random
from pathlib import Path

import pefile

from filescan_scanner.analyzers.base import AnalyzerStatus
from filescan_scanner.analyzers.executables import ExecutableAnalyzer
from filescan_shared.severity import Severity
from tests.unit.scanner_content.content_helpers import FakeContext, build_elf, build_pe, make_target

INJECTION = {
    b"KERNEL32.dll": [b"VirtualAllocEx", b"WriteProcessMemory", b"CreateRemoteThread", b"IsDebuggerPresent"],
    b"urlmon.dll": [b"URLDownloadToFileA"],
}


def _write(tmp_path: Path, data: bytes, name: str = "a.exe") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_given_a_pe_with_notable_imports_when_analyzed_then_its_facts_and_findings_are_reported(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _write(tmp_path, build_pe(INJECTION))
    assert pefile.PE(str(path)).DIRECTORY_ENTRY_IMPORT  # the fixture is a valid PE for pefile too
    analyzer = ExecutableAnalyzer()
    assert analyzer.applies_to(make_target(path))
    result = analyzer.analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK, result.error
    facts = result.facts["executable"]
    assert facts["format"] == "pe"
    assert facts["machine"] == "IMAGE_FILE_MACHINE_I386"
    assert facts["subsystem"] == "IMAGE_SUBSYSTEM_WINDOWS_GUI"
    assert facts["timestamp"] == "2023-11-14T22:13:20+00:00"
    assert facts["is_dll"] is False and facts["signed"] is False
    assert [s["name"] for s in facts["sections"]] == [".text", ".idata"]
    assert facts["import_dlls"] == ["KERNEL32.dll", "urlmon.dll"]
    assert facts["import_count"] == 5
    rules = {f.rule_id: f.severity for f in result.findings}
    assert rules == {
        "pe.process_injection": Severity.MEDIUM,
        "pe.downloader": Severity.MEDIUM,
        "pe.anti_debug": Severity.LOW,
    }
    assert result.version.startswith("pefile-")


def test_given_a_packed_pe_when_analyzed_then_packer_and_high_entropy_sections_are_flagged(
    tmp_path: Path, ctx: FakeContext
) -> None:
    noise = random.Random(7).randbytes(8192)
    data = build_pe({b"KERNEL32.dll": [b"LoadLibraryA"]}, {b"UPX1": noise}, dll=True)
    result = ExecutableAnalyzer().analyze(make_target(_write(tmp_path, data, "p.dll")), ctx)
    facts = result.facts["executable"]
    assert facts["is_dll"] is True
    assert facts["sections"][2]["entropy"] > 7.9
    rules = {f.rule_id: f for f in result.findings}
    assert rules["pe.packer_sections"].evidence == "UPX1"
    assert rules["pe.high_entropy_section"].severity == Severity.LOW
    assert "pe.process_injection" not in rules


def test_given_a_malformed_pe_when_analyzed_then_it_is_an_error(tmp_path: Path, ctx: FakeContext) -> None:
    path = _write(tmp_path, b"MZ" + bytes(100))
    result = ExecutableAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.ERROR
    assert result.error and result.error.startswith("malformed executable")


def test_given_elf_headers_when_analyzed_then_their_facts_are_reported(
    tmp_path: Path, ctx: FakeContext
) -> None:
    static = ExecutableAnalyzer().analyze(make_target(_write(tmp_path, build_elf(), "static")), ctx)
    assert static.status is AnalyzerStatus.OK
    assert static.facts["executable"] == {
        "format": "elf",
        "class": "ELF64",
        "endianness": "little",
        "type": "executable",
        "machine": "x86_64",
        "statically_linked": True,
    }
    mips = build_elf(is64=False, big=True, machine=8, interp=True)
    dynamic = ExecutableAnalyzer().analyze(make_target(_write(tmp_path, mips, "mips")), ctx)
    facts = dynamic.facts["executable"]
    assert (facts["class"], facts["endianness"], facts["machine"]) == ("ELF32", "big", "mips")
    assert facts["statically_linked"] is False


def test_given_plain_text_when_the_executable_analyzer_checks_it_then_it_is_skipped(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _write(tmp_path, b"plain text", "t.txt")
    assert not ExecutableAnalyzer().applies_to(make_target(path))
    assert ExecutableAnalyzer().analyze(make_target(path), ctx).status is AnalyzerStatus.SKIPPED
