"""The fake server itself, through the real openai client (the local stack reuses it)."""

from __future__ import annotations

import openai
import pytest

from filescan_shared.severity import Severity
from filescan_shared.triage import TriageAnswer
from tests.support.fake_openai import Behaviour, FakeOpenAIServer
from tests.unit.triage.triage_helpers import API_KEY


def test_given_the_fake_server_when_parsed_with_a_pydantic_model_then_the_answer_parses(
    server: FakeOpenAIServer,
) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0, timeout=5)
    server.enqueue(Behaviour.ok(severity="low"))
    completion = client.chat.completions.parse(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "hi"}], response_format=TriageAnswer
    )
    parsed = completion.choices[0].message.parsed
    assert parsed is not None
    assert parsed.suggested_severity is Severity.LOW
    assert completion.usage is not None and completion.usage.total_tokens > 0
    assert server.last_request.body is not None
    assert server.last_request.body["response_format"]["type"] == "json_schema"


def test_given_the_fake_server_when_models_are_listed_or_rate_limited_then_it_answers_like_openai(
    server: FakeOpenAIServer,
) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0, timeout=5)
    assert [m.id for m in client.models.list()] == ["gpt-6-luna"]
    server.enqueue(Behaviour.rate_limited("7"))
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert info.value.response.headers["retry-after"] == "7"


def test_given_no_report_when_the_fake_server_echoes_then_severity_is_medium(
    server: FakeOpenAIServer,
) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0, timeout=5)
    completion = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert '"suggested_severity": "medium"' in (completion.choices[0].message.content or "")


def test_given_refused_parameters_or_unknown_models_when_sent_then_the_fake_server_rejects_them(
    server: FakeOpenAIServer,
) -> None:
    client = openai.OpenAI(api_key=API_KEY, base_url=server.base_url, max_retries=0, timeout=5)
    messages = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-6-luna", messages=messages, max_tokens=10)  # type: ignore[arg-type]
    assert (info.value.code, info.value.param) == ("unsupported_parameter", "max_tokens")
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-6-luna", messages=messages, temperature=0)  # type: ignore[arg-type]
    assert (info.value.code, info.value.param) == ("unsupported_value", "temperature")
    client.chat.completions.create(model="gpt-6-luna", messages=messages, max_completion_tokens=10)  # type: ignore[arg-type]
    client.chat.completions.create(model="local-llama", messages=messages, max_tokens=10, temperature=0)  # type: ignore[arg-type]

    server.models = frozenset({"gpt-6-luna"})
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-3.5-turbo", messages=messages)  # type: ignore[arg-type]
    assert missing.value.code == "model_not_found"
