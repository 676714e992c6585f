"""The Docker-backed suite: the scanner image run as the job definition runs it.

It runs through ``make image`` / ``make test-docker`` (part of ``make test``), which provide an
engine (scripts/docker-engine) and build the image first. Collected any other way it is left out,
so a plain ``pytest`` on a machine without Docker does not report it as passed; and once collected,
a missing engine or image fails it: it never passes by skipping.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

IMAGE = os.environ.get("SCANNER_IMAGE", "filescan-scanner:local")
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

if os.environ.get("FILESCAN_DOCKER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


def require_image(name: str, hint: str = "") -> str:
    """``name``, after failing the test (never skipping it) when the engine or the image is missing."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"no Docker engine or no image {name}{hint}: {result.stderr.strip()}")
    return name


@pytest.fixture(scope="session")
def image() -> str:
    """The scanner image's name; fails the suite when the engine or the image is missing."""
    return require_image(IMAGE)


@pytest.fixture
def samples(tmp_path: Path) -> Path:
    """A read-only-mountable folder with the EICAR string (``eicar.com``) and ``hello.txt``."""
    (tmp_path / "eicar.com").write_bytes(EICAR)
    (tmp_path / "hello.txt").write_bytes(b"hello, world\n")
    tmp_path.chmod(0o755)
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    return tmp_path
