import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from filescan_scanner.analyzers.base import AnalyzerResult, AnalyzerStatus, Location, ScanContext, Target
from filescan_scanner.report import build_report, utc_now
from filescan_shared.report.validate import ReportValidationError, validate_report

THIS = "tests.unit.scanner.test_engine_report"


class Exploding:
    name = "exploding"

    def applies_to(self, target: Target) -> bool:
        return True

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        raise RuntimeError("analyzer bug")


class NeverApplies:
    name = "pdf-ish"

    def applies_to(self, target: Target) -> bool:
        return False

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        raise AssertionError("not called")


class FakeZip:
    """Extracts stored zip members to the work dir and scans them nested (like the archive analyzer)."""

    name = "archive"

    def applies_to(self, target: Target) -> bool:
        with target.path.open("rb") as h:
            return h.read(4) == b"PK\x03\x04"

    def analyze(self, target: Target, context: ScanContext) -> AnalyzerResult:
        result = AnalyzerResult("archive", "test", AnalyzerStatus.OK)
        with zipfile.ZipFile(target.path) as z:
            for n, info in enumerate(z.infolist()):
                out = context.work_dir / f"m{target.depth}-{n}"
                out.write_bytes(z.read(info))
                context.scan_nested(
                    Target(
                        out,
                        info.filename,
                        info.file_size,
                        Location((*target.location.archive_path, info.filename)),
                        target.depth + 1,
                    )
                )
        result.facts = {"type": "zip", "member_count": n + 1}
        return result


def _report(outcome: Any) -> dict[str, Any]:
    report = build_report(
        scan_id="s1",
        identity={"source": "local", "path": "p", "display_name": "p"},
        outcome=outcome,
        started_at=utc_now(),
        rules_version="v",
    )
    validate_report(report)
    return report


def test_given_a_failing_analyzer_when_scanned_then_its_error_is_recorded_and_the_scan_goes_on(
    scan, eicar
) -> None:  # type: ignore[no-untyped-def]
    outcome = scan(
        b"\n" + eicar + b"\n", content=[f"{THIS}:Exploding", f"{THIS}:NeverApplies", "no.such:Thing"]
    )
    report = _report(outcome)
    engines = {e["name"]: e for e in report["engines"]}
    assert engines["exploding"]["status"] == "error" and "analyzer bug" in engines["exploding"]["error"]
    assert engines["pdf-ish"]["status"] == "skipped"
    assert engines["Thing"]["status"] == "error"
    assert report["verdict"]["verdict"] == "malicious"


def _zip(path: Path, members: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path.read_bytes()


def test_given_a_zip_in_a_zip_when_scanned_then_nested_findings_carry_their_archive_path(
    scan, eicar, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    inner = _zip(tmp_path / "inner.zip", {"deep/e.com": eicar})
    outer = _zip(tmp_path / "outer.zip", {"inner.zip": inner, "readme.txt": b"hello"})
    report = _report(scan(outer, name="outer.zip", content=[f"{THIS}:FakeZip"]))
    paths = [
        f["location"]["archive_path"] for f in report["findings"] if f["rule_id"].endswith("eicar_test_file")
    ]
    assert paths == [["inner.zip", "deep/e.com"]]
    assert report["archive"]["members_scanned"] == 3
    assert report["archive"]["max_depth_reached"] == 2
    assert report["verdict"]["verdict"] == "malicious"


def test_given_deep_or_large_archives_when_scanned_then_depth_member_and_byte_limits_are_enforced(
    scan, eicar, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    inner = _zip(tmp_path / "inner.zip", {"e.com": eicar})
    outer = _zip(tmp_path / "outer.zip", {"inner.zip": inner})
    report = _report(scan(outer, name="outer.zip", content=[f"{THIS}:FakeZip"], max_depth=1))
    assert [h["limit"] for h in report["limits_hit"]] == ["max_depth"]
    assert report["verdict"]["verdict"] == "suspicious"
    many = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(5)})
    report = _report(scan(many, name="many.zip", content=[f"{THIS}:FakeZip"], max_members=2))
    assert report["archive"]["members_scanned"] == 2
    assert [h["limit"] for h in report["limits_hit"]] == ["max_members"]
    report = _report(scan(many, name="many.zip", content=[f"{THIS}:FakeZip"], max_total_member_bytes=3))
    assert [h["limit"] for h in report["limits_hit"]] == ["max_total_member_bytes"]


def test_given_a_clean_file_when_reported_then_the_report_is_valid_and_clean(scan) -> None:  # type: ignore[no-untyped-def]
    report = _report(scan(b"just some harmless text\n" * 1000, name="notes.txt"))
    assert report["verdict"]["verdict"] == "clean"
    assert report["file"]["mime"] == "text/plain"
    assert len(report["file"]["sha256"]) == 64


def test_given_an_invalid_report_when_validated_then_the_error_names_the_field() -> None:
    with pytest.raises(ReportValidationError, match="schema_version"):
        validate_report({"schema_version": "0"})


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "filescan_scanner.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
        timeout=120,
    )


