from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from filescan_scanner.analyzers.base import ScanLimits
from filescan_scanner.analyzers.yara_rules import RuleSet, load_rules
from filescan_scanner.engine import ScanEngine, ScanOutcome


def eicar_bytes() -> bytes:
    """The EICAR test string, assembled at test time from two halves."""
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def eicar() -> bytes:
    return eicar_bytes()


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    return load_rules()


@pytest.fixture
def scan(tmp_path: Path, rules: RuleSet) -> Callable[..., ScanOutcome]:
    """Scan bytes with the real engine; small chunks by default so boundaries are exercised."""

    def run(
        data: bytes,
        name: str = "sample.bin",
        chunk: int = 4096,
        overlap: int = 1024,
        content: list[str] | None = None,
        **limits: int,
    ) -> ScanOutcome:
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        path = tmp_path / "input.bin"
        path.write_bytes(data)
        engine = ScanEngine(
            rules,
            ScanLimits(chunk_bytes=chunk, **limits),
            work,
            overlap=overlap,
            head_bytes=8192,
            content_analyzers=content or [],
        )
        return engine.scan(path, name)

    return run


def findings(outcome: ScanOutcome, engine: str | None = "yara-x") -> list[tuple[str, int | None]]:
    return [
        (f.rule_id, f.location.offset)
        for t in outcome.targets
        for r in t.results
        for f in r.findings
        if engine is None or f.engine == engine
    ]
