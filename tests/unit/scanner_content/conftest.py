"""Fixtures for the content-analyzer tests: a fake ScanContext rooted in a tmp work dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.scanner_content.content_helpers import FakeContext


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    work = tmp_path / "work"
    work.mkdir()
    return FakeContext(work_dir=work)
