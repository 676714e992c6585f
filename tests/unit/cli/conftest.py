"""Fixtures for the CLI: the api handler served over loopback HTTP against the moto stack."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from tests.support.http_api import api_server
from tests.support.stack import StackNames
from tests.unit.api.conftest import api, lambda_context, stack

__all__ = ["api", "lambda_context", "stack"]


@pytest.fixture
def api_url(
    api: ModuleType, lambda_context: Any, stack: StackNames, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """The API on a loopback port; the CLI's target variables point at it (unsigned)."""
    with api_server(lambda event: api.lambda_handler(event, lambda_context)) as url:
        monkeypatch.setenv("FILESCAN_API_URL", url)
        monkeypatch.setenv("FILESCAN_BUCKET", stack.uploads_bucket)
        monkeypatch.setenv("FILESCAN_NO_SIGN", "1")
        yield url
