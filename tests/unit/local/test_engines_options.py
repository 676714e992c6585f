"""``--engines`` / ``FILESCAN_LOCAL_ENGINES`` and the demo's rows per engine."""

from __future__ import annotations

import pytest

from filescan_local.cli import build_parser, config_from_args
from filescan_local.demo import engine_rows
from filescan_local.stack import ENGINES_VARIABLE, engines_parameter


def test_given_engines_by_flag_or_environment_when_the_stack_is_configured_then_enabled_engines_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENGINES_VARIABLE, raising=False)
    args = build_parser().parse_args(["up", "--engines", " filescan, clamav ,yara-cli"])
    assert config_from_args(args).parameters["EnabledEngines"] == "filescan,clamav,yara-cli"
    assert "EnabledEngines" not in config_from_args(build_parser().parse_args(["demo"])).parameters
    monkeypatch.setenv(ENGINES_VARIABLE, "filescan,clamav")
    assert config_from_args(build_parser().parse_args(["demo"])).parameters["EnabledEngines"] == (
        "filescan,clamav"
    )
    # An explicit --parameter wins over both.
    explicit = build_parser().parse_args(["demo", "--engines", "clamav", "--parameter", "EnabledEngines=x"])
    assert config_from_args(explicit).parameters["EnabledEngines"] == "x"
    assert engines_parameter("") == {}


def test_given_a_scan_with_several_engines_when_the_demo_prints_it_then_each_engine_has_a_row() -> None:
    body = {
        "verdict": "malicious",
        "engines": {
            "yara-cli": {
                "state": "succeeded",
                "outcome": "succeeded",
                "verdict": "malicious",
                "severity": "high",
                "top_findings": [{"rule_id": "eicar_test_file", "title": "EICAR"}],
            },
            "clamav": {"state": "failed", "outcome": "failed", "verdict": "error"},
            "filescan": {"state": "submitted"},
        },
    }
    assert engine_rows(body) == [
        ("clamav", "failed", "error", "-", "-"),
        ("filescan", "submitted", "-", "-", "-"),
        ("yara-cli", "succeeded", "malicious", "high", "eicar_test_file: EICAR"),
    ]
    listed = {"engines": [{"engine": "a", "status": "ok"}, {"engine": "b", "verdict": "clean"}]}
    assert [row[:3] for row in engine_rows(listed)] == [("a", "ok", "-"), ("b", "-", "clean")]
    assert engine_rows({"engines": {"filescan": {"state": "succeeded"}}}) == []
    assert engine_rows({}) == []
