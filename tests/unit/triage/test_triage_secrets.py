"""The API key never reaches the result, the logs or the config's repr."""

from __future__ import annotations

import json
import logging

import pytest

from filescan_shared.triage import triage
from tests.support.fake_openai import Behaviour, FakeOpenAIServer
from tests.unit.triage.triage_helpers import API_KEY, llm_config, make_input


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour.ok(),
        Behaviour.server_error(500),
        Behaviour.server_error(401),
        Behaviour.rate_limited("0"),
        Behaviour.malformed_json(),
        Behaviour.refusal(),
    ],
    ids=lambda b: b.kind + str(b.status),
)
def test_given_any_llm_behaviour_when_triaged_then_the_api_key_is_never_in_result_or_logs(
    server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture, behaviour: Behaviour
) -> None:
    server.default = behaviour
    config = llm_config(server, max_retries=1)
    with caplog.at_level(logging.DEBUG):
        result = triage(make_input(), config, deadline_seconds=5)

    assert server.chat_requests, "the request was made"
    assert server.last_request.headers["authorization"] == f"Bearer {API_KEY}"
    dumped = json.dumps(result.model_dump(mode="json"))
    assert API_KEY not in dumped
    assert API_KEY not in repr(result)
    assert API_KEY not in caplog.text
    for record in caplog.records:
        assert API_KEY not in json.dumps(record.__dict__, default=str)
    assert API_KEY not in repr(config)
    assert API_KEY not in config.model_dump_json()


def test_given_a_failed_llm_call_when_triaged_then_it_is_logged_with_a_reason(
    server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Behaviour.server_error(500)
    with caplog.at_level(logging.WARNING, logger="filescan.triage"):
        triage(make_input(), llm_config(server, max_retries=0))
    reasons = [getattr(r, "reason", None) for r in caplog.records if r.name == "filescan.triage"]
    assert "server_error" in reasons
