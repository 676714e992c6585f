"""``filescan upload`` against a running local stack with only the API: no bucket, no S3 endpoint,
no AWS credentials in the CLI's environment (the presigned ``POST /uploads`` path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from filescan_local.samples import eicar
from tests.e2e.conftest import Pipeline, start_pipeline, wait_until

pytestmark = pytest.mark.slow
TOKEN = "cli-e2e-token"  # the local API's bearer token


@pytest.fixture(scope="module")
def token_pipeline() -> Iterator[Pipeline]:
    yield from start_pipeline(api_token=TOKEN)


def _api_only_environment(home: Path) -> dict[str, str]:
    """The test process's environment without anything that reaches S3 directly."""
    dropped = ("AWS_", "FILESCAN_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    missing = str(home / "none")
    return {**env, "HOME": str(home), "AWS_CONFIG_FILE": missing, "AWS_SHARED_CREDENTIALS_FILE": missing}


def test_given_only_the_api_when_cli_uploads_then_files_are_scanned_to_their_verdicts(
    token_pipeline: Pipeline, tmp_path: Path
) -> None:
    api = token_pipeline.stack.api
    assert api is not None
    clean, bad = tmp_path / "notes.txt", tmp_path / "eicar test.com"
    clean.write_bytes(b"quarterly notes, nothing to see\n")
    bad.write_bytes(eicar())
    command = [str(Path(sys.executable).with_name("filescan")), "upload", str(clean), str(bad)]
    options = ["--api-url", api.url, "--token", TOKEN, "--wait", "--timeout", "120", "--json"]

    result = subprocess.run(
        [*command, *options, "--fail-on", "malicious"],
        capture_output=True,
        text=True,
        timeout=180,
        env=_api_only_environment(tmp_path),
        check=False,
    )

    assert result.returncode == 3, result.stderr  # --fail-on malicious reached by the EICAR file
    uploaded = json.loads(result.stdout)
    assert [item["bucket"] for item in uploaded] == [token_pipeline.bucket] * 2
    assert [item["key"].rsplit("/", 1)[-1] for item in uploaded] == ["notes.txt", "eicar_test.com"]
    assert all(item["key"].startswith("uploads/") and item["scan_id"] for item in uploaded)
    assert [item["scan"]["verdict"] for item in uploaded] == ["clean", "malicious"]
    assert [item["scan"]["status"] for item in uploaded] == ["COMPLETE", "COMPLETE"]
    status, record = token_pipeline.api(f"/scans/{uploaded[1]['scan_id']}")
    assert (status, record["key"]) == (200, uploaded[1]["key"])

    # Reading goes through the API: the clean file's exact version, once its tag is written (the
    # bucket policy checks it for the API role); the malicious one is never released.
    clean_out, bad_out = tmp_path / "notes copy.txt", tmp_path / "eicar copy"
    download = [command[0], "download", "--api-url", api.url, "--token", TOKEN]

    def fetch(scan_id: str, target: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*download, scan_id, "-o", str(target), "--json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=_api_only_environment(tmp_path),
            check=False,
        )

    wait_until(lambda: fetch(uploaded[0]["scan_id"], clean_out).returncode == 0, timeout=60)
    assert clean_out.read_bytes() == clean.read_bytes()
    refused = fetch(uploaded[1]["scan_id"], bad_out)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "not_released"
    assert not bad_out.exists()
