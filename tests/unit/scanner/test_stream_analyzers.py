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


def test_given_any_chunking_when_hashed_then_the_digests_match_hashlib() -> None:
    data = os.urandom(100_000)
    for algorithm in ("md5", "sha1", "sha256"):
        result = _feed(HashAnalyzer(algorithm), data, 777)
        assert result.facts[algorithm] == hashlib.new(algorithm, data).hexdigest()
        assert result.status is AnalyzerStatus.OK


def test_given_a_file_over_the_tlsh_limit_when_hashed_then_only_the_head_counts_and_a_limit_is_hit() -> None:
    data = os.urandom(20_000)
    full = _feed(TlshAnalyzer(10_000), data, 3000)
    head = _feed(TlshAnalyzer(10_000), data[:10_000], 3000)
    assert full.facts["tlsh"] == head.facts["tlsh"] and full.facts["tlsh"].startswith("T1")
    assert full.facts["tlsh_bytes"] == 10_000
    assert [h.limit for h in full.limits_hit] == ["fuzzy_hash_max_bytes"]
    assert _feed(TlshAnalyzer(10_000), b"short", 10).facts["tlsh"] is None


def test_given_known_inputs_when_entropy_is_computed_then_it_is_0_or_8_bits() -> None:
    assert shannon_entropy(b"") == 0.0
    assert shannon_entropy(b"a" * 100) == 0.0
    assert abs(shannon_entropy(bytes(range(256)) * 4) - 8.0) < 1e-9


def test_given_adjacent_high_entropy_blocks_when_analyzed_then_they_merge_into_regions() -> None:
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
