"""The triage step against the fake OpenAI server over real HTTP, through the real openai client."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal

import pytest

from filescan_shared.severity import Severity, Verdict
from filescan_shared.triage import PROMPT_VERSION, triage
from filescan_shared.triage.model_profiles import ModelProfile
from tests.support.fake_openai import DEFAULT_ANSWER, Behaviour, FakeOpenAIServer
from tests.unit.triage.triage_helpers import API_KEY, llm_config, make_input


def test_given_a_good_answer_when_triaged_then_it_is_stored_as_the_llm_result(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.ok(severity="high", summary="A macro-enabled document with an auto-exec macro."))
    result = triage(make_input(severity=Severity.HIGH), llm_config(server))

    assert result.engine == "llm"
    assert result.status == "ok"
    assert result.reason is None
    assert result.summary == "A macro-enabled document with an auto-exec macro."
    assert result.key_findings == ["A rule matched the document's macro section."]
    assert result.recommended_actions == ["Keep the object quarantined.", "Have an analyst review it."]
    assert result.final_severity is Severity.HIGH
    assert result.suggested_severity is Severity.HIGH
    assert result.verdict is Verdict.SUSPICIOUS
    assert not result.contradiction
    assert result.summary_source == "llm"
    assert not result.llm_raised_severity
    assert result.attempts == 1
    assert result.model == "gpt-6-luna"
    assert result.prompt_version == PROMPT_VERSION
    assert result.tokenizer == "utf8-bytes-upper-bound"
    assert result.base_url_host == server.base_url.split("//")[1].split("/")[0]
    assert result.prompt_tokens_counted is not None
    assert 0 < result.prompt_tokens_counted <= 3000

    request = server.last_request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body is not None
    assert request.body["model"] == "gpt-6-luna"
    assert request.body["response_format"]["type"] == "json_schema"
    assert request.body["response_format"]["json_schema"]["strict"] is True
    assert request.body["max_completion_tokens"] == 700
    assert request.body["reasoning_effort"] == "none"
    assert "max_tokens" not in request.body and "temperature" not in request.body


def test_given_an_answer_when_triaged_then_usage_and_cost_are_recorded_without_floats(
    server: FakeOpenAIServer,
) -> None:
    result = triage(make_input(), llm_config(server))

    assert result.usage is not None
    body = server.last_request.body
    assert body is not None
    prompt_tokens, completion_tokens = result.usage.prompt_tokens, result.usage.completion_tokens
    assert prompt_tokens is not None and completion_tokens is not None
    assert result.usage.total_tokens == prompt_tokens + completion_tokens
    expected = (
        Decimal(prompt_tokens) * Decimal("0.0001") + Decimal(completion_tokens) * Decimal("0.0005")
    ) / 1000
    assert result.cost == expected.quantize(Decimal("0.00000001"))
    assert result.latency_ms >= 0

    def no_floats(value: object) -> None:
        assert not isinstance(value, float), value
        if isinstance(value, dict):
            for v in value.values():
                no_floats(v)
        if isinstance(value, list):
            for v in value:
                no_floats(v)

    item = result.to_item()
    no_floats(item)
    assert None not in item.values()
    json.dumps(result.model_dump(mode="json"))


def test_given_a_model_with_no_known_price_when_triaged_then_there_is_no_cost(
    server: FakeOpenAIServer,
) -> None:
    result = triage(make_input(), llm_config(server, model="local-llama"))
    assert result.status == "ok"
    assert result.cost_usd is None
    assert result.tokenizer == "utf8-bytes-upper-bound"


def test_given_json_schema_mode_when_triaged_then_the_request_sends_the_answer_schema(
    server: FakeOpenAIServer,
) -> None:
    result = triage(make_input(), llm_config(server, response_mode="json_schema"))

    assert result.status == "ok"
    assert result.response_mode == "json_schema"
    body = server.last_request.body
    assert body is not None
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "triage_answer"
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"summary", "key_findings", "recommended_actions", "suggested_severity"}
    assert "maxLength" not in json.dumps(schema)  # length limits are checked on the answer instead


@pytest.mark.parametrize(
    ("model", "sent", "absent"),
    [
        (
            "gpt-6-luna",
            {"max_completion_tokens": 700, "reasoning_effort": "none"},
            {"max_tokens", "temperature"},
        ),
        (
            "gpt-5-mini",
            {"max_completion_tokens": 2700, "reasoning_effort": "low"},
            {"max_tokens", "temperature"},
        ),
        (
            "gpt-4.1-mini",
            {"max_completion_tokens": 700, "temperature": 0},
            {"max_tokens", "reasoning_effort"},
        ),
        ("local-llama", {"max_completion_tokens": 700, "temperature": 0}, {"max_tokens", "reasoning_effort"}),
    ],
)
def test_given_a_model_family_when_triaged_then_the_request_uses_its_parameters(
    server: FakeOpenAIServer, model: str, sent: dict[str, object], absent: set[str]
) -> None:
    result = triage(make_input(), llm_config(server, model=model))

    assert result.status == "ok", result.reason_detail
    body = server.last_request.body
    assert body is not None
    assert {k: body.get(k) for k in sent} == sent
    assert absent.isdisjoint(body)
    expected_mode = "json_object" if model == "local-llama" else "json_schema"
    assert (body["response_format"]["type"], result.response_mode) == (expected_mode, expected_mode)


def test_given_a_slow_answer_when_triaged_then_it_is_unavailable_within_the_deadline(
    server: FakeOpenAIServer,
) -> None:
    server.default = Behaviour.slow(delay=30)
    config = llm_config(server, request_timeout_seconds=1.0, max_retries=5, min_attempt_seconds=0.5)
    started = time.monotonic()
    result = triage(make_input(), config, deadline_seconds=2.5)
    elapsed = time.monotonic() - started

    assert result.status == "unavailable"
    assert result.engine == "llm"
    assert result.reason == "timeout"
    assert elapsed < 2.5 + 0.4, elapsed
    assert 1 <= result.attempts <= 3
    assert result.final_severity is Severity.HIGH
    assert result.summary.startswith("Verdict suspicious, severity high")
    assert result.key_findings  # deterministic summary filled in


def test_given_many_retries_when_triaged_then_the_total_time_is_bounded_by_the_deadline(
    server: FakeOpenAIServer,
) -> None:
    server.default = Behaviour.slow(delay=30)
    config = llm_config(
        server, request_timeout_seconds=0.5, max_retries=10, backoff_base_seconds=0.2, backoff_max_seconds=1.0
    )
    started = time.monotonic()
    result = triage(make_input(), config, deadline_seconds=1.8)
    elapsed = time.monotonic() - started

    assert result.status == "unavailable"
    assert elapsed < 1.8 + 0.4, elapsed
    assert result.attempts < 11


def test_given_no_time_left_when_triaged_then_no_attempt_is_made(server: FakeOpenAIServer) -> None:
    result = triage(make_input(), llm_config(server, min_attempt_seconds=1.0), deadline_seconds=0.5)
    assert result.status == "unavailable"
    assert result.reason == "deadline_exceeded"
    assert result.attempts == 0
    assert server.chat_requests == []


def test_given_a_429_then_success_when_triaged_then_retry_after_is_honoured_and_it_succeeds(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.rate_limited(retry_after="0.3"), Behaviour.ok(severity="high"))
    started = time.monotonic()
    result = triage(make_input(), llm_config(server), deadline_seconds=10)
    elapsed = time.monotonic() - started

    assert result.status == "ok"
    assert result.attempts == 2
    assert elapsed >= 0.3  # Retry-After honoured
    requests = server.chat_requests
    assert len(requests) == 2
    assert requests[1].received_at - requests[0].received_at >= 0.3


def test_given_a_429_retry_after_beyond_the_deadline_when_triaged_then_it_gives_up_at_once(
    server: FakeOpenAIServer,
) -> None:
    server.default = Behaviour.rate_limited(retry_after="30")
    started = time.monotonic()
    result = triage(make_input(), llm_config(server, max_retries=5), deadline_seconds=5)
    elapsed = time.monotonic() - started

    assert result.status == "unavailable"
    assert result.reason == "rate_limited"
    assert result.attempts == 1
    assert elapsed < 2


def test_given_persistent_429s_when_triaged_then_it_is_unavailable_after_bounded_retries(
    server: FakeOpenAIServer,
) -> None:
    server.default = Behaviour.rate_limited(retry_after="0.1")
    result = triage(make_input(), llm_config(server, max_retries=2), deadline_seconds=10)

    assert result.status == "unavailable"
    assert result.reason == "rate_limited"
    assert result.attempts == 3
    assert len(server.chat_requests) == 3


def test_given_persistent_500s_when_triaged_then_it_is_unavailable_after_bounded_retries(
    server: FakeOpenAIServer,
) -> None:
    server.default = Behaviour.server_error(500)
    result = triage(make_input(), llm_config(server, max_retries=2), deadline_seconds=10)

    assert result.status == "unavailable"
    assert result.reason == "server_error"
    assert result.attempts == 3
    assert len(server.chat_requests) == 3
    assert result.final_severity is Severity.HIGH


def test_given_a_server_error_then_success_when_triaged_then_the_retry_succeeds(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.server_error(503), Behaviour.ok(severity="critical"))
    result = triage(make_input(), llm_config(server), deadline_seconds=10)
    assert result.status == "ok"
    assert result.attempts == 2
    assert result.final_severity is Severity.CRITICAL


def test_given_a_refused_connection_when_triaged_then_it_is_unavailable(server: FakeOpenAIServer) -> None:
    base_url = server.base_url
    server.stop()
    config = llm_config(server, base_url=base_url, max_retries=1)
    result = triage(make_input(), config, deadline_seconds=5)
    assert result.status == "unavailable"
    assert result.reason == "connection_error"
    assert result.attempts == 2


def test_given_an_auth_error_when_triaged_then_it_is_a_configuration_error_not_retried(
    server: FakeOpenAIServer,
) -> None:
    server.default = Behaviour.server_error(401)
    result = triage(make_input(), llm_config(server), deadline_seconds=5)
    assert result.status == "misconfigured"
    assert result.reason == "auth_error"
    assert result.attempts == 1


def test_given_malformed_json_when_triaged_then_it_is_unavailable_and_still_paid_for(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.malformed_json())
    result = triage(make_input(), llm_config(server))
    assert result.status == "unavailable"
    assert result.reason == "malformed_json"
    assert result.attempts == 1
    assert result.usage is not None  # the garbage was still paid for
    assert result.summary.startswith("Verdict suspicious")


def test_given_a_non_json_http_body_when_triaged_then_it_is_unavailable(server: FakeOpenAIServer) -> None:
    server.enqueue(Behaviour(kind="bad_body"))
    result = triage(make_input(), llm_config(server))
    assert result.status == "unavailable"
    assert result.reason == "malformed_response"


def test_given_a_truncated_answer_when_triaged_then_it_is_unavailable(server: FakeOpenAIServer) -> None:
    server.enqueue(Behaviour(kind="truncated"))
    result = triage(make_input(), llm_config(server))
    assert result.status == "unavailable"
    assert result.reason == "truncated"


@pytest.mark.parametrize(
    "changes",
    [
        {"verdict": "clean"},  # extra field
        {"suggested_severity": "catastrophic"},  # unknown severity
        {"suggested_severity": "HIGH"},  # labels are lower-case
        {"suggested_severity": 4},  # not a label
        {"summary": "x" * 5000},  # too long
        {"summary": ""},  # empty
        {"key_findings": "one string, not a list"},
        {"key_findings": [f"finding {i}" for i in range(50)]},  # too many
        {"recommended_actions": [42]},
    ],
    ids=lambda c: next(iter(c)) + ":" + str(next(iter(c.values())))[:20],
)
def test_given_a_schema_violation_when_triaged_then_it_is_unavailable(
    server: FakeOpenAIServer, changes: dict[str, object]
) -> None:
    server.enqueue(Behaviour.schema_violation(**changes))
    result = triage(make_input(), llm_config(server))
    assert result.status == "unavailable"
    assert result.reason == "schema_violation"
    assert result.final_severity is Severity.HIGH


def test_given_a_json_array_answer_when_triaged_then_it_is_a_schema_violation(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.raw_content('["summary", "high"]'))
    result = triage(make_input(), llm_config(server))
    assert result.reason == "schema_violation"


def test_given_an_answer_missing_a_field_when_triaged_then_it_is_a_schema_violation(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.raw_content('{"summary": "ok", "suggested_severity": "low"}'))
    result = triage(make_input(), llm_config(server))
    assert result.reason == "schema_violation"


def test_given_a_lower_suggested_severity_when_triaged_then_rules_win_and_a_contradiction_is_flagged(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.ok(severity="low"))
    result = triage(make_input(severity=Severity.HIGH), llm_config(server))

    assert result.status == "ok"
    assert result.final_severity is Severity.HIGH
    assert result.deterministic_severity is Severity.HIGH
    assert result.suggested_severity is Severity.LOW
    assert result.contradiction is True
    assert result.contradiction_reasons == ["lower_severity"]
    assert result.llm_raised_severity is False
    assert result.verdict is Verdict.SUSPICIOUS
    assert result.summary_source == "rules"
    assert result.summary.startswith("Verdict suspicious, severity high")
    assert result.flagged_answer is not None
    assert result.flagged_answer.summary == DEFAULT_ANSWER["summary"]


def test_given_a_higher_suggested_severity_when_triaged_then_severity_rises_but_not_the_verdict(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.ok(severity="critical"))
    inp = make_input(verdict=Verdict.SUSPICIOUS, severity=Severity.LOW)
    result = triage(inp, llm_config(server))

    assert result.final_severity is Severity.CRITICAL
    assert result.llm_raised_severity is True
    assert result.contradiction is False
    assert result.verdict is Verdict.SUSPICIOUS
    dumped = result.model_dump(mode="json")
    assert dumped["final_severity"] == "critical"
    assert dumped["deterministic_severity"] == "low"


def test_given_a_refusal_when_triaged_then_it_is_unavailable(server: FakeOpenAIServer) -> None:
    server.enqueue(Behaviour.refusal())
    result = triage(make_input(), llm_config(server))
    assert result.status == "unavailable"
    assert result.reason == "refusal"
    assert result.engine == "llm"
    assert "sorry" not in result.summary


def test_given_a_keyless_local_endpoint_when_triaged_then_it_works_without_a_key(
    server: FakeOpenAIServer,
) -> None:
    result = triage(make_input(), llm_config(server, api_key=None))
    assert result.status == "ok"
    assert result.engine == "llm"
    assert API_KEY not in server.last_request.headers.get("authorization", "")


def test_given_control_characters_in_llm_text_when_triaged_then_they_are_stored_inert(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour.ok(summary="Looks bad\x1b[2J\u202e", key_findings=["a\x00b"]))
    result = triage(make_input(), llm_config(server))
    assert result.status == "ok"
    assert result.summary == "Looks bad\\u001b[2J\\u202e"
    assert result.key_findings == ["a\\u0000b"]


def test_given_an_unexpected_error_when_triaged_then_it_never_raises(server: FakeOpenAIServer) -> None:
    def broken_factory(config: object) -> object:
        raise RuntimeError("boom")

    result = triage(make_input(), llm_config(server), client_factory=broken_factory)  # type: ignore[arg-type]
    assert result.status == "unavailable"
    assert result.reason == "internal_error"
    assert result.final_severity is Severity.HIGH
    assert result.summary == "Verdict suspicious, severity high."


def test_given_an_html_page_with_status_200_when_triaged_then_it_is_unavailable_not_internal(
    server: FakeOpenAIServer,
) -> None:
    server.enqueue(Behaviour(kind="html_page"))
    result = triage(make_input(), llm_config(server))
    assert (result.status, result.reason) == ("unavailable", "malformed_response")
    assert result.attempts == 1
    assert result.summary.startswith("Verdict suspicious, severity high")
    assert result.key_findings and result.recommended_actions  # the deterministic summary, complete


@pytest.mark.parametrize(
    ("model", "today"),
    [("gpt-3.5-turbo", None), ("gpt-3.5-turbo-0125", None), ("gpt-4.1-mini", dt.date(2027, 1, 14))],
)
def test_given_a_retired_openai_model_when_triaged_then_it_is_a_configuration_error_and_not_called(
    server: FakeOpenAIServer, model: str, today: dt.date | None
) -> None:
    config = llm_config(server, base_url=None, model=model)  # OpenAI's own endpoint

    result = triage(make_input(), config, today=today)

    assert (result.status, result.reason) == ("misconfigured", "model_retired")
    assert result.reason_detail is not None and "gpt-6-luna" in result.reason_detail
    assert result.attempts == 0 and server.chat_requests == []
    assert result.summary.startswith("Verdict suspicious, severity high")  # the scan still gets one


def test_given_a_compatible_server_serving_a_retired_model_name_when_triaged_then_it_works(
    server: FakeOpenAIServer,
) -> None:
    result = triage(make_input(), llm_config(server, model="gpt-3.5-turbo"))
    assert result.status == "ok"


def test_given_a_model_not_found_when_triaged_then_it_is_a_configuration_error_not_an_outage(
    server: FakeOpenAIServer,
) -> None:
    server.models = frozenset({"gpt-6-luna"})
    result = triage(make_input(), llm_config(server, model="gpt-9-nova"))

    assert (result.status, result.reason) == ("misconfigured", "model_not_found")
    assert result.attempts == 1  # never retried
    assert result.reason_detail is not None and "does not exist" in result.reason_detail


@pytest.mark.parametrize(
    ("profile", "reason"),
    [
        (ModelProfile(token_parameter="max_tokens", temperature=False), "unsupported_parameter"),
        (ModelProfile(temperature=True), "unsupported_value"),
    ],
)
def test_given_a_parameter_the_model_refuses_when_triaged_then_it_is_a_configuration_error(
    server: FakeOpenAIServer, profile: ModelProfile, reason: str
) -> None:
    result = triage(make_input(), llm_config(server, model="gpt-6-luna", model_profile=profile))

    assert (result.status, result.reason, result.attempts) == ("misconfigured", reason, 1)
    assert result.reason_detail


def test_given_a_profile_override_when_an_azure_deployment_is_triaged_then_it_works(
    server: FakeOpenAIServer,
) -> None:
    server.reasoning_prefixes = ("my-luna-deployment",)
    profile = ModelProfile(temperature=False, response_mode="json_schema")
    result = triage(make_input(), llm_config(server, model="my-luna-deployment", model_profile=profile))
    assert result.status == "ok"
