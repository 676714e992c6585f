"""The scanner against a real S3 API (moto server on loopback), through its console script."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from filescan_scanner.remote import RemoteObject
from filescan_scanner.source import SourceError
from filescan_shared.report.validate import validate_report

REPORTS = "filescan-reports"
UPLOADS = "filescan-uploads"
HOSTILE_KEYS = [
    "../../etc/passwd",
    "dir/with spaces/file name.txt",
    "a+b%20c%2F..%2Fd.txt",
    "ünïcødé/文件/файл.txt",
    "k" * 1000,
    "/leading/slash",
]


def _eicar() -> bytes:
    return b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR" + b"-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def moto_env() -> Iterator[dict[str, str]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "REPORTS_BUCKET": REPORTS,
    }
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.1)
        s3 = _client(env)
        s3.create_bucket(Bucket=REPORTS)
        s3.create_bucket(Bucket=UPLOADS)
        s3.put_bucket_versioning(Bucket=UPLOADS, VersioningConfiguration={"Status": "Enabled"})
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _client(env: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def _scan(env: dict[str, str], work: Path, *args: str, extra: dict[str, str] | None = None) -> int:
    exe = shutil.which("filescan-scan", path=str(Path(sys.executable).parent))
    assert exe, "filescan-scan console script missing: pip install -e ."
    full = {**os.environ, **env, "FILESCAN_WORK_DIR": str(work), **(extra or {})}
    return subprocess.run([exe, *args], env=full, capture_output=True, timeout=120, check=False).returncode


def _report(env: dict[str, str], scan_id: str) -> dict[str, Any]:
    body = _client(env).get_object(Bucket=REPORTS, Key=f"reports/{scan_id}.json")["Body"].read()
    report: dict[str, Any] = json.loads(body)
    validate_report(report)
    return report


def test_given_an_s3_object_when_scanned_then_a_valid_report_is_written_and_the_work_dir_cleaned(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    s3 = _client(moto_env)
    s3.put_object(Bucket=UPLOADS, Key="in/eicar.com", Body=b"pad\n" + _eicar() + b"\n")
    rc = _scan(
        moto_env,
        tmp_path,
        "--bucket",
        UPLOADS,
        "--key",
        "in/eicar.com",
        "--version-id",
        "",
        "--scan-id",
        "s-1",
    )
    assert rc == 0
    report = _report(moto_env, "s-1")
    assert report["verdict"]["verdict"] == "malicious"
    assert report["object"]["bucket"] == UPLOADS and report["object"]["version_id"]
    assert list(tmp_path.iterdir()) == []  # the work dir is cleaned up


def test_given_a_version_id_when_scanned_then_that_version_is_scanned(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    s3 = _client(moto_env)
    first = s3.put_object(Bucket=UPLOADS, Key="v.txt", Body=_eicar())["VersionId"]
    s3.put_object(Bucket=UPLOADS, Key="v.txt", Body=b"now harmless")
    assert (
        _scan(
            moto_env,
            tmp_path,
            "--bucket",
            UPLOADS,
            "--key",
            "v.txt",
            "--version-id",
            first,
            "--scan-id",
            "v1",
        )
        == 0
    )
    assert _report(moto_env, "v1")["verdict"]["verdict"] == "malicious"
    assert _scan(moto_env, tmp_path, "--bucket", UPLOADS, "--key", "v.txt", "--scan-id", "v2") == 0
    assert _report(moto_env, "v2")["verdict"]["verdict"] == "clean"


@pytest.mark.parametrize("key", HOSTILE_KEYS, ids=range(len(HOSTILE_KEYS)))
def test_given_a_hostile_key_when_scanned_then_nothing_leaves_the_work_dir(
    moto_env: dict[str, str], tmp_path: Path, key: str
) -> None:
    s3 = _client(moto_env)
    s3.put_object(Bucket=UPLOADS, Key=key, Body=b"harmless content\n")
    work = tmp_path / "work"
    work.mkdir()
    before = set(tmp_path.rglob("*"))
    assert _scan(moto_env, work, "--bucket", UPLOADS, "--key", key, "--scan-id", "hostile") == 0
    report = _report(moto_env, "hostile")
    assert report["file"]["size"] == len(b"harmless content\n")
    assert report["object"]["key"] == key  # the S3 key itself, unicode and all, not an escaped form
    assert set(tmp_path.rglob("*")) == before
    assert not Path("/etc/passwd.tmp").exists()


def test_given_a_missing_object_when_scanned_then_it_is_unscannable_with_a_report(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    rc = _scan(moto_env, tmp_path, "--bucket", UPLOADS, "--key", "does/not/exist", "--scan-id", "missing")
    assert rc == 65
    report = _report(moto_env, "missing")
    assert report["verdict"]["verdict"] == "unscannable"
    assert report["file"] is None and report["unscannable_reasons"]


def test_given_a_manifest_when_scanned_as_an_array_job_then_its_index_picks_the_line(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    s3 = _client(moto_env)
    s3.put_object(Bucket=UPLOADS, Key="m/a.txt", Body=b"clean")
    s3.put_object(Bucket=UPLOADS, Key="m/b.txt", Body=_eicar())
    lines = [
        {"bucket": UPLOADS, "key": "m/a.txt", "scan_id": "m-0"},
        {"bucket": UPLOADS, "key": "m/b.txt", "scan_id": "m-1", "version_id": ""},
    ]
    s3.put_object(
        Bucket=UPLOADS, Key="manifests/m.jsonl", Body="\n".join(json.dumps(x) for x in lines).encode()
    )
    rc = _scan(
        moto_env,
        tmp_path,
        "--manifest",
        f"s3://{UPLOADS}/manifests/m.jsonl",
        extra={"AWS_BATCH_JOB_ARRAY_INDEX": "1"},
    )
    assert rc == 0
    assert _report(moto_env, "m-1")["verdict"]["verdict"] == "malicious"


def test_given_an_unversioned_bucket_when_an_object_is_scanned_then_it_is_pinned_by_etag(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    """No version id: every ranged GET is pinned by ETag (``IfMatch``)."""
    s3 = _client(moto_env)
    s3.create_bucket(Bucket="filescan-unversioned")
    s3.put_object(Bucket="filescan-unversioned", Key="u/eicar.com", Body=_eicar())
    args = ("--bucket", "filescan-unversioned", "--key", "u/eicar.com", "--scan-id", "unv")
    assert _scan(moto_env, tmp_path, *args) == 0
    report = _report(moto_env, "unv")
    assert report["verdict"]["verdict"] == "malicious"
    assert report["object"]["version_id"] is None and report["object"]["etag"]


MiB = 1024**2
MEMORY_BUDGET = 256 * MiB
DOWNLOAD_ALLOWANCE = 64 * MiB
"""What S3 mode may add to the local scan's peak: boto3, its threads and the ranged GETs' bounded
window (~32 MiB measured). One stream lane in both scans, so the scan's own peak does not vary."""


