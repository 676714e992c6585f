"""Make untrusted strings (file names, evidence, rule titles) short and inert."""

import unicodedata

DEFAULT_MAX_CHARS = 200
TRUNCATION_MARK = "...[+{n} chars]"


def truncate(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Cut ``text`` to at most ``max_chars`` characters, saying how many were dropped."""
    if len(text) <= max_chars:
        return text
    return text[:max_chars] + TRUNCATION_MARK.format(n=len(text) - max_chars)


def escape_controls(text: str) -> str:
    r"""Replace control, format (bidi overrides, zero-width) and unassigned characters by ``\uXXXX``.

    The result is printable and cannot change how the surrounding text is laid out or read.
    """
    if text.isprintable():  # false for every category escaped below: nothing to do (the common case)
        return text
    out: list[str] = []
    for char in text:
        if unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}:
            code = ord(char)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def safe_text(text: str | None, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Truncate then escape an untrusted string for display (``None`` becomes ``""``)."""
    if text is None:
        return ""
    return escape_controls(truncate(text, max_chars))
