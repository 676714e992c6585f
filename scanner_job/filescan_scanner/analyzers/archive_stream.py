"""Bounded, streaming decompression readers used to extract archive members.

Every reader decompresses in small steps (``max_length`` on each decompressor call) and checks, after each
step, the output size and the running compression ratio (output bytes over compressed bytes fed so far).
A bomb therefore stops after a few MiB of output, long before it could fill memory or the disk.
"""

from __future__ import annotations

import bz2
import lzma
import zlib
from typing import BinaryIO, Protocol

from filescan_shared.report.vocabulary import LimitName

RAW_CHUNK = 32 * 1024
"""Compressed bytes fed to a decompressor per step: small, so the running ratio is precise."""
RATIO_FLOOR = 1024 * 1024
"""Output below this size is never ratio-checked: tiny, highly compressible members are normal."""


class LimitExceededError(Exception):
    """A bound was reached while streaming; ``limit`` names the ``ScanLimits`` field."""

    def __init__(self, limit: LimitName, value: int | float, detail: str) -> None:
        super().__init__(detail)
        self.limit = limit
        self.value = value
        self.detail = detail


class CorruptDataError(Exception):
    """The compressed data could not be decoded."""


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int) -> bytes: ...


class _ZlibAdapter:
    """Gives ``zlib.decompressobj`` the ``needs_input`` interface of the bz2/lzma decompressors."""

    def __init__(self, wbits: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self._full = False

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return not self._d.unconsumed_tail and not self._full

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._d.decompress(self._d.unconsumed_tail + data, max_length)
        self._full = len(out) >= max_length
        return out


class _BzAdapter:
    def __init__(self, d: bz2.BZ2Decompressor | lzma.LZMADecompressor) -> None:
        self._d = d

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def needs_input(self) -> bool:
        return self._d.needs_input

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        return self._d.decompress(data, max_length)


def _new_decompressor(kind: str) -> _Decompressor:
    if kind == "deflate":
        return _ZlibAdapter(-15)
    if kind == "gzip":
        return _ZlibAdapter(31)
    if kind == "bzip2":
        return _BzAdapter(bz2.BZ2Decompressor())
    if kind == "xz":
        return _BzAdapter(lzma.LZMADecompressor(lzma.FORMAT_AUTO, memlimit=256 * 1024 * 1024))
    raise ValueError(f"unknown compression {kind}")


_MULTI_STREAM_MAGIC = {"gzip": b"\x1f\x8b", "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}


class BoundedReader:
    """A read-only file-like view of decompressed data, bounded by size and compression ratio.

    ``kind`` is ``stored`` (no compression), ``deflate`` (raw, as in zip), ``gzip``, ``bzip2`` or ``xz``.
    ``length`` bounds the compressed bytes read from ``raw`` (a zip member's compressed size).
    ``read`` raises ``LimitExceededError`` when the output passes ``max_output`` or the running ratio
    passes ``max_ratio``, and ``CorruptDataError`` when the data cannot be decoded. ``truncated`` is set
    when the compressed data ended before the end of the stream.
    """

    def __init__(
        self,
        raw: BinaryIO,
        kind: str,
        *,
        length: int | None = None,
        max_output: int | None = None,
        max_ratio: float | None = None,
        output_limit_name: LimitName = LimitName.MAX_MEMBER_BYTES,
    ) -> None:
        self._raw = raw
        self.kind = kind
        self._left = length
        self._max_output = max_output
        self._max_ratio = max_ratio
        self._output_limit_name = output_limit_name
        self._d: _Decompressor | None = None if kind == "stored" else _new_decompressor(kind)
        self.consumed = 0
        self.produced = 0
        self.truncated = False
        self.crc = 0
        """CRC-32 of the output so far (zip members carry one)."""
        self.trailing_data = False
        self._done = False

    def _raw_read(self, n: int) -> bytes:
        if self._left is not None:
            n = min(n, self._left)
            if n <= 0:
                return b""
        data = self._raw.read(n)
        if self._left is not None:
            self._left -= len(data)
        self.consumed += len(data)
        return data

    def _check(self, out_len: int) -> None:
        self.produced += out_len
        if self._max_output is not None and self.produced > self._max_output:
            detail = f"decompressed size passed {self._max_output} bytes"
            raise LimitExceededError(self._output_limit_name, self._max_output, detail)
        if self._max_ratio is not None and self.produced > RATIO_FLOOR:
            ratio = self.produced / max(self.consumed, 1)
            if ratio > self._max_ratio:
                raise LimitExceededError(
                    LimitName.MAX_COMPRESSION_RATIO,
                    self._max_ratio,
                    f"compression ratio passed {self._max_ratio:g} ({self.produced} bytes out of "
                    f"{self.consumed} compressed)",
                )

    def _restart_if_multistream(self) -> bool:
        """At the end of one stream: start the next concatenated one, if any (gzip/bzip2/xz allow it)."""
        assert self._d is not None
        rest = self._d.unused_data
        if not rest:
            rest = self._raw_read(RAW_CHUNK)
            if not rest:
                return False
        if self._left is None and rest.startswith(_MULTI_STREAM_MAGIC.get(self.kind, b"\x00\x00\x00")):
            self._d = _new_decompressor(self.kind)
            self._pending = rest
            return True
        if rest.strip(b"\x00"):
            self.trailing_data = True
        return False

    _pending: bytes = b""

    def read(self, n: int = -1) -> bytes:
        """Return up to ``n`` decompressed bytes (``b""`` at the end)."""
        if n is None or n < 0:
            n = RAW_CHUNK * 8
        if self._done or n == 0:
            return b""
        if self._d is None:
            data = self._raw_read(n)
            self._check(len(data))
            self.crc = zlib.crc32(data, self.crc)
            return data
        try:
            while True:
                if self._d.eof and not self._restart_if_multistream():
                    self._done = True
                    return b""
                data = b""
                if self._pending:
                    data, self._pending = self._pending, b""
                elif self._d.needs_input:
                    data = self._raw_read(RAW_CHUNK)
                    if not data:
                        self.truncated = True
                        self._done = True
                        return b""
                out = self._d.decompress(data, n)
                if out:
                    self._check(len(out))
                    self.crc = zlib.crc32(out, self.crc)
                    return out
        except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
            raise CorruptDataError(f"{self.kind} data corrupt: {exc}") from exc
