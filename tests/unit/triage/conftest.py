"""Fixtures for the triage tests: the fake OpenAI-compatible server."""

from __future__ import annotations

import pytest

from tests.support.fake_openai import FakeOpenAIServer, fake_openai

__all__ = ["fake_openai"]


@pytest.fixture
def server(fake_openai: FakeOpenAIServer) -> FakeOpenAIServer:
    """The started fake server (alias of ``fake_openai``)."""
    return fake_openai
