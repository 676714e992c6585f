import hashlib
import os
from pathlib import Path

from filescan_scanner.analyzers.base import AnalyzerStatus, Target
from filescan_scanner.analyzers.entropy import EntropyAnalyzer, shannon_entropy
from filescan_scanner.analyzers.hashes import HashAnalyzer, TlshAnalyzer


def _feed(analyzer, data: bytes, chunk: int):  # type: ignore[no-untyped-def]
    session = analyzer.start(Target(Path("x"), "x", len(data)))
    for off in range(0, len(data), chunk):
        session.feed(memoryview(data[off : off + chunk]), off)
    return session.finish()


def test_hashes_match_hashlib_across_chunking() -> None:
    data = os.urandom(100_000)
    for algorithm in ("md5", "sha1", "sha256"):
        result = _feed(HashAnalyzer(algorithm), data, 777)
        assert result.facts[algorithm] == hashlib.new(algorithm, data).hexdigest()
        assert result.status is AnalyzerStatus.OK


def test_tlsh_covers_only_the_head_and_says_so() -> None:
    data = os.urandom(20_000)
    full = _feed(TlshAnalyzer(10_000), data, 3000)
    head = _feed(TlshAnalyzer(10_000), data[:10_000], 3000)
    assert full.facts["tlsh"] == head.facts["tlsh"] and full.facts["tlsh"].startswith("T1")
    assert full.facts["tlsh_bytes"] == 10_000
    assert [h.limit for h in full.limits_hit] == ["fuzzy_hash_max_bytes"]
    assert _feed(TlshAnalyzer(10_000), b"short", 10).facts["tlsh"] is None


def test_entropy_values() -> None:
    assert shannon_entropy(b"") == 0.0
    assert shannon_entropy(b"a" * 100) == 0.0
    assert abs(shannon_entropy(bytes(range(256)) * 4) - 8.0) < 1e-9


def test_entropy_merges_high_regions() -> None:
    block = 64 * 1024
    data = bytes(block * 2) + os.urandom(block * 3) + b"text " * (block // 5) + os.urandom(block)
    result = _feed(EntropyAnalyzer(block_bytes=block, slices=4, slice_bytes=1024), data, 10_000)
    facts = result.facts["entropy"]
    regions = facts["high_entropy_regions"]
    assert [(r["offset"], r["length"]) for r in regions] == [
        (2 * block, 3 * block),
        (6 * block, len(data) - 6 * block),
    ]
    assert facts["blocks"] == 7
    assert facts["max"] > 7.5
