"""The Docker-backed suite: the scanner image run as the job definition runs it.

It runs through ``make image`` / ``make test-docker`` (part of ``make test``), which provide an
engine (scripts/docker-engine) and build the image first. Collected any other way it is left out,
so a plain ``pytest`` on a machine without Docker does not report it as passed; and once collected,
a missing engine or image fails it: it never passes by skipping.
"""

from __future__ import annotations

import os
import subprocess

import pytest

IMAGE = os.environ.get("SCANNER_IMAGE", "filescan-scanner:local")

if os.environ.get("FILESCAN_DOCKER_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def image() -> str:
    """The scanner image's name; fails the suite when the engine or the image is missing."""
    result = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", IMAGE],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"no Docker engine or no image {IMAGE}: {result.stderr.strip()}")
    return IMAGE
