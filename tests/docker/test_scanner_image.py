"""The scanner image, run the way the Batch job definition runs it on Fargate.

Non-root, read-only root filesystem, ``/scratch`` (a size-limited tmpfs) the only writable path;
a local-file scan with no network at all, the S3 mode against a moto server over the host network,
the image's own ``--help`` and exit codes.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from filescan_shared.exit_codes import ExitCode
from tests.docker.conftest import EICAR
from tests.support.moto_server import FAKE_ENV

AS_BATCH = ["--read-only", "--tmpfs", "/scratch:rw,size=64m,uid=10001,gid=10001", "--cap-drop", "ALL"]


def docker_run(image: str, *args: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """``docker run --rm`` of the image as Batch runs it, with extra ``options`` before the image."""
    return subprocess.run(
        ["docker", "run", "--rm", *AS_BATCH, *options, image, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_given_the_scanner_image_when_run_then_it_is_non_root_on_a_read_only_root(image: str) -> None:
    result = docker_run(
        image, "sh", "-c", "id -u; touch /opt/x 2>&1 || true; touch /scratch/ok && echo scratch-ok"
    )
    lines = result.stdout.splitlines()
    assert lines[0] == "10001"
    assert "Read-only file system" in result.stdout
    assert lines[-1] == "scratch-ok"


def test_given_the_scanner_image_when_asked_for_help_then_it_documents_the_exit_codes(image: str) -> None:
    result = docker_run(image, "filescan-scan", "--help", options=("--network", "none"))
    assert result.returncode == 0
    assert "usage: filescan-scan" in result.stdout
    assert f"{ExitCode.UNSCANNABLE}  unscannable input" in result.stdout
    default = docker_run(image, options=("--network", "none"))
    assert default.returncode == 0
    assert default.stdout == result.stdout


def test_given_a_bad_option_or_a_missing_file_when_the_image_runs_then_it_exits_with_its_code(
    image: str,
) -> None:
    usage = docker_run(image, "filescan-scan", "--no-such-option", options=("--network", "none"))
    assert usage.returncode == ExitCode.USAGE_ERROR
    missing = docker_run(
        image, "filescan-scan", "/scratch/missing", "--report", "-", options=("--network", "none")
    )
    assert missing.returncode == ExitCode.UNSCANNABLE


def test_given_no_network_when_the_image_scans_local_files_then_eicar_is_found_and_text_clean(
    image: str, samples: Path
) -> None:
    options = ("--network", "none", "--volume", f"{samples}:/in:ro")
    bad = docker_run(image, "filescan-scan", "/in/eicar.com", "--report", "-", options=options)
    assert bad.returncode == ExitCode.SCANNED, bad.stderr
    report = json.loads(bad.stdout)
    assert report["verdict"]["verdict"] == "malicious"
    assert any("eicar" in finding["rule_id"].lower() for finding in report["findings"])
    good = docker_run(image, "filescan-scan", "/in/hello.txt", "--report", "-", options=options)
    assert json.loads(good.stdout)["verdict"]["verdict"] == "clean"


@pytest.fixture
def s3(moto_url: str) -> Iterator[tuple[str, object]]:
    """Uploads and reports buckets on the moto server, a client for them."""
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        aws_access_key_id=FAKE_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_ENV["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_ENV["AWS_DEFAULT_REGION"],
    )
    suffix = uuid.uuid4().hex[:8]
    for bucket in (f"uploads-{suffix}", f"reports-{suffix}"):
        client.create_bucket(Bucket=bucket)
    # Versioned, as the template's uploads bucket is.
    client.put_bucket_versioning(Bucket=f"uploads-{suffix}", VersioningConfiguration={"Status": "Enabled"})
    yield suffix, client


def test_given_s3_on_the_host_network_when_the_image_scans_an_object_then_its_report_is_written(
    image: str, moto_url: str, s3: tuple[str, object]
) -> None:
    suffix, client = s3
    key = "uploads/dir with spaces/eicar+1.com"
    client.put_object(Bucket=f"uploads-{suffix}", Key=key, Body=EICAR)  # type: ignore[attr-defined]
    env = {**FAKE_ENV, "AWS_ENDPOINT_URL": moto_url, "REPORTS_BUCKET": f"reports-{suffix}"}
    options = ["--network", "host"]
    for name, value in env.items():
        options += ["--env", f"{name}={value}"]
    result = docker_run(
        image,
        "filescan-scan",
        "--bucket",
        f"uploads-{suffix}",
        "--key",
        key,
        "--scan-id",
        "scan-1",
        options=tuple(options),
    )
    assert result.returncode == ExitCode.SCANNED, result.stderr
    body = client.get_object(Bucket=f"reports-{suffix}", Key="reports/scan-1.json")["Body"]  # type: ignore[attr-defined]
    report = json.loads(body.read())
    assert report["object"]["key"] == key
    assert report["verdict"]["verdict"] == "malicious"
    missing = docker_run(
        image,
        "filescan-scan",
        "--bucket",
        f"uploads-{suffix}",
        "--key",
        "no/such/key",
        "--scan-id",
        "scan-2",
        options=tuple(options),
    )
    assert missing.returncode == ExitCode.UNSCANNABLE


def test_given_the_scanner_image_when_run_then_its_first_output_byte_comes_within_10_seconds(
    image: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Report (and bound) the time from ``docker run`` to the first byte of the scanner's output."""
    timings = []
    for _ in range(3):
        started = time.monotonic()
        process = subprocess.Popen(
            ["docker", "run", "--rm", *AS_BATCH, "--network", "none", image, "filescan-scan", "--help"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert process.stdout is not None
        first = process.stdout.read(1)
        timings.append(time.monotonic() - started)
        process.stdout.read()
        assert process.wait(timeout=60) == 0
        assert first == b"u"
    size = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with capsys.disabled():
        print(
            f"\n{image}: {int(size) / 1e6:.0f} MB; docker run to first byte of --help: "
            f"{', '.join(f'{t:.2f}' for t in timings)} s"
        )
    assert min(timings) < 10
