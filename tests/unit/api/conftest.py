"""Fixtures for the api function: the moto stack, the cold-started handler and request helpers."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from tests.support.http_api import http_event
from tests.support.stack import StackNames, load_handler
from tests.unit.pipeline.conftest import lambda_context, seed_scan, stack

__all__ = ["lambda_context", "seed_scan", "stack"]


@pytest.fixture
def api(stack: StackNames, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The api function's module, cold-started against the stack."""
    return load_handler("api", monkeypatch, stack.environment())


Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]


@pytest.fixture
def call(api: ModuleType, lambda_context: Any) -> Call:
    """Send one request to the handler: ``call("GET", "/scans", query=...)`` -> (status, json, headers)."""

    def send(method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, Any], dict[str, str]]:
        response = api.lambda_handler(http_event(method, path, **kwargs), lambda_context)
        body = json.loads(response["body"]) if response.get("body") else {}
        return response["statusCode"], body, response.get("headers") or {}

    return send
