from hypothesis import given
from hypothesis import strategies as st

from filescan_scanner.text import redact, safe_excerpt


def test_escapes_control_and_non_ascii() -> None:
    assert safe_excerpt(b"a\x1b[31mb\n\\\xff") == "a\\x1b[31mb\\n\\\\\\xff"
    assert safe_excerpt("é") == "\\xc3\\xa9"


def test_truncates_with_ellipsis() -> None:
    out = safe_excerpt(b"x" * 500, 20)
    assert out == "x" * 17 + "..."


def test_truncation_never_splits_an_escape() -> None:
    out = safe_excerpt(b"\x00" * 50, 12)
    assert out == "\\x00\\x00..."


@given(st.binary(max_size=400), st.integers(min_value=4, max_value=200))
def test_always_printable_and_bounded(data: bytes, limit: int) -> None:
    out = safe_excerpt(data, limit)
    assert len(out) <= limit
    assert all(0x20 <= ord(c) < 0x7F for c in out)


def test_redact_keeps_only_prefix_and_length() -> None:
    out = redact(b"AKIAABCDEFGHIJKLMNOP")
    assert "EFGHIJ" not in out
    assert out.startswith("AKIAAB") and "20 bytes" in out
