"""The engine images' entry scripts (engines/*/scan.sh), run on the host with Debian's clamscan and yara.

The same scripts are the images' commands (tests/docker/test_engine_images.py runs them there) and
the engines' ``local_command`` in a local stack without Docker.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from filescan_local.samples import eicar

REPO = Path(__file__).resolve().parents[3]
CLAMAV = REPO / "engines" / "clamav"
YARA_CLI = REPO / "engines" / "yara-cli"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
    )


def test_given_no_main_database_when_the_clamav_script_runs_then_it_exits_78_naming_the_directories(
    tmp_path: Path,
) -> None:
    (tmp_path / "in").write_bytes(b"hello\n")
    empty = tmp_path / "db"
    empty.mkdir()
    result = _run(CLAMAV / "scan.sh", tmp_path / "in", tmp_path / "out", env={"CLAMAV_DB_DIRS": str(empty)})
    assert result.returncode == 78
    assert f"no ClamAV signature database in {empty}" in result.stderr
    assert not (tmp_path / "out").exists()
    # The custom signatures next to the script are extra: alone they are not a database.
    assert _run(CLAMAV / "scan.sh", "--db", empty, tmp_path / "in", tmp_path / "o").returncode == 78


def test_given_the_custom_database_when_clamav_scans_then_eicar_and_the_marker_are_found(
    tmp_path: Path,
) -> None:
    (tmp_path / "eicar.com").write_bytes(eicar())
    (tmp_path / "marker.txt").write_bytes(b"x FILESCAN-ENGINE-TEST-MARKER y")
    (tmp_path / "clean.txt").write_bytes(b"nothing here\n")
    signatures = CLAMAV / "signatures"
    found = _run(CLAMAV / "scan.sh", "--db", signatures, tmp_path / "eicar.com", tmp_path / "out" / "a")
    assert found.returncode == 1, found.stderr
    assert "eicar.com: Filescan.Test.EICAR-1.UNOFFICIAL FOUND" in (tmp_path / "out" / "a").read_text()
    marker = _run(CLAMAV / "scan.sh", "--db", signatures, tmp_path / "marker.txt", tmp_path / "b")
    assert "Filescan.Test.Marker-1.UNOFFICIAL FOUND" in (tmp_path / "b").read_text()
    assert marker.returncode == 1
    clean = _run(CLAMAV / "scan.sh", "--db", signatures, tmp_path / "clean.txt", tmp_path / "c")
    assert clean.returncode == 0
    assert "clean.txt: OK" in (tmp_path / "c").read_text()


def test_given_the_yara_cli_rules_when_the_script_scans_then_matches_print_rule_meta_and_path(
    tmp_path: Path,
) -> None:
    (tmp_path / "eicar.com").write_bytes(eicar())
    (tmp_path / "clean.txt").write_bytes(b"nothing here\n")
    found = _run(YARA_CLI / "scan.sh", tmp_path / "eicar.com", tmp_path / "out" / "a")
    assert found.returncode == 0, found.stderr
    line, strings = (tmp_path / "out" / "a").read_text().splitlines()
    assert line.startswith('eicar_test_file [severity="high",category="malware",')
    assert line.endswith(str(tmp_path / "eicar.com"))
    assert strings.startswith("0x0:$eicar: 58 35 4F")
    clean = _run(YARA_CLI / "scan.sh", tmp_path / "clean.txt", tmp_path / "b")
    assert (clean.returncode, (tmp_path / "b").read_text()) == (0, "")
    broken = tmp_path / "broken.yar"
    broken.write_text("rule {")
    failed = _run(YARA_CLI / "scan.sh", "--rules", broken, tmp_path / "clean.txt", tmp_path / "c")
    assert failed.returncode != 0
