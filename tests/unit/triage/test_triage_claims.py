"""What the model may say about a file that is not clean: no "safe", no "release it"."""

from __future__ import annotations

import pytest

from filescan_shared.severity import Severity, Verdict
from filescan_shared.triage.claims import forbidden_claims
from filescan_shared.triage.rules import summarise
from tests.unit.triage.triage_helpers import make_input


@pytest.mark.parametrize(
    ("text", "claims"),
    [
        ("The file is clean, safe, release it.", {"calls_file_safe", "recommends_release"}),
        ("This is benign.", {"calls_file_safe"}),
        ("EICAR is a harmless test string.", {"calls_file_safe"}),
        ("The file is not malicious.", {"calls_file_safe"}),
        ("Likely a false positive; allow it.", {"calls_file_safe", "recommends_release"}),
        ("Unquarantine the object.", {"recommends_release"}),
        ("Add its hash to the allowlist.", {"recommends_release"}),
        ("Keep the object quarantined.", set()),
        ("Do not release the file.", set()),
        ("The file is not safe to open.", set()),
        ("Have an analyst review the findings before releasing it.", set()),
        ("Unsafe content; never open it.", set()),
        ("The file matched rules that indicate a potentially harmful document.", set()),
        ("Don't worry, this file is safe and fine to release.", {"calls_file_safe", "recommends_release"}),
        ("No need to panic, it is harmless.", {"calls_file_safe"}),
        ("Nothing to fear here as the document is benign.", {"calls_file_safe"}),
        ("It should not be released.", set()),
    ],
)
def test_given_llm_text_when_checked_for_forbidden_claims_then_they_are_found_and_negations_respected(
    text: str, claims: set[str]
) -> None:
    assert set(forbidden_claims([text])) == claims


@pytest.mark.parametrize(
    "verdict", [Verdict.SUSPICIOUS, Verdict.MALICIOUS, Verdict.UNSCANNABLE, Verdict.ERROR]
)
def test_given_a_non_clean_verdict_when_summarised_by_rules_then_no_forbidden_claim_is_made(
    verdict: Verdict,
) -> None:
    rules = summarise(make_input(verdict=verdict, severity=Severity.HIGH, limits_hit=("depth: 5",)))
    assert forbidden_claims([rules.summary, *rules.key_findings, *rules.recommended_actions]) == []
