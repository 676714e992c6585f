"""YARA-X over the stream: chunked scan with seams for matches across chunk boundaries, and a head pass.

Two rule sets are compiled from the same directories:

* **stream rules** (``*.yar``): scanned chunk by chunk. Each chunk is scanned on its own (the ``bytes``
  object the engine read, no copy) and each boundary once more through a small *seam* buffer: the last
  ``overlap`` bytes of the previous chunk plus the first ``overlap`` bytes of the next. Any match no
  longer than ``overlap`` lies wholly inside a chunk or inside a seam. Matches are deduplicated by
  (rule, absolute offset), so a match seen by both a chunk and a seam is reported once. Conditions are
  evaluated per chunk or seam: rules must not depend on offsets from the file start or on patterns
  further apart than a chunk.
* **head rules** (``*.head.yar``): structural rules (``uint16(0) == 0x5A4D``, the ``pe`` module,
  ``filesize``) scanned once over the first ``head_bytes`` of the file, which is whole-file semantics
  for any file up to that size.

Findings: one per (rule, match offset), capped at ``max_matches_per_rule`` per rule; the cap is recorded
as a ``LimitHit`` (the rule has already matched, so the verdict does not treat it as lost coverage).
Patterns named ``$ctx*`` only give context to a condition and produce no finding. Evidence of rules
with ``category = "secret"`` is redacted to a prefix and a length.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yara_x

from filescan_scanner.analyzers.base import (
    AnalyzerResult,
    AnalyzerStatus,
    Finding,
    LimitHit,
    Location,
    ScanLimits,
    Target,
)
from filescan_scanner.text import redact, safe_excerpt
from filescan_shared.report.vocabulary import FindingCategory, LimitName
from filescan_shared.severity import Severity

ENGINE = "yara-x"
BUNDLED_RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
BUNDLED_NAMESPACE = "filescan"
HEAD_SUFFIX = ".head.yar"
EVIDENCE_BYTES = 48
SCAN_TIMEOUT_SECONDS = 300


class RulesError(Exception):
    """The rules could not be compiled (the message names the file and the compiler's error)."""


@dataclasses.dataclass(frozen=True)
class RuleSet:
    """Compiled stream and head rules plus where they came from.

    ``stream`` holds one or more compiled groups, each scanned over every chunk. YARA-X matches all
    pattern atoms of one compiled set with a single automaton, which becomes several times slower
    once the set has many atoms; ``nocase`` patterns multiply atoms. Each rule file that uses
    ``nocase`` therefore gets a group of its own and the other files share one: measured on the
    bundled rules, about 0.3 s/GiB for two groups against 0.94 s/GiB for one.
    """

    stream_groups: tuple[yara_x.Rules, ...]
    head: yara_x.Rules | None
    version: str
    namespaces: tuple[str, ...]
    files: tuple[str, ...]


def _rule_files(directory: Path) -> tuple[list[Path], list[Path]]:
    files = sorted(p for p in directory.rglob("*.yar") if p.is_file())
    head = [p for p in files if p.name.endswith(HEAD_SUFFIX)]
    stream = [p for p in files if not p.name.endswith(HEAD_SUFFIX)]
    return stream, head


CACHE_FORMAT = b"filescan-yarax-cache-1"


def _compile(sources: Iterable[tuple[str, Path]], cache_dir: Path | None = None) -> yara_x.Rules | None:
    texts: list[tuple[str, Path, str]] = []
    for namespace, path in sources:
        try:
            texts.append((namespace, path, path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"cannot read YARA rules file {path}: {exc}") from exc
    if not texts:
        return None
    key = _cache_key(texts) if cache_dir is not None else ""
    if cache_dir is not None and (cached := _load_cached(cache_dir, key)) is not None:
        return cached
    compiler = yara_x.Compiler()
    current: str | None = None
    for namespace, path, text in texts:
        if namespace != current:
            compiler.new_namespace(namespace)
            current = namespace
        try:
            compiler.add_source(text, str(path))
        except yara_x.CompileError as exc:
            raise RulesError(f"cannot compile YARA rules in {path} (namespace {namespace}): {exc}") from exc
    rules = compiler.build()
    if cache_dir is not None:
        _store_cached(cache_dir, key, rules)
    return rules


def _cache_key(texts: list[tuple[str, Path, str]]) -> str:
    """Content address of a compiled rule set: the sources, their names and the yara-x binary."""
    digest = hashlib.sha256(CACHE_FORMAT)
    engine = sys.modules.get("yara_x.yara_x") or yara_x
    engine_file = getattr(engine, "__file__", None) or ""
    try:
        stat = Path(engine_file).stat()
        digest.update(f"\0{engine_file}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    except OSError:
        digest.update(f"\0{engine_file}".encode())
    for namespace, path, text in texts:  # the file name, not its directory: extra rules move per run
        digest.update(f"\0{namespace}\0{path.name}\0".encode() + text.encode())
    return digest.hexdigest()


def _trusted(stat: os.stat_result) -> bool:
    """Owned by us or root and writable by nobody else: only then are cached rules believed."""
    return stat.st_uid in {os.getuid(), 0} and not stat.st_mode & 0o022


def _load_cached(cache_dir: Path, key: str) -> yara_x.Rules | None:
    """The cached compiled rules for ``key``, or None (missing, untrusted or unreadable: recompile)."""
    try:
        if not _trusted(cache_dir.stat()):
            return None
        fd = os.open(cache_dir / f"{key}.yarx", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        if not _trusted(os.fstat(fd)):
            return None
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return yara_x.Rules.deserialize_from(handle)
    except Exception:  # a corrupt or foreign cache entry is recompiled and overwritten
        return None
    finally:
        os.close(fd)


def _store_cached(cache_dir: Path, key: str, rules: yara_x.Rules) -> None:
    """Write the compiled rules atomically; a cache that cannot be written is silently skipped."""
    try:
        cache_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        if not _trusted(cache_dir.stat()):
            return
        fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=".yarx", dir=cache_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                rules.serialize_into(handle)
            Path(name).chmod(0o644)
            Path(name).replace(cache_dir / f"{key}.yarx")
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
    except Exception:  # noqa: S110 - the cache is an optimisation only
        pass


def bundled_rules_version() -> str:
    """The version of the bundled rule set (``rules/VERSION``)."""
    return (BUNDLED_RULES_DIR / "VERSION").read_text(encoding="utf-8").strip()


@functools.lru_cache(maxsize=4)
def load_rules(
    extra_dir: Path | None = None, bundled_dir: Path = BUNDLED_RULES_DIR, cache_dir: Path | None = None
) -> RuleSet:
    """Compile the bundled rules and, if given, the ``*.yar`` files under ``extra_dir``.

    Extra rules go in the namespace ``extra``; their content hash is appended to the rules version.
    Raises ``RulesError`` with the offending file when any rule fails to compile, and naming the
    rules whose ``category`` meta is not a ``FindingCategory``.

    With ``cache_dir``, compiled rule sets are kept there under the SHA-256 of their sources (and of
    the yara-x binary) and deserialised next time (~3 ms instead of ~40 ms of compiling). Entries are
    only believed when the directory and file are ours (or root's) and not group/world-writable.
    """
    namespaces = [BUNDLED_NAMESPACE]
    stream, head = _rule_files(bundled_dir)
    stream_sources = [(BUNDLED_NAMESPACE, p) for p in stream]
    head_sources = [(BUNDLED_NAMESPACE, p) for p in head]
    version = (bundled_dir / "VERSION").read_text(encoding="utf-8").strip()
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise RulesError(f"extra rules directory {extra_dir} does not exist")
        extra_stream, extra_head = _rule_files(extra_dir)
        digest = hashlib.sha256()
        for path in sorted(extra_stream + extra_head):
            digest.update(path.relative_to(extra_dir).as_posix().encode() + b"\0" + path.read_bytes())
        stream_sources += [("extra", p) for p in extra_stream]
        head_sources += [("extra", p) for p in extra_head]
        namespaces.append("extra")
        version = f"{version}+extra.{digest.hexdigest()[:12]}"
    groups = [_compile(group, cache_dir) for group in _stream_groups(stream_sources)]
    stream_groups = tuple(rules for rules in groups if rules is not None)
    if not stream_groups:
        raise RulesError("no stream rules found")
    head_rules = _compile(head_sources, cache_dir)
    check_categories((*stream_groups, head_rules))
    return RuleSet(
        stream_groups=stream_groups,
        head=head_rules,
        version=version,
        namespaces=tuple(namespaces),
        files=tuple(str(p) for _, p in stream_sources + head_sources),
    )


_NOCASE_PATTERN = re.compile(r"^\s*\$\w*\s*=.*\bnocase\b", re.MULTILINE)
"""A string definition with the ``nocase`` modifier (comments mentioning the word do not count)."""


def _stream_groups(sources: list[tuple[str, Path]]) -> list[list[tuple[str, Path]]]:
    """Split rule files into compile groups: one per file using ``nocase``, one for all the others."""
    shared: list[tuple[str, Path]] = []
    own: list[list[tuple[str, Path]]] = []
    for namespace, path in sources:
        try:
            uses_nocase = _NOCASE_PATTERN.search(path.read_text(encoding="utf-8")) is not None
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError(f"cannot read YARA rules file {path}: {exc}") from exc
        if uses_nocase:
            own.append([(namespace, path)])
        else:
            shared.append((namespace, path))
    return ([shared] if shared else []) + own


@functools.cache
def yara_x_version() -> str:
    """The installed yara-x version."""
    from importlib.metadata import version as dist_version  # noqa: PLC0415 - ~10 ms: not at start-up

    return dist_version("yara-x")


def _meta(rule: Any) -> dict[str, Any]:
    return {str(k): v for k, v in rule.metadata}


def _category(meta: dict[str, Any]) -> FindingCategory:
    """The rule's ``category`` meta (``check_categories`` ran when the rules were loaded)."""
    return FindingCategory(str(meta.get("category", FindingCategory.UNCATEGORISED)))


def check_categories(rules: Iterable[yara_x.Rules | None]) -> None:
    """Raise ``RulesError`` naming each rule whose ``category`` meta is not a ``FindingCategory``.

    A misspelt category must not quietly turn a malware rule into one that cannot make a file
    malicious: the rules are refused at load time (a configuration error) instead.
    """
    bad = [
        f"{rule.namespace}.{rule.identifier}: {str(_meta(rule).get('category'))[:40]!r}"
        for compiled in rules
        if compiled is not None
        for rule in compiled
        if str(_meta(rule).get("category", FindingCategory.UNCATEGORISED)) not in FindingCategory
    ]
    if bad:
        known = ", ".join(FindingCategory)
        raise RulesError(f"unknown rule categories ({'; '.join(bad[:10])}); known: {known}")


def _severity(meta: dict[str, Any]) -> Severity:
    try:
        return Severity.from_label(str(meta.get("severity", "medium")))
    except ValueError:
        return Severity.MEDIUM


class YaraAnalyzer:
    """The YARA-X stream analyzer (stream rules chunked, head rules once)."""

    name = ENGINE
    cost = 0.3
    """Single-core CPU seconds per GiB with the bundled rules, seams included (streaming-lane weight)."""

    def __init__(self, rules: RuleSet, limits: ScanLimits, overlap: int, head_bytes: int) -> None:
        self.rules = rules
        self.limits = limits
        self.overlap = max(1, min(overlap, limits.chunk_bytes // 2))
        self.head_bytes = head_bytes

    def start(self, target: Target) -> YaraSession:
        """Begin scanning ``target``."""
        return YaraSession(self, target)


class YaraSession:
    """State of one chunked scan: the previous tail, recent match keys, per-rule counts."""

    def __init__(self, config: YaraAnalyzer, target: Target) -> None:
        self._cfg = config
        self._target = target
        self._scanners: list[yara_x.Scanner] = []
        self._tail = b""
        self._head = bytearray()
        self._head_done = config.rules.head is None
        self._recent: set[tuple[str, int | None]] = set()
        self._counts: dict[str, int] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._findings: list[Finding] = []
        self._seconds = 0.0

    def feed(self, chunk: memoryview, offset: int) -> None:
        """Scan the chunk, then the seam between the previous chunk and this one."""
        started = time.perf_counter()
        data = chunk.obj if isinstance(chunk.obj, bytes) and len(chunk) == len(chunk.obj) else chunk.tobytes()
        overlap = self._cfg.overlap
        if not self._scanners:
            # A yara-x Scanner must stay on the thread that created it: build them on the first chunk.
            self._scanners = [self._new_scanner(rules) for rules in self._cfg.rules.stream_groups]
        if not self._head_done:
            self._feed_head(data, offset)
        seam = self._tail + data[:overlap] if self._tail else b""
        for scanner in self._scanners:
            self._collect(scanner.scan(data), data, offset)
            if seam:
                self._collect(scanner.scan(seam), seam, offset - len(self._tail))
        self._tail = data[-overlap:]
        floor = offset + len(data) - overlap
        self._recent = {key for key in self._recent if key[1] is None or key[1] >= floor}
        self._seconds += time.perf_counter() - started

    def _new_scanner(self, rules: yara_x.Rules) -> yara_x.Scanner:
        scanner = yara_x.Scanner(rules)
        scanner.set_timeout(SCAN_TIMEOUT_SECONDS)
        scanner.max_matches_per_pattern(max(1000, self._cfg.limits.max_matches_per_rule * 4))
        return scanner

    def _feed_head(self, data: bytes, offset: int) -> None:
        limit = self._cfg.head_bytes
        if offset == 0 and len(data) >= limit:
            self._scan_head(data if len(data) == limit else data[:limit])
            return
        self._head += data[: limit - len(self._head)]
        if len(self._head) >= limit:
            self._scan_head(bytes(self._head))

    def _scan_head(self, head: bytes) -> None:
        self._head_done = True
        self._head = bytearray()
        assert self._cfg.rules.head is not None
        scanner = yara_x.Scanner(self._cfg.rules.head)
        scanner.set_timeout(SCAN_TIMEOUT_SECONDS)
        self._collect(scanner.scan(head), head, 0)

    def _collect(self, results: Any, window: bytes, base: int) -> None:
        for rule in results.matching_rules:
            rule_key = f"{rule.namespace}.{rule.identifier}"
            meta = self._meta.get(rule_key)
            if meta is None:
                meta = self._meta[rule_key] = _meta(rule)
            matched = False
            for pattern in rule.patterns:
                if pattern.identifier.startswith("$ctx"):
                    continue
                for match in pattern.matches:
                    matched = True
                    self._record(rule_key, meta, base + match.offset, window, match.offset, match.length)
            if not matched:
                self._record(rule_key, meta, None, window, 0, 0)

    def _record(  # noqa: PLR0917
        self, rule_key: str, meta: dict[str, Any], offset: int | None, window: bytes, at: int, length: int
    ) -> None:
        key = (rule_key, offset)
        if key in self._recent:
            return
        self._recent.add(key)
        count = self._counts[rule_key] = self._counts.get(rule_key, 0) + 1
        if count > self._cfg.limits.max_matches_per_rule:
            return
        raw = window[at : at + min(length, EVIDENCE_BYTES)]
        category = _category(meta)
        if not raw:
            evidence = None
        elif category is FindingCategory.SECRET:
            evidence = redact(window[at : at + length])
        else:
            evidence = safe_excerpt(raw, 2 * EVIDENCE_BYTES)
        self._findings.append(
            Finding(
                engine=ENGINE,
                rule_id=rule_key,
                category=category,
                severity=_severity(meta),
                title=safe_excerpt(str(meta.get("title", rule_key)), 120),
                location=Location(self._target.location.archive_path, offset),
                evidence=evidence,
            )
        )

    def finish(self) -> AnalyzerResult:
        """Scan a short head if the file ended before ``head_bytes``; return findings and cap hits."""
        started = time.perf_counter()
        if not self._head_done:
            self._scan_head(bytes(self._head))
        self._scanners = []
        self._seconds += time.perf_counter() - started
        cap = self._cfg.limits.max_matches_per_rule
        result = AnalyzerResult(
            name=ENGINE,
            version=yara_x_version(),
            status=AnalyzerStatus.OK,
            rules_version=self._cfg.rules.version,
            seconds=self._seconds,
            findings=self._findings,
        )
        for rule_key, count in sorted(self._counts.items()):
            if count > cap:
                result.limits_hit.append(
                    LimitHit(
                        LimitName.MAX_MATCHES_PER_RULE,
                        cap,
                        f"{rule_key}: {count} matches, first {cap} reported",
                        self._target.location,
                    )
                )
        result.facts = {"yara_namespaces": list(self._cfg.rules.namespaces)}
        return result