def test_given_the_scanner_cli_when_run_with_help_or_no_target_then_it_shows_usage_or_exits_2() -> None:
    out = _cli("--help")
    assert out.returncode == 0
    for word in (
        "--bucket",
        "--key",
        "--version-id",
        "--scan-id",
        "--manifest",
        "--report",
        "65",
        "exit codes",
    ):
        assert word in out.stdout
    assert _cli().returncode == 2
    assert _cli("--bucket", "b").returncode == 2
    assert _cli("--bucket", "b", "--key", "k").returncode == 2


def test_given_a_local_file_when_the_cli_scans_it_then_the_report_goes_to_stdout_and_logs_to_stderr(
    tmp_path: Path, eicar: bytes
) -> None:
    sample = tmp_path / "e.txt"
    sample.write_bytes(eicar)
    out = _cli(str(sample), "--report", "-")
    assert out.returncode == 0
    report = json.loads(out.stdout)
    validate_report(report)
    assert report["verdict"]["verdict"] == "malicious"
    assert all(json.loads(line)["level"] for line in out.stderr.splitlines())


def test_given_a_missing_file_when_the_cli_scans_it_then_the_report_is_unscannable(tmp_path: Path) -> None:
    out = _cli(str(tmp_path / "nope"), "--report", str(tmp_path / "r.json"))
    assert out.returncode == 65
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"]["verdict"] == "unscannable" and report["unscannable_reasons"]


def test_given_bad_extra_rules_when_the_cli_starts_then_it_fails_naming_the_rule_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yar").write_text("rule x { condition: nope }")
    sample = tmp_path / "s"
    sample.write_bytes(b"x")
    out = _cli(str(sample), "--report", "-", env={"EXTRA_RULES_DIR": str(tmp_path)})
    assert out.returncode == 78 and "bad.yar" in out.stderr


def test_given_a_bad_setting_when_the_cli_starts_then_it_is_a_config_error_naming_the_variable(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "s"
    sample.write_bytes(b"x")
    out = _cli(str(sample), "--report", "-", env={"FILESCAN_MAX_DEPTH": "deep"})
    assert out.returncode == 78 and "FILESCAN_MAX_DEPTH" in out.stderr and not out.stdout


def test_given_a_local_scan_when_the_cli_runs_then_no_heavy_optional_module_is_imported(
    tmp_path: Path,
) -> None:
    sample = tmp_path / "s.txt"
    sample.write_bytes(b"plain text\n" * 100)
    code = (
        "import sys; from filescan_scanner.cli import main; "
        f"rc = main([{str(sample)!r}, '--report', {str(tmp_path / 'r.json')!r}]); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'boto3', 'botocore', 'pydantic_settings', 'oletools', 'pefile'}); "
        "print(rc, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120
    )
    assert out.stdout.strip() == "0 []", out.stderr


def test_given_a_manifest_without_a_valid_index_when_the_cli_runs_then_it_is_a_usage_error(
    tmp_path: Path,
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"bucket": "b"}\n')
    assert _cli("--manifest", str(manifest), env={"REPORTS_BUCKET": "r"}).returncode == 2
    out = _cli("--manifest", str(manifest), env={"REPORTS_BUCKET": "r", "AWS_BATCH_JOB_ARRAY_INDEX": "3"})
    assert out.returncode == 2 and "no index 3" in out.stderr


def test_given_evidence_with_a_backslash_when_reported_then_it_is_escaped_once(scan, eicar) -> None:  # type: ignore[no-untyped-def]
    """EICAR holds a backslash: the report shows it escaped once (``\\``), not twice (``\\\\``)."""
    report = _report(scan(b"\x00pad\n" + eicar + b"\n"))

    (finding,) = [f for f in report["findings"] if f["rule_id"].endswith("eicar_test_file")]
    assert "[4\\\\PZX" in finding["evidence"]
    assert "\\\\\\\\" not in finding["evidence"]


def test_given_a_parent_holding_memory_when_the_cli_scans_then_peak_rss_is_the_scanners_own(
    tmp_path: Path,
) -> None:
    """Started by a parent holding 768 MiB (the local stack's process), the report gives the scan's peak."""
    sample = tmp_path / "small.txt"
    sample.write_bytes(b"hello\n")
    report = tmp_path / "r.json"
    scanner = Path(sys.executable).with_name("filescan-scan")
    command = [str(scanner), str(sample), "--report", str(report)]
    parent = (
        "import subprocess, sys\n"
        "ballast = bytearray(b'x') * (768 * 1024 * 1024)  # written, so resident\n"
        f"sys.exit(subprocess.run({command!r}).returncode)\n"
    )
    done = subprocess.run([sys.executable, "-c", parent], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    stats = json.loads(report.read_text())["stats"]
    assert 0 < stats["peak_rss_bytes"] < 512 * 1024**2
    # CPU seconds are the scanner's own too (the parent's were spent before it started).
    assert 0 < stats["cpu_seconds"] < 60