def test_given_a_256_mib_object_when_scanned_from_s3_then_peak_rss_stays_within_budget(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    """A 256 MiB object read in place: S3 mode's peak RSS is the local scan's plus a bounded window.

    With one glibc arena per ranged-GET thread the window cost +72 MiB here (``cli._keep_chunk_memory``
    caps the arenas at two: +32 MiB); ``make bench-scanner-huge`` measures 3 GiB.
    """
    size = 256 * MiB
    big = tmp_path / "big.bin"
    with big.open("wb") as out:  # cheap to make: a few random MiB, the rest a sparse hole
        for _ in range(8):
            out.write(os.urandom(MiB))
        out.truncate(size)
    s3 = _client(moto_env)
    s3.upload_file(str(big), UPLOADS, "big/object.bin")
    work = tmp_path / "work"
    work.mkdir()
    local_report = tmp_path / "local.json"
    one_lane = {"FILESCAN_STREAM_LANES": "1"}
    assert _scan(moto_env, work, str(big), "--report", str(local_report), extra=one_lane) == 0
    big.unlink()
    args = ("--bucket", UPLOADS, "--key", "big/object.bin", "--scan-id", "big")
    assert _scan(moto_env, work, *args, extra=one_lane) == 0
    remote = _report(moto_env, "big")["stats"]
    local = json.loads(local_report.read_text())["stats"]
    assert remote["bytes"] == size
    assert remote["peak_rss_bytes"] <= MEMORY_BUDGET
    assert remote["peak_rss_bytes"] - local["peak_rss_bytes"] <= DOWNLOAD_ALLOWANCE, (remote, local)


def _same_scan(report: dict[str, Any]) -> dict[str, Any]:
    """The parts of a report that depend only on the bytes scanned (no timings, ids or identity)."""
    engines = [{k: e[k] for k in ("name", "status")} for e in report["engines"]]
    return {
        "file": report["file"],
        "verdict": report["verdict"],
        "findings": report["findings"],
        "limits_hit": report["limits_hit"],
        "archive": report.get("archive"),
        "engines": engines,
    }


def test_given_ranged_streaming_when_scanned_then_the_report_matches_the_local_scan(
    moto_env: dict[str, str], tmp_path: Path
) -> None:
    """A 3 MiB zip read in place in 256 KiB parts: same report as scanning a downloaded copy.

    EICAR straddles a part boundary (the YARA overlap must join the parts), and the zip's central
    directory and members are read through the seekable ranged reader, not a local copy.
    """
    member = bytearray(os.urandom(3 * MiB))
    member[256 * 1024 - 20 : 256 * 1024 - 20 + len(_eicar())] = _eicar()
    archive = tmp_path / "sample.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("inner/blob.bin", bytes(member))
        zf.writestr("inner/eicar.com", _eicar())
    s3 = _client(moto_env)
    s3.upload_file(str(archive), UPLOADS, "ranged/sample.zip")
    downloaded = tmp_path / "downloaded.zip"
    s3.download_file(UPLOADS, "ranged/sample.zip", str(downloaded))
    work = tmp_path / "work"
    work.mkdir()
    local_report = tmp_path / "local.json"
    assert _scan(moto_env, work, str(downloaded), "--report", str(local_report)) == 0
    small_parts = {"FILESCAN_DOWNLOAD_PART_BYTES": str(256 * 1024), "FILESCAN_DOWNLOAD_CONCURRENCY": "3"}
    args = ("--bucket", UPLOADS, "--key", "ranged/sample.zip", "--scan-id", "ranged")
    assert _scan(moto_env, work, *args, extra=small_parts) == 0
    remote = _report(moto_env, "ranged")
    local = json.loads(local_report.read_text())
    assert remote["verdict"]["verdict"] == "malicious"
    assert _same_scan(remote) == _same_scan(local)
    assert list(work.iterdir()) == []


def test_given_an_overwrite_during_a_read_when_scanned_then_it_is_transient_not_mixed(
    moto_env: dict[str, str],
) -> None:
    """Unversioned bucket: a part read after an overwrite fails 412 (transient), never the new bytes."""
    s3 = _client(moto_env)
    s3.create_bucket(Bucket="filescan-overwritten")
    s3.put_object(Bucket="filescan-overwritten", Key="o.bin", Body=b"a" * 4096)
    remote = RemoteObject.open_version(s3, "filescan-overwritten", "o.bin", None, part_bytes=1024)
    assert remote.get_range(0, 1024) == b"a" * 1024
    s3.put_object(Bucket="filescan-overwritten", Key="o.bin", Body=b"b" * 4096)
    with pytest.raises(SourceError) as caught:
        remote.get_range(1024, 1024)
    assert not caught.value.unscannable and "PreconditionFailed" in caught.value.reason
