"""The engine images (``make engine-images``), run as the engine job's container runs on Fargate.

Non-root on a read-only root with ``/scratch`` the only writable path, the catalogue's command
(``/opt/engine/scan.sh INPUT OUTPUT``): ClamAV flags EICAR with a signature database from a mounted
directory and fails loudly (exit 78) with none; yara-cli flags EICAR and prints nothing for clean text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docker.conftest import require_image
from tests.docker.test_scanner_image import docker_run

REPO = Path(__file__).resolve().parents[2]
CLAMAV = "filescan-engine-clamav:local"
YARA_CLI = "filescan-engine-yara-cli:local"
NO_DATABASE_EXIT = 78


@pytest.fixture(scope="module")
def engine_images() -> None:
    """Fails (never skips) when the engine or an image is missing."""
    for image in (CLAMAV, YARA_CLI):
        require_image(image, " (make engine-images)")


def _scan(image: str, name: str, inputs: Path, *options: str) -> tuple[int, str, str]:
    """Run the catalogue command on ``/in/<name>``: (exit code, the output file, stderr)."""
    script = (
        f"/opt/engine/scan.sh /in/{name} /scratch/out/result; code=$?; cat /scratch/out/result; exit $code"
    )
    result = docker_run(
        image,
        "sh",
        "-c",
        script,
        options=("--network", "none", "--volume", f"{inputs}:/in:ro", *options),
    )
    return result.returncode, result.stdout, result.stderr


@pytest.mark.usefixtures("engine_images")
def test_given_the_engine_images_when_run_then_they_are_non_root_on_a_read_only_root() -> None:
    for image in (CLAMAV, YARA_CLI):
        result = docker_run(
            image, "sh", "-c", "id -u; touch /opt/x 2>&1 || true", options=("--network", "none")
        )
        assert result.stdout.splitlines()[0] == "10001"
        assert "Read-only file system" in result.stdout


@pytest.mark.usefixtures("engine_images")
def test_given_a_mounted_signature_directory_when_clamav_scans_then_eicar_is_found_and_text_is_ok(
    samples: Path,
) -> None:
    signatures = ("--volume", f"{REPO / 'engines' / 'clamav' / 'signatures'}:/signatures:ro")
    code, output, stderr = _scan(CLAMAV, "eicar.com", samples, *signatures)
    assert code == 1, stderr
    assert "/in/eicar.com: Filescan.Test.EICAR-1.UNOFFICIAL FOUND" in output
    code, output, stderr = _scan(CLAMAV, "hello.txt", samples, *signatures)
    assert code == 0, stderr
    assert "/in/hello.txt: OK" in output


@pytest.mark.usefixtures("engine_images")
def test_given_no_signature_database_when_clamav_runs_then_it_fails_loudly_with_78(samples: Path) -> None:
    # CLAMAV_DB_DIRS points at an empty directory, so even an image built with FRESHCLAM=true has none.
    code, output, stderr = _scan(CLAMAV, "hello.txt", samples, "--env", "CLAMAV_DB_DIRS=/scratch/empty")
    assert code == NO_DATABASE_EXIT
    assert "no ClamAV signature database in /scratch/empty" in stderr
    assert "OK" not in output


@pytest.mark.usefixtures("engine_images")
def test_given_the_yara_cli_image_when_it_scans_then_eicar_matches_and_clean_text_prints_nothing(
    samples: Path,
) -> None:
    code, output, stderr = _scan(YARA_CLI, "eicar.com", samples)
    assert code == 0, stderr
    first = output.splitlines()[0]
    assert first.startswith("eicar_test_file [") and first.endswith("/in/eicar.com")
    assert 'severity="high"' in output
    code, output, stderr = _scan(YARA_CLI, "hello.txt", samples)
    assert (code, output) == (0, ""), stderr
