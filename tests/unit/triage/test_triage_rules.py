"""The deterministic summariser and the no-LLM configuration."""

from __future__ import annotations

from filescan_shared.report.vocabulary import FindingCategory as Category
from filescan_shared.severity import Severity, Verdict
from filescan_shared.triage import LlmConfig, triage
from filescan_shared.triage.rules import summarise
from tests.support.fake_openai import FakeOpenAIServer
from tests.unit.triage.triage_helpers import finding, make_input


def test_given_no_llm_configured_when_triaged_then_the_rules_engine_answers(server: FakeOpenAIServer) -> None:
    result = triage(make_input(), LlmConfig())

    assert result.engine == "rules"
    assert result.status == "ok"
    assert result.reason == "llm_not_configured"
    assert result.model is None
    assert result.usage is None
    assert result.attempts == 0
    assert result.suggested_severity is None
    assert result.final_severity is Severity.HIGH
    assert result.summary.startswith("Verdict suspicious, severity high")
    assert server.requests == []


def test_given_an_empty_key_and_no_url_when_configured_then_the_llm_is_not_enabled() -> None:
    assert not LlmConfig(api_key="").enabled
    assert LlmConfig(api_key="k").enabled
    assert LlmConfig(base_url="http://127.0.0.1:9/v1").enabled


def test_given_findings_and_limits_when_summarised_then_the_paragraph_names_the_top_ones() -> None:
    inp = make_input(
        verdict=Verdict.MALICIOUS,
        severity=Severity.CRITICAL,
        findings=(
            finding(Severity.LOW, rule_id="r1", title="Low thing", category=Category.PACKER),
            finding(Severity.CRITICAL, rule_id="r2", title="EICAR test signature", category=Category.MALWARE),
            finding(Severity.HIGH, rule_id="r3", title="Packed PE", category=Category.PACKER),
            finding(
                Severity.MEDIUM, rule_id="r4", title="Obfuscated JS", category=Category.SUSPICIOUS_SCRIPT
            ),
        ),
        limits_hit=("archive depth limit (5) reached",),
        engines_errored=("clamav",),
    )
    rules = summarise(inp)
    s = rules.summary
    assert "Verdict malicious, severity critical" in s
    assert "4 finding(s): 2 packer, 1 malware, 1 suspicious-script." in s
    assert "Top findings: EICAR test signature (critical); Packed PE (high); Obfuscated JS (medium)." in s
    assert "Low thing" not in s
    assert "Not fully inspected: archive depth limit (5) reached; engine error: clamav." in s
    assert rules.key_findings[0] == "[critical] yara/r2: EICAR test signature"
    assert len(rules.key_findings) == 3
    assert "Block its SHA-256 and notify the uploader's security contact." in rules.recommended_actions
    assert "Review the parts that were not fully inspected." in rules.recommended_actions


def test_given_a_clean_verdict_when_summarised_then_no_findings_and_no_action_needed() -> None:
    rules = summarise(make_input(verdict=Verdict.CLEAN, severity=Severity.NONE, findings=()))
    assert "No findings." in rules.summary
    assert rules.recommended_actions == ["No action needed: the object can be released."]
    assert rules.key_findings == []


def test_given_an_unscannable_file_when_summarised_then_what_was_not_inspected_is_named() -> None:
    inp = make_input(
        verdict=Verdict.UNSCANNABLE,
        severity=Severity.MEDIUM,
        findings=(),
        unscannable_reasons=("encrypted archive",),
        engines_not_run=("yara",),
    )
    rules = summarise(inp)
    assert "Not fully inspected: encrypted archive; engine not run: yara." in rules.summary
    assert any("scannable copy" in a for a in rules.recommended_actions)


def test_given_untrusted_strings_when_summarised_then_they_are_escaped() -> None:
    evil = "bad\x1b[2J\u202etxt.exe\nSECOND LINE" + "x" * 500
    inp = make_input(findings=(finding(title=evil),), object_key=evil)
    rules = summarise(inp)
    for text in [rules.summary, *rules.key_findings]:
        assert "\x1b" not in text and "\u202e" not in text and "\n" not in text
        assert "\\u001b" in text and "\\u202e" in text
    assert len(rules.summary) < 800
