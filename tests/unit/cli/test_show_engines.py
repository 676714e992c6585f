"""``filescan show`` lists each engine's outcome, through the API served over loopback HTTP."""

from __future__ import annotations

import json

from filescan_cli.main import main
from tests.unit.api.test_routes_engines import ENGINES, SCAN_ID
from tests.unit.pipeline.conftest import seed_scan


def show(capsys, *flags: str) -> str:
    assert main(["show", SCAN_ID, *flags]) == 0
    return capsys.readouterr().out


def engine_rows(out: str) -> dict[str, list[str]]:
    lines = out.splitlines()
    start = lines.index("engines") + 1
    header, rows = lines[start], lines[start + 2 :]
    assert header.split()[:3] == ["engine", "need", "state"]
    rows = rows[: rows.index("")] if "" in rows else rows
    return {row.split()[0]: row.split() for row in rows}


def test_given_a_scan_with_three_engines_when_shown_then_one_row_each_with_outcome_time_cost_and_escalation(
    api_url, stack, capsys
):
    seed_scan(stack, SCAN_ID, "COMPLETE", verdict="malicious", severity="high", engines=ENGINES)

    out = show(capsys)

    rows = engine_rows(out)
    assert list(rows) == ["clamav", "filescan", "vendor-av"]
    assert rows["filescan"][:8] == [
        "filescan",
        "required",
        "succeeded",
        "succeeded",
        "malicious",
        "high",
        "report",
        "1",
    ]
    assert "12.5s" in rows["filescan"] and "$0.000410" in rows["filescan"]
    clamav = " ".join(rows["clamav"])
    assert "high Win.Test.EICAR_HDB-1" in clamav
    assert clamav.endswith("3 (2 interrupted, on-demand)")
    assert rows["vendor-av"][:7] == [
        "vendor-av",
        "optional",
        "succeeded",
        "succeeded",
        "error",
        "none",
        "llm",
    ]
    reasons = out[out.index("engine reasons") :]
    assert "vendor-av: vendor-av: the LLM read 'nothing found'" in reasons


def test_given_a_scan_with_engines_when_shown_as_json_then_the_api_document_as_is(api_url, stack, capsys):
    seed_scan(stack, SCAN_ID, "COMPLETE", verdict="malicious", severity="high", engines=ENGINES)

    document = json.loads(show(capsys, "--json"))

    assert document["engines"]["clamav"]["interruptions"] == 2
    assert document["engines"]["filescan"]["top_findings"][0]["rule_id"] == "filescan.eicar_test_file"


def test_given_hostile_text_in_an_engine_row_when_shown_then_control_characters_are_escaped(
    api_url, stack, capsys
):
    hostile = "Evil\x1b[2J\r\nsig\u202e"
    engines = {
        "vendor-av": ENGINES["vendor-av"]
        | {"top_findings": [{"severity": "high", "title": hostile}], "reasons": [f"said {hostile}"]}
    }
    seed_scan(stack, SCAN_ID, "COMPLETE", verdict="malicious", severity="high", engines=engines)

    out = show(capsys)

    assert "\x1b" not in out and "\r" not in out and "\u202e" not in out
    assert "Evil\\x1b[2J\\r\\nsig\\u202e" in out
    assert len(engine_rows(out)) == 1  # the LF did not split the row


def test_given_an_older_scan_without_engines_when_shown_then_no_engine_table(api_url, stack, capsys):
    seed_scan(stack, SCAN_ID, "COMPLETE", verdict="clean", severity="none")

    out = show(capsys)

    assert "verdict   clean" in out
    assert "engines" not in out
