"""ClamAV analyzer with a tiny signature database written at test time (no real malware)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from filescan_scanner.analyzers import clamav
from filescan_scanner.analyzers.base import AnalyzerStatus
from filescan_shared.severity import Severity
from tests.unit.scanner_content.content_helpers import FakeContext, make_target

MARKER = b"FILESCAN-HARMLESS-TEST-" + b"SIGNATURE-7f3a"
HASHED = b"a harmless file identified by its md5\n"


@pytest.fixture
def db_dir(tmp_path: Path) -> Path:
    db = tmp_path / "clamdb"
    db.mkdir()
    (db / "filescan-test.ndb").write_text(f"Filescan.Test.Body-1:0:*:{MARKER.hex()}\n")
    (db / "filescan-test.hdb").write_text(
        f"{hashlib.md5(HASHED).hexdigest()}:{len(HASHED)}:Filescan.Test.Hash-1\n"
    )
    return db


def _file(tmp_path: Path, data: bytes, name: str = "sample.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_given_body_and_hash_signatures_when_clamav_scans_then_both_are_found(
    tmp_path: Path, ctx: FakeContext, db_dir: Path
) -> None:
    analyzer = clamav.ClamAvAnalyzer(db_dir=db_dir)
    assert analyzer.binary, "clamscan must be installed (make system-deps)"
    body = analyzer.analyze(make_target(_file(tmp_path, b"prefix " + MARKER + b" suffix")), ctx)
    assert body.status is AnalyzerStatus.OK, body.error
    (finding,) = body.findings
    assert (finding.rule_id, finding.category, finding.severity) == (
        "Filescan.Test.Body-1.UNOFFICIAL",
        "malware",
        Severity.CRITICAL,
    )
    assert body.version.startswith("ClamAV ")
    sizes = [(db_dir / n).stat().st_size for n in ("filescan-test.hdb", "filescan-test.ndb")]
    assert body.rules_version == f"filescan-test.hdb({sizes[0]}b),filescan-test.ndb({sizes[1]}b)"
    hashed = analyzer.analyze(make_target(_file(tmp_path, HASHED, "h.txt")), ctx)
    assert [f.rule_id for f in hashed.findings] == ["Filescan.Test.Hash-1.UNOFFICIAL"]


def test_given_a_clean_file_when_clamav_scans_it_then_nothing_is_found(
    tmp_path: Path, ctx: FakeContext, db_dir: Path
) -> None:
    result = clamav.ClamAvAnalyzer(db_dir=db_dir).analyze(make_target(_file(tmp_path, b"nothing here")), ctx)
    assert result.status is AnalyzerStatus.OK
    assert result.findings == [] and result.limits_hit == []


def test_given_a_clamav_limit_alert_when_scanned_then_it_is_a_limit_hit_not_malware(
    tmp_path: Path, ctx: FakeContext, db_dir: Path
) -> None:
    analyzer = clamav.ClamAvAnalyzer(db_dir=db_dir, max_filesize=16)
    result = analyzer.analyze(make_target(_file(tmp_path, b"x" * 100)), ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert result.findings == []
    assert [h.limit for h in result.limits_hit] == ["clamav:Heuristics.Limits.Exceeded.MaxFileSize"]


def test_given_no_clamscan_or_no_database_when_scanned_then_clamav_is_not_run(
    tmp_path: Path, ctx: FakeContext, db_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    missing = clamav.ClamAvAnalyzer(db_dir=db_dir)
    assert missing.binary is None
    result = missing.analyze(make_target(_file(tmp_path, MARKER)), ctx)
    assert (result.status, result.error) == (AnalyzerStatus.NOT_RUN, "clamscan not installed")
    monkeypatch.undo()
    empty = tmp_path / "empty-db"
    empty.mkdir()
    monkeypatch.setenv("CLAMAV_DB_DIR", str(empty))
    result = clamav.ClamAvAnalyzer().analyze(make_target(_file(tmp_path, MARKER)), ctx)
    assert result.status is AnalyzerStatus.NOT_RUN
    assert result.error == f"no ClamAV database in {empty}"


def test_given_a_file_too_big_or_nested_when_clamav_checks_it_then_it_hits_a_limit_or_does_not_apply(
    tmp_path: Path, ctx: FakeContext, db_dir: Path
) -> None:
    path = _file(tmp_path, b"tiny")
    huge = make_target(path).__class__(path=path, display_name="big", size=clamav.CLAMAV_MAX_FILE + 1)
    analyzer = clamav.ClamAvAnalyzer(db_dir=db_dir)
    result = analyzer.analyze(huge, ctx)
    assert result.status is AnalyzerStatus.PARTIAL
    assert [h.limit for h in result.limits_hit] == ["clamav_max_filesize"]
    assert analyzer.applies_to(make_target(path))
    assert not analyzer.applies_to(make_target(path, depth=1))
