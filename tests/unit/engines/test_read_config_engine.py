"""Engines the reader knows only from catalogue data: an engine added by YAML alone, and filescan's report."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from filescan_shared.engines.catalogue import FILESCAN_ENGINE, parse_catalogue
from filescan_shared.engines.read import read_engine_result
from filescan_shared.engines.results import EngineResult, EngineRunStatus, ReadBy
from filescan_shared.engines.verdict import combine_results
from filescan_shared.report.model import Report
from filescan_shared.report.verdict import decide_verdict
from filescan_shared.severity import Severity, Verdict
from tests.support.reports import report
from tests.unit.engines.golden import catalogue

# A made-up vendor scanner, configured exactly as a deployment would add it: no Python anywhere.
ACME_CATALOGUE = """
engines:
  - name: acme
    description: ACME Scan 9, a vendor image printing its own JSON report
    image: {uri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/acme-scan:9.1}
    command: [acme-scan, --json, --out, "{output}", "{input}"]
    timeout_seconds: 7200
    exit_codes: {ok: [0, 3], unscannable: [4]}
    required: true
    mapping:
      parse: json
      findings: "report.threats[]"
      rule_id: "signature.id"
      title: "signature.name"
      severity: "risk"
      severity_map: {"1": low, "2": medium, "3": high, "4": critical}
      category: "type"
      category_map: {trojan: malware, pup: suspicious, macro: macro}
      archive_path: "location.container_chain"
      offset: "location.offset"
      evidence: "excerpt"
      nothing_found: "report.status == 'COMPLETE' && report.threats_found == `0`"
"""


def read_filescan(
    filescan_report: Report | None, status: EngineRunStatus = EngineRunStatus.SUCCEEDED
) -> EngineResult:
    """The filescan engine's result for a run that wrote ``filescan_report``."""
    return read_engine_result(
        catalogue().get(FILESCAN_ENGINE),
        status=status,
        output=None,
        output_key=None,
        report=filescan_report,
        llm_reader=None,
    )


def acme_output(*threats: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "engine": "ACME Scan 9.1",
            "report": {"status": "COMPLETE", "threats_found": len(threats), "threats": list(threats)},
        }
    ).encode()


TROJAN = {
    "signature": {"id": "ACME.Trojan.Agent-1234", "name": "Trojan.Agent"},
    "risk": 4,
    "type": "trojan",
    "location": {"container_chain": ["invoice.zip", "invoice.pdf.exe"], "offset": 512},
    "excerpt": "MZ\u0090\u0000",
}


def test_given_an_engine_only_in_catalogue_yaml_when_its_json_is_read_then_findings_are_normalised() -> None:
    spec = parse_catalogue(yaml.safe_load(ACME_CATALOGUE)).get("acme")

    result = read_engine_result(
        spec,
        status=EngineRunStatus.SUCCEEDED,
        output=acme_output(
            TROJAN, {"signature": {"id": "ACME.PUP.Toolbar", "name": "Toolbar"}, "risk": 2, "type": "pup"}
        ),
        output_key="reports/s1/engines/acme/output",
        report=None,
        llm_reader=None,
    )

    assert (result.engine, result.read_by, result.verdict, result.severity) == (
        "acme",
        ReadBy.MAPPING,
        Verdict.MALICIOUS,
        Severity.CRITICAL,
    )
    trojan, pup = result.findings
    assert (trojan.rule_id, trojan.title, trojan.category, trojan.severity) == (
        "ACME.Trojan.Agent-1234",
        "Trojan.Agent",
        "malware",
        Severity.CRITICAL,
    )
    assert trojan.location.archive_path == ["invoice.zip", "invoice.pdf.exe"]
    assert trojan.location.offset == 512
    assert trojan.evidence == "MZ\\u0090\\u0000"
    assert (pup.category, pup.severity, pup.location.archive_path) == ("suspicious", Severity.MEDIUM, [])


def test_given_the_yaml_engine_finding_nothing_when_read_then_it_and_the_scan_with_filescan_are_clean() -> (
    None
):
    spec = parse_catalogue(yaml.safe_load(ACME_CATALOGUE)).get("acme")
    acme = read_engine_result(
        spec,
        status=EngineRunStatus.SUCCEEDED,
        output=acme_output(),
        output_key=None,
        report=None,
        llm_reader=None,
    )
    filescan = read_filescan(report())

    assert (acme.verdict, filescan.verdict, filescan.read_by) == (Verdict.CLEAN, Verdict.CLEAN, ReadBy.REPORT)
    assert combine_results([filescan, acme]).verdict is Verdict.CLEAN


def test_given_a_filescan_report_with_eicar_when_read_then_its_findings_and_verdict_are_taken() -> None:
    eicar = {"rule_id": "eicar", "category": "malware", "severity": "high", "title": "EICAR test file"}

    result = read_filescan(report(findings=[eicar]))

    assert (result.read_by, result.verdict, result.severity) == (
        ReadBy.REPORT,
        Verdict.MALICIOUS,
        Severity.HIGH,
    )
    assert [finding.rule_id for finding in result.findings] == ["eicar"]


def test_given_an_incomplete_filescan_report_when_read_then_the_report_verdict_suspicious_is_kept() -> None:
    limited = [{"limit": "max_depth", "detail": "depth 9"}]

    result = read_filescan(report(limits_hit=limited))

    assert (result.verdict, result.severity) == (Verdict.SUSPICIOUS, Severity.LOW)


def test_given_the_filescan_engine_failed_without_a_report_when_read_then_it_is_error_naming_it() -> None:
    result = read_filescan(None, EngineRunStatus.FAILED)

    assert (result.read_by, result.verdict) == (ReadBy.NONE, Verdict.ERROR)
    assert result.reasons[0].startswith("engine filescan failed")


EICAR_FINDING = {"rule_id": "eicar", "category": "malware", "severity": "high", "title": "EICAR test file"}
LOW_FINDING = {"rule_id": "upx", "category": "packer", "severity": "low", "title": "UPX"}


@pytest.mark.parametrize(
    "parts",
    [
        {},
        {"findings": [LOW_FINDING]},
        {"findings": [EICAR_FINDING, LOW_FINDING]},
        {"findings": [{**LOW_FINDING, "severity": "medium"}]},
        {"limits_hit": [{"limit": "max_depth", "detail": "depth 9"}]},
        {"file": None, "unscannable_reasons": ["unreadable"]},
        {"error": "scanner crashed"},
    ],
    ids=["clean", "low", "eicar", "medium", "incomplete", "unscannable", "error"],
)
def test_given_only_the_filescan_engine_when_combined_then_verdict_and_severity_are_the_reports(
    parts: dict[str, Any],
) -> None:
    filescan_report = report(**parts)
    result = read_filescan(filescan_report)

    combined = combine_results([result])
    alone = decide_verdict(filescan_report)

    assert (combined.verdict, combined.severity) == (alone.verdict, alone.severity)
