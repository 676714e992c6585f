"""PDF analyzer: active-content names, hex obfuscation, chunk boundaries, Flate object streams, budgets."""

from __future__ import annotations

import zlib
from pathlib import Path

from filescan_scanner.analyzers import pdf
from filescan_scanner.analyzers.base import AnalyzerStatus, ScanLimits
from filescan_shared.severity import Severity
from tests.unit.scanner_content.content_helpers import FakeContext, make_target


def _pdf(body: bytes) -> bytes:
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + body + b"\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def _write(tmp_path: Path, data: bytes, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _rules(result: object) -> dict[str, Severity]:
    return {f.rule_id: f.severity for f in result.findings}  # type: ignore[attr-defined]


def test_given_javascript_in_an_openaction_when_analyzed_then_it_is_high(
    tmp_path: Path, ctx: FakeContext
) -> None:
    body = (
        b"1 0 obj << /Type /Catalog /OpenAction 2 0 R >> endobj\n"
        b"2 0 obj << /S /JavaScript /JS (app.alert(1)) >>"
    )
    path = _write(tmp_path, _pdf(body))
    analyzer = pdf.PdfAnalyzer()
    assert analyzer.applies_to(make_target(path))
    result = analyzer.analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK
    rules = _rules(result)
    assert rules["pdf.javascript"] == Severity.HIGH
    assert rules["pdf.js"] == Severity.HIGH
    assert rules["pdf.openaction"] == Severity.LOW
    assert rules["pdf.auto_javascript"] == Severity.HIGH
    assert "pdf.obfuscated_name" not in rules
    kw = result.facts["pdf"]["keywords"]
    assert kw["JavaScript"]["count"] == 1
    assert kw["JavaScript"]["offsets"] == [_pdf(body).index(b"/JavaScript")]


def test_given_a_clean_pdf_when_analyzed_then_it_has_no_findings(tmp_path: Path, ctx: FakeContext) -> None:
    path = _write(tmp_path, _pdf(b"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj /JSX /AAA /URIs"))
    result = pdf.PdfAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.OK
    assert result.findings == []


def test_given_hex_obfuscated_names_when_analyzed_then_they_are_decoded_and_flagged(
    tmp_path: Path, ctx: FakeContext
) -> None:
    path = _write(tmp_path, _pdf(b"<< /S /J#61vaScript /#4a#53 (x) /L#61unch << >> /URI (http://x) >>"))
    result = pdf.PdfAnalyzer().analyze(make_target(path), ctx)
    rules = _rules(result)
    assert rules["pdf.javascript"] == Severity.HIGH
    assert rules["pdf.launch"] == Severity.HIGH
    assert rules["pdf.uri"] == Severity.INFO
    assert rules["pdf.obfuscated_name"] == Severity.HIGH
    assert result.facts["pdf"]["keywords"]["JavaScript"]["obfuscated"] == 1
    evidence = {f.rule_id: f.evidence for f in result.findings}
    assert evidence["pdf.javascript"] == "/J#61vaScript"


def test_given_a_name_straddling_a_chunk_boundary_when_analyzed_then_it_counts_once(
    tmp_path: Path, ctx: FakeContext
) -> None:
    prefix = b"%PDF-1.4\n" + b" " * (pdf.CHUNK - 9 - 5)
    data = prefix + b"/JavaScript /EmbeddedFile\n%%EOF\n"
    assert data[pdf.CHUNK - 5 : pdf.CHUNK + 6] == b"/JavaScript"  # straddles the first chunk
    result = pdf.PdfAnalyzer().analyze(make_target(_write(tmp_path, data)), ctx)
    kw = result.facts["pdf"]["keywords"]
    assert kw["JavaScript"] == {"count": 1, "obfuscated": 0, "in_streams": 0, "offsets": [pdf.CHUNK - 5]}
    assert _rules(result)["pdf.embeddedfile"] == Severity.MEDIUM


def test_given_names_inside_a_flate_object_stream_when_analyzed_then_they_are_found(
    tmp_path: Path, ctx: FakeContext
) -> None:
    hidden = zlib.compress(b"<< /Type /Action /S /JavaScript /JS (eval(x)) >>")
    body = b"5 0 obj << /Type /ObjStm /Filter /FlateDecode /Length %d >>\nstream\r\n" % len(hidden)
    data = _pdf(body + hidden + b"\nendstream\nendobj")
    result = pdf.PdfAnalyzer().analyze(make_target(_write(tmp_path, data)), ctx)
    assert _rules(result)["pdf.javascript"] == Severity.HIGH
    kw = result.facts["pdf"]["keywords"]["JavaScript"]
    assert kw["in_streams"] == 1
    assert kw["offsets"] == [data.index(hidden)]
    assert result.facts["pdf"]["streams"]["flate_inspected"] == 1
    assert result.status is AnalyzerStatus.OK


def test_given_a_stream_over_the_budget_when_analyzed_then_the_stream_limit_is_hit(
    tmp_path: Path, ctx: FakeContext
) -> None:
    bomb = zlib.compress(bytes(4 * 1024 * 1024) + b"/JavaScript")
    data = _pdf(b"1 0 obj << /Filter /FlateDecode >>\nstream\n" + bomb + b"\nendstream endobj")
    analyzer = pdf.PdfAnalyzer(stream_budget=1024 * 1024)
    result = analyzer.analyze(make_target(_write(tmp_path, data)), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in result.limits_hit] == ["pdf_stream_bytes"]
    assert "JavaScript" not in result.facts["pdf"]["keywords"]


def test_given_an_encrypted_pdf_when_analyzed_then_its_streams_are_uninspectable(
    tmp_path: Path, ctx: FakeContext
) -> None:
    data = _pdf(b"trailer << /Encrypt 9 0 R >>\n1 0 obj << /Filter /FlateDecode >>\nstream\nxx\nendstream")
    result = pdf.PdfAnalyzer().analyze(make_target(_write(tmp_path, data)), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert result.uninspectable == ["encrypted PDF: compressed streams not inspected"]


def test_given_an_oversized_pdf_or_a_non_pdf_when_analyzed_then_it_is_partial_or_does_not_apply(
    tmp_path: Path, ctx: FakeContext
) -> None:
    data = _pdf(b" " * 5000 + b"/JavaScript")
    path = _write(tmp_path, data)
    ctx.limits = ScanLimits(pdf_max_bytes=1000)
    result = pdf.PdfAnalyzer().analyze(make_target(path), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in result.limits_hit] == ["pdf_max_bytes"]
    not_pdf = _write(tmp_path, b"hello", "x.txt")
    assert not pdf.PdfAnalyzer().applies_to(make_target(not_pdf))
    assert pdf.PdfAnalyzer().applies_to(make_target(not_pdf, mime="application/pdf"))
