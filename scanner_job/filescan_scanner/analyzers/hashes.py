"""Cryptographic hashes (one analyzer per algorithm, so the engine can put them on different lanes) and TLSH.

hashlib releases the GIL for large buffers, so hashes on one lane run in parallel with YARA-X on
another. Each analyzer's ``cost`` is its measured single-core CPU seconds per GiB (OpenSSL on x86-64
with SHA extensions: md5 ~1.4 s, sha1 and sha256 ~0.6 s), which the streaming pass balances lanes by.
"""

from __future__ import annotations

import functools
import hashlib
import time

import tlsh

from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, LimitHit, Target
from filescan_shared.report.vocabulary import LimitName

TLSH_MIN_BYTES = 50
"""TLSH needs at least this much input (and some variety) to produce a digest."""
TLSH_SLICE_BYTES = 256 * 1024
"""py-tlsh holds the GIL while it digests: feed it in slices (~1.5 ms each) so other lanes get the GIL
back between slices instead of waiting for a whole 16 MiB chunk (~100 ms)."""
HASH_COSTS = {"md5": 1.4, "sha1": 0.6, "sha256": 0.6}
"""Single-core CPU seconds per GiB, measured (planning weights for the streaming lanes)."""


class HashAnalyzer:
    """md5, sha1 or sha256 of every byte of the target."""

    def __init__(self, algorithm: str) -> None:
        if algorithm not in {"md5", "sha1", "sha256"}:
            raise ValueError(f"unsupported hash {algorithm!r}")
        self.algorithm = algorithm
        self.name = algorithm
        self.cost = HASH_COSTS[algorithm]

    def start(self, target: Target) -> HashSession:
        """Begin hashing ``target``."""
        return HashSession(self.algorithm)


class HashSession:
    """One hash over one target."""

    def __init__(self, algorithm: str) -> None:
        self._algorithm = algorithm
        self._hash = hashlib.new(algorithm, usedforsecurity=False)
        self._seconds = 0.0

    def feed(self, chunk: memoryview, offset: int) -> None:
        """Hash the next chunk."""
        started = time.perf_counter()
        self._hash.update(chunk)
        self._seconds += time.perf_counter() - started

    def finish(self) -> AnalyzerResult:
        """The hex digest, in ``facts[algorithm]``."""
        return AnalyzerResult(
            name=self._algorithm,
            version=openssl_version(),
            status=AnalyzerStatus.OK,
            seconds=self._seconds,
            facts={self._algorithm: self._hash.hexdigest()},
        )


class TlshAnalyzer:
    """TLSH fuzzy hash over at most the first ``max_bytes`` of the target."""

    name = "tlsh"
    cost = 7.0
    """CPU seconds per GiB digested (~7 ms per MiB): only the first ``max_bytes`` are (16 MiB: ~0.1 s)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes

    def planned_cost(self, size: int) -> float:
        """CPU seconds to digest the head of a ``size``-byte target (the streaming lanes' weight)."""
        return self.cost * min(size, self.max_bytes) / 1024**3

    def start(self, target: Target) -> TlshSession:
        """Begin a TLSH digest of ``target``."""
        return TlshSession(self.max_bytes, target)


class TlshSession:
    """TLSH of the head of one target; records a limit when the file is longer."""

    def __init__(self, max_bytes: int, target: Target) -> None:
        self._max = max_bytes
        self._target = target
        self._tlsh = tlsh.Tlsh()
        self._seen = 0
        self._total = 0
        self._seconds = 0.0

    def feed(self, chunk: memoryview, offset: int) -> None:
        """Feed the part of the chunk that lies within the first ``max_bytes``."""
        self._total += len(chunk)
        room = self._max - self._seen
        if room <= 0:
            return
        started = time.perf_counter()
        part = chunk[:room]
        for start in range(0, len(part), TLSH_SLICE_BYTES):
            self._tlsh.update(part[start : start + TLSH_SLICE_BYTES].tobytes())
        self._seen += len(part)
        self._seconds += time.perf_counter() - started

    def finish(self) -> AnalyzerResult:
        """The digest (``None`` when the input is too short or too uniform), and how much it covers."""
        result = AnalyzerResult(name=TlshAnalyzer.name, version=_tlsh_version(), status=AnalyzerStatus.OK)
        digest: str | None = None
        if self._seen >= TLSH_MIN_BYTES:
            try:
                self._tlsh.final()
                value = self._tlsh.hexdigest()
            except ValueError:  # not enough variation in the input: TLSH defines no digest
                value = None
            digest = value if value and value != "TNULL" else None
        result.facts = {"tlsh": digest, "tlsh_bytes": self._seen}
        if self._total > self._seen:
            # Informational: the fuzzy hash only ever describes the head; every other engine saw it all.
            result.limits_hit.append(
                LimitHit(
                    LimitName.FUZZY_HASH_MAX_BYTES,
                    self._max,
                    f"TLSH covers the first {self._max} bytes only",
                    self._target.location,
                )
            )
        result.seconds = self._seconds
        return result


@functools.cache
def openssl_version() -> str:
    """The OpenSSL hashlib uses (``ssl`` is imported on first use: ~8 ms)."""
    import ssl  # noqa: PLC0415

    return ssl.OPENSSL_VERSION


@functools.cache
def _tlsh_version() -> str:
    try:
        from importlib.metadata import version  # noqa: PLC0415

        return f"py-tlsh {version('py-tlsh')}"
    except Exception:
        return "py-tlsh"
