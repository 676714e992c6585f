from pathlib import Path

from filescan_scanner.analyzers.base import Target
from filescan_scanner.analyzers.filetype import FileTypeAnalyzer, check_extension, detect_kind
from filescan_shared.severity import Severity

PE = b"MZ" + b"\x90" * 0x3A + (0x40).to_bytes(4, "little") + b"PE\0\0" + b"\0" * 200
ELF = b"\x7fELF\x02\x01\x01" + b"\0" * 100


def _analyze(tmp_path: Path, data: bytes, name: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "f"
    path.write_bytes(data)
    return FileTypeAnalyzer().analyze(Target(path, name, len(data)))


def test_given_magic_bytes_when_the_kind_is_detected_then_pe_elf_and_pdf_are_recognised() -> None:
    assert detect_kind(PE) == "pe"
    assert detect_kind(ELF) == "elf"
    assert detect_kind(b"%PDF-1.7") == "pdf"
    assert detect_kind(b"MZ but not a pe" + b"\0" * 100) is None


def test_given_an_executable_named_as_a_document_when_analyzed_then_the_mismatch_is_high(
    tmp_path: Path,
) -> None:
    for name in ("invoice.pdf", "notes.txt", "photo.JPG"):
        result = _analyze(tmp_path, PE, name)
        assert result.facts["extension_mismatch"] is True
        assert [(f.rule_id, f.severity) for f in result.findings] == [
            ("filetype.extension_mismatch", Severity.HIGH)
        ]
    assert _analyze(tmp_path, ELF, "a.png").findings[0].severity is Severity.HIGH


def test_given_consistent_extensions_when_analyzed_then_none_is_flagged_and_text_as_pdf_is_low(
    tmp_path: Path,
) -> None:
    assert _analyze(tmp_path, b"hello world\n", "a.txt").findings == []
    assert _analyze(tmp_path, PE, "a.exe").findings == []
    assert _analyze(tmp_path, b"%PDF-1.4\n", "doc.pdf").findings == []
    result = _analyze(tmp_path, b"hello world\n", "doc.pdf")
    assert result.findings[0].severity is Severity.LOW
    assert result.facts["mime"] == "text/plain"


def test_given_extension_and_kind_pairs_when_checked_then_each_gets_its_severity() -> None:
    assert check_extension(".zip", "zip", "application/zip") is None
    assert check_extension(".docx", "pdf", "application/pdf") is Severity.LOW
    assert check_extension(".mp4", "elf", "application/x-executable") is Severity.HIGH
