from hypothesis import given
from hypothesis import strategies as st

from filescan_scanner.text import redact, safe_excerpt


def test_given_control_and_non_ascii_bytes_when_excerpted_then_they_are_escaped() -> None:
    assert safe_excerpt(b"a\x1b[31mb\n\\\xff") == "a\\x1b[31mb\\n\\\\\\xff"
    assert safe_excerpt("é") == "\\xc3\\xa9"


def test_given_a_long_input_when_excerpted_then_it_is_truncated_with_an_ellipsis() -> None:
    out = safe_excerpt(b"x" * 500, 20)
    assert out == "x" * 17 + "..."


def test_given_escapes_at_the_limit_when_excerpted_then_no_escape_is_split() -> None:
    out = safe_excerpt(b"\x00" * 50, 12)
    assert out == "\\x00\\x00..."


@given(st.binary(max_size=400), st.integers(min_value=4, max_value=200))
def test_given_any_bytes_when_excerpted_then_the_result_is_printable_and_bounded(
    data: bytes, limit: int
) -> None:
    out = safe_excerpt(data, limit)
    assert len(out) <= limit
    assert all(0x20 <= ord(c) < 0x7F for c in out)


def test_given_a_secret_when_redacted_then_only_its_prefix_and_length_remain() -> None:
    out = redact(b"AKIAABCDEFGHIJKLMNOP")
    assert "EFGHIJ" not in out
    assert out.startswith("AKIAAB") and "20 bytes" in out
