"""Escaping and truncation of bytes that come from the scanned file (or its names).

Everything file-derived that reaches a report, a log line or an LLM prompt goes through
``safe_excerpt`` first: the result is printable ASCII only, so it cannot carry terminal escapes,
markup, control characters or prompt-breaking Unicode, and it is bounded in length.
"""

from __future__ import annotations

DEFAULT_LIMIT = 120
"""Default maximum length of an excerpt, in characters of the escaped output."""

ELLIPSIS = "..."


def _escape_table() -> tuple[str, ...]:
    table = []
    for value in range(256):
        if value == 0x5C:
            table.append("\\\\")
        elif 0x20 <= value < 0x7F:
            table.append(chr(value))
        elif value == 0x0A:
            table.append("\\n")
        elif value == 0x0D:
            table.append("\\r")
        elif value == 0x09:
            table.append("\\t")
        else:
            table.append(f"\\x{value:02x}")
    return tuple(table)


_ESCAPES = _escape_table()


def safe_excerpt(data: bytes | bytearray | memoryview | str, limit: int = DEFAULT_LIMIT) -> str:
    r"""Return ``data`` as printable ASCII, escaped, at most ``limit`` characters long.

    Bytes outside printable ASCII become ``\\xNN`` (``\\n``, ``\\r``, ``\\t`` for the usual
    whitespace) and a backslash becomes ``\\\\``, so the excerpt is unambiguous. ``str`` input is
    encoded as UTF-8 first (lone surrogates kept). When the escaped text is longer than ``limit``
    it is cut at an escape boundary and ends with ``...``.
    """
    if limit <= len(ELLIPSIS):
        raise ValueError(f"limit must be more than {len(ELLIPSIS)}")
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    pieces = [_ESCAPES[value] for value in bytes(raw[: limit + 1])]
    if len(raw) <= limit and sum(map(len, pieces)) <= limit:
        return "".join(pieces)
    kept: list[str] = []
    used = 0
    for piece in pieces:
        if used + len(piece) > limit - len(ELLIPSIS):
            break
        kept.append(piece)
        used += len(piece)
    return "".join(kept) + ELLIPSIS


def escaped_once(text: str, limit: int = DEFAULT_LIMIT) -> str:
    r"""``text`` that an analyzer already escaped (printable ASCII) as it is, else ``safe_excerpt``.

    For the report's finding fields: analyzers escape what they take from the file (``Finding``'s
    contract), and escaping their output again would double every backslash (``\\x00`` for a NUL).
    Text that is not printable ASCII was not escaped, so it is escaped here; too long, it is cut.
    """
    if text.isascii() and text.isprintable():
        return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS
    return safe_excerpt(text, limit)


def redact(data: bytes | bytearray | memoryview, keep: int = 6) -> str:
    """Describe a secret without revealing it: its first ``keep`` bytes (escaped) and its length."""
    raw = bytes(data)
    return f"{safe_excerpt(raw[:keep], keep * 4 + len(ELLIPSIS) + 1)}...[redacted, {len(raw)} bytes]"
