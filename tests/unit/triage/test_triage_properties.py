"""Properties: the final severity is never below the deterministic one, whatever the LLM says."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity, Verdict
from filescan_shared.triage import FileFacts, TriageFinding, TriageInput, triage
from filescan_shared.triage.merge import merge_severity
from tests.support.fake_openai import Behaviour, FakeOpenAIServer
from tests.unit.triage.triage_helpers import llm_config

severities = st.sampled_from(list(Severity))
texts = st.text(max_size=300)

findings = st.builds(
    TriageFinding,
    engine=texts,
    rule_id=texts,
    category=st.sampled_from(list(FindingCategory)),
    severity=severities,
    title=texts,
    archive_path=st.none() | texts,
    offset=st.none() | st.integers(min_value=0, max_value=2**63),
    evidence=st.none() | texts,
)
inputs = st.builds(
    TriageInput,
    scan_id=texts,
    object_key=texts,
    file=st.builds(
        FileFacts, size=st.integers(min_value=0, max_value=2**40), sha256=texts, mime=st.none() | texts
    ),
    verdict=st.sampled_from(list(Verdict)),
    severity=severities,
    findings=st.lists(findings, max_size=12).map(tuple),
    limits_hit=st.lists(texts, max_size=3).map(tuple),
    unscannable_reasons=st.lists(texts, max_size=3).map(tuple),
    engines_not_run=st.lists(texts, max_size=3).map(tuple),
    engines_errored=st.lists(texts, max_size=3).map(tuple),
)


@settings(max_examples=500)
@given(severities, st.none() | severities)
def test_given_any_suggested_severity_when_merged_then_it_never_lowers_the_deterministic_one(
    deterministic: Severity, suggested: Severity | None
) -> None:
    merged = merge_severity(deterministic, suggested)
    assert merged.final >= deterministic
    assert merged.final == max(deterministic, suggested if suggested is not None else deterministic)
    assert merged.contradiction == (suggested is not None and suggested < deterministic)
    assert merged.raised == (suggested is not None and suggested > deterministic)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs, severities)
def test_given_any_answer_when_triaged_over_http_then_severity_never_lowers_and_verdict_holds(
    inp: TriageInput, answered: Severity
) -> None:
    with FakeOpenAIServer(default=Behaviour.ok(severity=answered.label)) as server:
        result = triage(inp, llm_config(server, max_prompt_tokens=4000), deadline_seconds=10)
    assert result.final_severity >= inp.severity
    assert result.verdict is inp.verdict
    if result.status == "ok":
        assert result.final_severity == max(inp.severity, answered)
        assert result.contradiction == (answered < inp.severity)
        assert result.findings_in_prompt + result.findings_omitted == len(inp.findings)
        assert result.prompt_tokens_counted is not None and result.prompt_tokens_counted <= 4000
    else:
        assert result.reason == "prompt_budget"
