"""The verdict across engines: rules by example, and properties over random sets of engine results."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from filescan_shared.engines.results import EngineResult, EngineRunStatus, ReadBy
from filescan_shared.engines.verdict import combine_results
from filescan_shared.report.model import Finding, Location
from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity, Verdict

RANK = {
    Verdict.CLEAN: 0,
    Verdict.ERROR: 1,
    Verdict.UNSCANNABLE: 1,
    Verdict.SUSPICIOUS: 2,
    Verdict.MALICIOUS: 3,
}


def finding(severity: Severity, category: FindingCategory = FindingCategory.MALWARE) -> Finding:
    return Finding(
        engine="e",
        rule_id="r",
        category=category,
        severity=severity,
        title="t",
        location=Location(archive_path=[]),
    )


def result(
    engine: str,
    verdict: Verdict,
    *,
    required: bool = True,
    severity: Severity = Severity.NONE,
    findings: list[Finding] | None = None,
    status: EngineRunStatus = EngineRunStatus.SUCCEEDED,
) -> EngineResult:
    return EngineResult(
        engine=engine,
        required=required,
        status=status,
        read_by=ReadBy.MAPPING,
        verdict=verdict,
        severity=severity,
        findings=findings or [],
        reasons=[f"{engine} says {verdict}"],
    )


EICAR = [finding(Severity.HIGH)]


def test_given_one_engine_malicious_when_combined_then_the_scan_is_malicious_with_the_max_severity() -> None:
    decision = combine_results(
        [
            result("filescan", Verdict.MALICIOUS, severity=Severity.HIGH, findings=EICAR),
            result(
                "clamav", Verdict.MALICIOUS, severity=Severity.CRITICAL, findings=[finding(Severity.CRITICAL)]
            ),
            result("yara-cli", Verdict.CLEAN),
        ]
    )

    assert (decision.verdict, decision.severity) == (Verdict.MALICIOUS, Severity.CRITICAL)
    assert [reason.split(" ")[1] for reason in decision.reasons] == ["filescan", "clamav"]


def test_given_every_engine_clean_when_combined_then_the_scan_is_clean() -> None:
    decision = combine_results([result("filescan", Verdict.CLEAN), result("clamav", Verdict.CLEAN)])

    assert decision.verdict is Verdict.CLEAN
    assert decision.severity is Severity.NONE


def test_given_a_required_engine_failed_when_combined_then_the_clean_scan_is_error_naming_it() -> None:
    decision = combine_results(
        [result("filescan", Verdict.CLEAN), result("clamav", Verdict.ERROR, status=EngineRunStatus.FAILED)]
    )

    assert decision.verdict is Verdict.ERROR
    assert decision.severity is Severity.LOW
    assert decision.reasons[0].startswith("engine clamav (required) error")


def test_given_required_engines_all_unscannable_when_combined_then_the_scan_is_unscannable() -> None:
    unscannable = result("clamav", Verdict.UNSCANNABLE, status=EngineRunStatus.UNSCANNABLE)

    decision = combine_results([result("filescan", Verdict.CLEAN), unscannable])

    assert (decision.verdict, decision.severity) == (Verdict.UNSCANNABLE, Severity.MEDIUM)


def test_given_an_optional_engine_failed_when_combined_then_it_is_only_a_reason() -> None:
    decision = combine_results(
        [result("filescan", Verdict.CLEAN), result("vendor", Verdict.ERROR, required=False)]
    )

    assert decision.verdict is Verdict.CLEAN
    assert any(reason.startswith("engine vendor (optional) error") for reason in decision.reasons)


def test_given_an_optional_engine_untrusted_llm_reading_when_combined_then_it_does_not_block() -> None:
    untrusted = result("vendor", Verdict.SUSPICIOUS, required=False, severity=Severity.LOW)

    decision = combine_results([result("filescan", Verdict.CLEAN), untrusted])

    assert decision.verdict is Verdict.CLEAN
    assert decision.severity is Severity.LOW


def test_given_a_required_engine_untrusted_llm_reading_when_combined_then_the_scan_is_suspicious() -> None:
    untrusted = result("vendor", Verdict.SUSPICIOUS, severity=Severity.LOW)

    decision = combine_results([result("filescan", Verdict.CLEAN), untrusted])

    assert decision.verdict is Verdict.SUSPICIOUS


def test_given_an_optional_engine_finding_malware_when_combined_then_the_scan_is_malicious() -> None:
    decision = combine_results(
        [result("filescan", Verdict.CLEAN), result("vendor", Verdict.ERROR, required=False, findings=EICAR)]
    )

    assert (decision.verdict, decision.severity) == (Verdict.MALICIOUS, Severity.HIGH)


def test_given_no_result_or_only_failed_optional_engines_when_combined_then_never_clean() -> None:
    assert combine_results([]).verdict is Verdict.ERROR
    assert combine_results([result("vendor", Verdict.ERROR, required=False)]).verdict is Verdict.ERROR


def test_given_a_dozen_failing_engines_when_combined_then_the_reasons_are_capped() -> None:
    decision = combine_results([result(f"e{i}", Verdict.ERROR) for i in range(12)])

    assert len(decision.reasons) == 11
    assert decision.reasons[-1] == "... 2 more"


results_strategy = st.builds(
    result,
    engine=st.sampled_from(["filescan", "clamav", "yara-cli", "acme"]),
    verdict=st.sampled_from(list(Verdict)),
    required=st.booleans(),
    severity=st.sampled_from(list(Severity)),
    findings=st.lists(
        st.builds(finding, st.sampled_from(list(Severity)), st.sampled_from(list(FindingCategory))),
        max_size=3,
    ),
    status=st.sampled_from(list(EngineRunStatus)),
)


@given(st.lists(results_strategy, max_size=5), results_strategy)
def test_given_any_results_when_one_more_is_added_then_the_severity_never_drops(
    results: list[EngineResult], extra: EngineResult
) -> None:
    assert combine_results([*results, extra]).severity >= combine_results(results).severity


@given(st.lists(results_strategy, max_size=5), results_strategy, results_strategy)
def test_given_a_required_engine_among_results_when_one_more_is_added_then_the_verdict_never_drops(
    results: list[EngineResult], required: EngineResult, extra: EngineResult
) -> None:
    # (Without any required engine, optional failures alone are "error" until a clean engine arrives.)
    base = [*results, required.model_copy(update={"required": True})]

    assert RANK[combine_results([*base, extra]).verdict] >= RANK[combine_results(base).verdict]


@given(st.lists(results_strategy, max_size=5), st.sampled_from([Verdict.ERROR, Verdict.UNSCANNABLE]))
def test_given_a_required_engine_that_failed_when_combined_with_anything_then_never_clean(
    results: list[EngineResult], failed: Verdict
) -> None:
    decision = combine_results([*results, result("clamav", failed, status=EngineRunStatus.FAILED)])

    assert decision.verdict is not Verdict.CLEAN
    assert any("clamav" in reason for reason in decision.reasons) or decision.verdict in {
        Verdict.MALICIOUS,
        Verdict.SUSPICIOUS,
    }


@given(st.lists(results_strategy, min_size=1, max_size=5))
def test_given_any_results_when_combined_then_severity_is_at_least_every_engines(
    results: list[EngineResult],
) -> None:
    decision = combine_results(results)

    assert decision.severity >= max(r.severity for r in results)
    assert all(decision.severity >= f.severity for r in results for f in r.findings)
