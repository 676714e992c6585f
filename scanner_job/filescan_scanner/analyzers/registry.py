"""Which analyzers run, in order.

* ``stream_analyzers`` builds the streaming-pass analyzers (hashes, TLSH, entropy, YARA-X).
* ``CONTENT_ANALYZERS`` is a plain list of ``"module:Class"`` references to content analyzers, each
  constructible with no arguments. Add an analyzer by appending its reference here. The engine
  imports them lazily; one that fails to import or build is reported as an ``error`` engine, never
  silently dropped.
"""

from __future__ import annotations

import importlib

from filescan_scanner.analyzers.base import ContentAnalyzer, ScanLimits, StreamAnalyzer
from filescan_scanner.analyzers.entropy import EntropyAnalyzer
from filescan_scanner.analyzers.hashes import HashAnalyzer, TlshAnalyzer
from filescan_scanner.analyzers.yara_rules import RuleSet, YaraAnalyzer

CONTENT_ANALYZERS: list[str] = [
    "filescan_scanner.analyzers.archives:ArchiveAnalyzer",
    "filescan_scanner.analyzers.pdf:PdfAnalyzer",
    "filescan_scanner.analyzers.office:OfficeAnalyzer",
    "filescan_scanner.analyzers.executables:ExecutableAnalyzer",
    "filescan_scanner.analyzers.clamav:ClamAvAnalyzer",
]
"""``"module:Class"`` of each content analyzer, in the order they run."""


def stream_analyzers(
    rules: RuleSet, limits: ScanLimits, overlap: int, head_bytes: int
) -> list[StreamAnalyzer]:
    """The streaming-pass analyzers; ``streaming.stream_pass`` spreads them over its worker lanes."""
    return [
        YaraAnalyzer(rules, limits, overlap, head_bytes),
        HashAnalyzer("md5"),
        HashAnalyzer("sha1"),
        HashAnalyzer("sha256"),
        TlshAnalyzer(limits.fuzzy_hash_max_bytes),
        EntropyAnalyzer(),
    ]


def load_content_analyzer(reference: str) -> ContentAnalyzer:
    """Import ``"module:Class"`` and build it with no arguments (exceptions propagate)."""
    module_name, _, class_name = reference.partition(":")
    module = importlib.import_module(module_name)
    analyzer: ContentAnalyzer = getattr(module, class_name)()
    return analyzer
