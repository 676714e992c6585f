"""Office analyzer: type gating, the size cap, olevba on OOXML/OLE files made at test time.

No macro-bearing document is built here (a vbaProject.bin needs a hand-written compound file plus the
MS-OVBA dir stream); the mapping from olevba's analysis rows to findings is tested on rows in
olevba's own format instead.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, ScanLimits
from filescan_scanner.analyzers.office import OLE_MAGIC, OfficeAnalyzer, add_macro_findings
from filescan_shared.severity import Severity
from tests.unit.scanner_content.content_helpers import FakeContext, make_target


def _docx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        zf.writestr("word/document.xml", "<w:document/>")
    return path


def test_given_an_ooxml_file_without_macros_when_analyzed_then_it_has_no_findings(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _docx(tmp_path / "a.docx")
    analyzer = OfficeAnalyzer()
    assert analyzer.applies_to(make_target(path))
    result = analyzer.analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK, result.error
    assert result.facts["office"]["vba_macros"] is False
    assert result.findings == []
    assert result.version.startswith("olevba-0.60")


def test_given_zips_text_and_ole_files_when_gated_then_only_office_files_apply(tmp_path: Path) -> None:
    plain_zip = tmp_path / "a.zip"
    with zipfile.ZipFile(plain_zip, "w") as zf:
        zf.writestr("readme.txt", "hi")
    text = tmp_path / "a.txt"
    text.write_text('Sub AutoOpen()\nShell "cmd"\nEnd Sub\n')  # VBA-looking text is not Office
    ole = tmp_path / "a.doc"
    ole.write_bytes(OLE_MAGIC + bytes(504))
    analyzer = OfficeAnalyzer()
    assert not analyzer.applies_to(make_target(plain_zip))
    assert not analyzer.applies_to(make_target(text))
    assert analyzer.applies_to(make_target(ole))
    assert analyzer.applies_to(make_target(text, mime="application/vnd.ms-excel"))


def test_given_a_document_over_the_size_cap_when_analyzed_then_it_is_partial_not_clean(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _docx(tmp_path / "big.docx")
    ctx.limits = ScanLimits(office_max_bytes=100)
    result = OfficeAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in result.limits_hit] == ["office_max_bytes"]


def test_given_a_malformed_ole_file_when_analyzed_then_it_is_an_error(
    tmp_path: Path, ctx: FakeContext
) -> None:
    ole = tmp_path / "broken.doc"
    ole.write_bytes(OLE_MAGIC + bytes(100))
    result = OfficeAnalyzer().analyze(make_target(ole), ctx)
    assert result.status is AnalyzerStatus.ERROR
    assert result.error and result.error.startswith("olevba failed")


def test_given_olevba_analysis_rows_when_mapped_then_they_become_macro_findings(tmp_path: Path) -> None:
    rows = [
        ("AutoExec", "AutoOpen", "Runs when the Word document is opened"),
        ("Suspicious", "Shell", "May run an executable file or a system command"),
        ("Suspicious", "\x1b[2Jevil", "odd keyword"),
        ("IOC", "http://example.invalid/x.exe", "URL"),
    ]
    result = AnalyzerResult("office", "v", AnalyzerStatus.OK)
    add_macro_findings(make_target(_docx(tmp_path / "m.docm")), rows, True, False, result)
    rules = {f.rule_id: f for f in result.findings}
    assert {k: f.severity for k, f in rules.items()} == {
        "office.macros": Severity.MEDIUM,
        "office.macro_autoexec": Severity.HIGH,
        "office.macro_suspicious": Severity.HIGH,
        "office.macro_ioc": Severity.LOW,
    }
    assert rules["office.macro_suspicious"].evidence == "Shell, \\x1b[2Jevil"
    assert result.facts["office"]["analysis"]["AutoExec"] == ["AutoOpen"]
    only_macros = AnalyzerResult("office", "v", AnalyzerStatus.OK)
    add_macro_findings(
        make_target(tmp_path / "m.docm"), [("AutoExec", "AutoOpen", "")], True, True, only_macros
    )
    assert {f.rule_id: f.severity for f in only_macros.findings} == {
        "office.macros": Severity.MEDIUM,
        "office.macro_autoexec": Severity.MEDIUM,
    }
    assert only_macros.findings[0].title == "document contains VBA and XLM macros"
