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


def test_failing_analyzer_is_recorded_and_scan_goes_on(scan, eicar) -> None:  # type: ignore[no-untyped-def]
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


def test_nested_findings_carry_archive_path(scan, eicar, tmp_path) -> None:  # type: ignore[no-untyped-def]
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


def test_depth_and_member_limits_enforced(scan, eicar, tmp_path) -> None:  # type: ignore[no-untyped-def]
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


def test_report_of_clean_file_is_valid_and_clean(scan) -> None:  # type: ignore[no-untyped-def]
    report = _report(scan(b"just some harmless text\n" * 1000, name="notes.txt"))
    assert report["verdict"]["verdict"] == "clean"
    assert report["file"]["mime"] == "text/plain"
    assert len(report["file"]["sha256"]) == 64


def test_validation_error_is_clear() -> None:
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


def test_cli_help_and_usage() -> None:
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


def test_cli_local_scan_to_stdout(tmp_path: Path, eicar: bytes) -> None:
    sample = tmp_path / "e.txt"
    sample.write_bytes(eicar)
    out = _cli(str(sample), "--report", "-")
    assert out.returncode == 0
    report = json.loads(out.stdout)
    validate_report(report)
    assert report["verdict"]["verdict"] == "malicious"
    assert all(json.loads(line)["level"] for line in out.stderr.splitlines())


def test_cli_missing_file_is_unscannable(tmp_path: Path) -> None:
    out = _cli(str(tmp_path / "nope"), "--report", str(tmp_path / "r.json"))
    assert out.returncode == 65
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"]["verdict"] == "unscannable" and report["unscannable_reasons"]


def test_cli_bad_extra_rules_fail_clearly(tmp_path: Path) -> None:
    (tmp_path / "bad.yar").write_text("rule x { condition: nope }")
    sample = tmp_path / "s"
    sample.write_bytes(b"x")
    out = _cli(str(sample), "--report", "-", env={"EXTRA_RULES_DIR": str(tmp_path)})
    assert out.returncode == 78 and "bad.yar" in out.stderr


def test_cli_bad_setting_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    sample = tmp_path / "s"
    sample.write_bytes(b"x")
    out = _cli(str(sample), "--report", "-", env={"FILESCAN_MAX_DEPTH": "deep"})
    assert out.returncode == 78 and "FILESCAN_MAX_DEPTH" in out.stderr and not out.stdout


def test_cli_local_mode_does_not_import_heavy_optional_modules(tmp_path: Path) -> None:
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


def test_cli_manifest_usage_errors(tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"bucket": "b"}\n')
    assert _cli("--manifest", str(manifest), env={"REPORTS_BUCKET": "r"}).returncode == 2
    out = _cli("--manifest", str(manifest), env={"REPORTS_BUCKET": "r", "AWS_BATCH_JOB_ARRAY_INDEX": "3"})
    assert out.returncode == 2 and "no index 3" in out.stderr


def test_evidence_is_escaped_once(scan, eicar) -> None:  # type: ignore[no-untyped-def]
    """EICAR holds a backslash: the report shows it escaped once (``\\``), not twice (``\\\\``)."""
    report = _report(scan(b"\x00pad\n" + eicar + b"\n"))

    (finding,) = [f for f in report["findings"] if f["rule_id"].endswith("eicar_test_file")]
    assert "[4\\\\PZX" in finding["evidence"]
    assert "\\\\\\\\" not in finding["evidence"]


def test_cli_peak_rss_is_the_scanners_own_not_its_parents(tmp_path: Path) -> None:
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
    peak = json.loads(report.read_text())["stats"]["peak_rss_bytes"]
    assert 0 < peak < 512 * 1024**2
