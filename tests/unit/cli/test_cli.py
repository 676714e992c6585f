"""The ``filescan`` CLI through its entry point against the API served over loopback HTTP."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from filescan_cli import commands
from filescan_cli import main as cli_main
from filescan_cli.main import main
from filescan_shared.ids import derive_scan_id
from filescan_shared.records import ScanFields
from filescan_shared.repository import ScanRepository
from filescan_shared.states import ScanState
from tests.unit.pipeline.conftest import seed_scan

SCAN_ID = "0123456789abcdef0123456789abcdef"
FINDINGS = [  # the shape analysis stores and the API returns (pipeline.analysis._compact)
    {
        "engine": "yara-x",
        "rule_id": "filescan.eicar_test_file",
        "severity": "high",
        "category": "malware",
        "title": "EICAR test file",
        "archive_path": ["a.zip", "eicar.com"],
        "offset": 0,
    },
]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _complete(stack, scan_id=SCAN_ID, verdict="malicious", **fields):
    defaults = {
        "severity": "high",
        "top_findings": FINDINGS,
        "analysis": {"summary": "An EICAR test file inside a zip."},
        "version_id": "v1",
        "key": "uploads/a.zip",
    }
    seed_scan(stack, scan_id, "COMPLETE", verdict=verdict, **{**defaults, **fields})


def test_given_scans_when_ls_then_table_or_json(api_url, stack, capsys):
    _complete(stack)

    code, out, _ = run(capsys, "ls")
    assert code == 0
    assert out.splitlines()[0].split() == ["scan", "status", "verdict", "severity", "updated", "key"]
    assert SCAN_ID in out

    code, out, _ = run(capsys, "ls", "--json", "--status", "complete", "--limit", "5")
    assert code == 0
    assert [item["scan_id"] for item in json.loads(out)] == [SCAN_ID]


def test_given_many_scans_when_ls_with_limit_then_pages_are_followed(api_url, stack, capsys):
    for number in range(130):
        seed_scan(stack, f"{number:032x}", "FAILED")

    code, out, _ = run(capsys, "ls", "--status", "FAILED", "--limit", "120", "--json")

    assert code == 0
    ids = [item["scan_id"] for item in json.loads(out)]
    assert len(ids) == len(set(ids)) == 120


def test_given_malicious_scan_when_show_then_findings_summary_and_fail_on(api_url, stack, capsys):
    _complete(stack)

    code, out, _ = run(capsys, "show", SCAN_ID)
    assert code == 0
    assert "verdict   malicious" in out
    assert "EICAR test file" in out
    assert "a.zip/eicar.com" in out
    assert "An EICAR test file inside a zip." in out

    assert run(capsys, "show", SCAN_ID, "--fail-on", "suspicious")[0] == 3
    assert run(capsys, "show", SCAN_ID, "--fail-on", "malicious", "--json")[0] == 3
    code, out, _ = run(capsys, "status", SCAN_ID, "--json", "--fail-on", "malicious")
    assert code == 3
    assert json.loads(out)["verdict"] == "malicious"


def test_given_hostile_key_when_ls_and_show_then_control_characters_are_escaped(api_url, stack, capsys):
    key = "uploads/\x1b[2J\x1b]0;owned\x07evil\r\nrow.txt"
    _complete(stack, key=key, analysis={"summary": "line one\nline two \x1b[31mred"})

    code, out, _ = run(capsys, "ls")
    assert code == 0
    assert "\x1b" not in out and "\r" not in out and "\x07" not in out
    assert len(out.splitlines()) == 3  # header, rule, one row: the LF in the key did not split it
    assert "uploads/\\x1b[2J\\x1b]0;owned\\x07evil\\r\\nrow.txt" in out

    code, out, _ = run(capsys, "show", SCAN_ID)
    assert code == 0
    assert "\x1b" not in out and "\r" not in out
    assert "evil\\r\\nrow.txt" in out and "line one\\nline two \\x1b[31mred" in out

    code, out, _ = run(capsys, "show", SCAN_ID, "--json")
    assert json.loads(out)["key"] == key


def test_given_clean_scan_when_fail_on_then_exit_0(api_url, stack, capsys):
    _complete(stack, verdict="clean")

    assert run(capsys, "show", SCAN_ID, "--fail-on", "unscannable")[0] == 0


def test_given_running_scan_when_watched_then_each_transition_until_terminal(
    api_url, stack, capsys, monkeypatch
):

    monkeypatch.setattr(commands, "POLL_FIRST_SECONDS", 0.05)
    monkeypatch.setattr(commands, "POLL_MAX_SECONDS", 0.1)
    seed_scan(stack, SCAN_ID, "RUNNING")
    repository = ScanRepository(boto3.client("dynamodb"), stack.scans_table)

    def progress() -> None:
        time.sleep(0.8)
        repository.advance(SCAN_ID, ScanState.ANALYZING)
        time.sleep(0.8)
        repository.advance(SCAN_ID, ScanState.COMPLETE, ScanFields(verdict="suspicious", severity="medium"))

    worker = threading.Thread(target=progress)
    worker.start()
    code, out, _ = run(capsys, "status", SCAN_ID, "--watch", "--json", "--fail-on", "suspicious")
    worker.join()

    assert code == 3
    document = json.loads(out)
    # Polling sees every state it catches, in order (a heavily loaded machine may miss ANALYZING).
    assert document["transitions"] in (["RUNNING", "ANALYZING", "COMPLETE"], ["RUNNING", "COMPLETE"])
    assert document["scan"]["verdict"] == "suspicious"


def test_given_report_when_downloaded_then_written_to_file(api_url, stack, capsys, tmp_path):
    _complete(stack)
    boto3.client("s3").put_object(
        Bucket=stack.reports_bucket, Key=f"reports/{SCAN_ID}.json", Body=b'{"scan_id":1}'
    )
    target = tmp_path / "report.json"

    code, out, _ = run(capsys, "report", SCAN_ID, "-o", str(target), "--json")

    assert code == 0
    assert json.loads(out)["bytes"] == 13
    assert target.read_bytes() == b'{"scan_id":1}'

    code, out, _ = run(capsys, "report", SCAN_ID)  # no -o: the report on stdout
    assert code == 0
    assert out == '{"scan_id":1}'


def test_given_a_clean_scan_when_downloaded_then_that_version_is_written_and_the_key_escaped(
    api_url, stack, capsys, tmp_path
):
    key = "uploads/evil\x1b[2Jname.txt"
    s3 = boto3.client("s3")
    version = s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"scanned bytes")["VersionId"]
    s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"a later, unscanned upload")
    _complete(stack, verdict="clean", severity="none", top_findings=[], key=key, version_id=version)
    target = tmp_path / "out.txt"

    code, out, _ = run(capsys, "download", SCAN_ID, "-o", str(target))

    assert code == 0
    assert target.read_bytes() == b"scanned bytes"
    assert not (tmp_path / "out.txt.part").exists()
    assert "\x1b" not in out
    assert "evil\\x1b[2Jname.txt" in out
    code, out, _ = run(capsys, "download", SCAN_ID, "-o", str(target), "--json")
    assert (code, json.loads(out)["version_id"], json.loads(out)["bytes"]) == (0, version, 13)


def test_given_a_malicious_scan_when_downloaded_then_exit_1_not_released_and_no_file(
    api_url, stack, capsys, tmp_path
):
    _complete(stack)
    target = tmp_path / "out.bin"

    code, out, _ = run(capsys, "download", SCAN_ID, "-o", str(target), "--json")

    assert code == 1
    assert json.loads(out)["error"]["code"] == "not_released"
    assert not target.exists()


def test_given_scan_and_prefix_when_rescanned_then_accepted(api_url, stack, capsys):
    _complete(stack)
    s3 = boto3.client("s3")
    for name in ("x", "y"):
        s3.put_object(Bucket=stack.uploads_bucket, Key=f"uploads/batch/{name}", Body=b"1")

    code, out, _ = run(capsys, "rescan", SCAN_ID, "--json", "--idempotency-key", "k1")
    assert code == 0
    assert json.loads(out)["rescan_of"] == SCAN_ID

    code, out, _ = run(capsys, "rescan", "--prefix", "uploads/batch/")
    assert code == 0
    assert "2 scans" in out


def test_given_api_errors_when_called_then_exit_1_and_json_error(api_url, stack, capsys):
    code, out, err = run(capsys, "show", "f" * 32, "--json")
    assert code == 1
    assert json.loads(out)["error"]["code"] == "not_found"
    assert "404" in err


def test_given_malformed_scan_id_when_run_then_usage_error_naming_the_form(capsys):
    for argv in (["show", "bad-id"], ["status", "F" * 32], ["report", "../x"], ["download", "..", "-o", "x"],
                 ["rescan", "1234"]):  # fmt: skip
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        assert "is not a scan id (32 lower-case hex digits)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[], ["nope"], ["ls", "--limit", "0"], ["rescan"], ["rescan", SCAN_ID, "--prefix", "x/"], ["upload"]],
)
def test_given_bad_usage_when_run_then_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2


def test_given_no_target_when_run_then_usage_error_exit_2(capsys, monkeypatch):
    for name in ("FILESCAN_API_URL", "FILESCAN_BUCKET"):
        monkeypatch.delenv(name, raising=False)

    code, _, err = run(capsys, "ls")
    assert code == 2
    assert "--api-url" in err

    code, out, _ = run(capsys, "show", SCAN_ID, "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "TargetMissing"


def test_given_no_local_stack_when_local_then_clear_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "filescan_local.cli", None)

    code, _, err = run(capsys, "local", "up")

    assert code == 1
    assert "filescan_local" in err


@pytest.mark.slow
def test_given_200_mb_file_when_uploaded_then_progress_and_the_scan_id_of_its_version(
    api_url, stack, capsys, tmp_path
):

    big = tmp_path / "big image.bin"
    with big.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    small = tmp_path / "small.txt"
    small.write_bytes(b"hello")
    started = time.monotonic()

    code, out, err = run(capsys, "upload", str(big), str(small), "--prefix", "uploads/cli/", "--json")

    assert code == 0
    assert time.monotonic() - started < 60
    results = json.loads(out)
    assert [result["key"] for result in results] == ["uploads/cli/big image.bin", "uploads/cli/small.txt"]
    versions = {
        version["Key"]: version["VersionId"]
        for version in boto3.client("s3").list_object_versions(
            Bucket=stack.uploads_bucket, Prefix="uploads/cli/"
        )["Versions"]
    }
    for result in results:
        assert result["version_id"] == versions[result["key"]]
        assert result["scan_id"] == derive_scan_id(
            stack.uploads_bucket, result["key"], version_id=result["version_id"]
        )
    assert results[0]["size"] == 200 * 1024 * 1024
    assert "100.0%" in err
    assert "big image.bin [" in err
    assert len([line for line in err.splitlines() if "big image.bin" in line]) >= 5


def test_given_installed_console_script_when_run_then_json_on_stdout_only(api_url, stack):
    _complete(stack)
    script = Path(sys.executable).with_name("filescan")
    env = {**os.environ}

    result = subprocess.run(
        [str(script), "ls", "--json", "--no-sign", "--api-url", api_url],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)[0]["scan_id"] == SCAN_ID
    helped = subprocess.run(
        [str(script), "upload", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert helped.returncode == 0
    assert "--fail-on" in helped.stdout


def test_given_upload_with_wait_when_the_pipeline_finishes_then_verdict_and_fail_on(
    api_url, stack, capsys, tmp_path, monkeypatch
):
    monkeypatch.setattr(commands, "POLL_FIRST_SECONDS", 0.05)
    monkeypatch.setattr(commands, "POLL_MAX_SECONDS", 0.1)
    sample = tmp_path / "eicar.txt"
    sample.write_bytes(b"X5O!P%@AP")
    s3 = boto3.client("s3")

    def pipeline() -> None:  # stands in for enqueue + scanner + analysis
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            versions = s3.list_object_versions(Bucket=stack.uploads_bucket, Prefix="uploads/w/").get(
                "Versions"
            )
            if versions:
                version = versions[0]["VersionId"]
                scan_id = derive_scan_id(stack.uploads_bucket, "uploads/w/eicar.txt", version_id=version)
                time.sleep(0.3)
                seed_scan(stack, scan_id, "COMPLETE", verdict="malicious", key="uploads/w/eicar.txt")
                return
            time.sleep(0.05)

    worker = threading.Thread(target=pipeline)
    worker.start()
    code, out, err = run(
        capsys, "upload", str(sample), "--prefix", "uploads/w", "--wait", "--fail-on", "malicious", "--json"
    )
    worker.join()

    assert code == 3
    (result,) = json.loads(out)
    assert result["scan"]["verdict"] == "malicious"
    assert "COMPLETE" in err


def test_given_only_the_api_when_uploaded_then_presigned_put_under_a_server_key_and_its_scan_id(
    api_url, stack, capsys, tmp_path, monkeypatch
):
    monkeypatch.delenv("FILESCAN_BUCKET")
    sample = tmp_path / "q3 report.pdf"
    sample.write_bytes(b"%PDF-1.7 " + b"x" * 300_000)

    code, out, err = run(capsys, "upload", str(sample), "--json")

    assert code == 0, err
    (result,) = json.loads(out)
    assert result["bucket"] == stack.uploads_bucket
    prefix, _date, unique, name = result["key"].rsplit("/", 3)
    assert (prefix, len(unique), name) == ("uploads", 32, "q3_report.pdf")
    head = boto3.client("s3").head_object(
        Bucket=stack.uploads_bucket, Key=result["key"], ChecksumMode="ENABLED"
    )
    assert head["VersionId"] == result["version_id"]
    assert head["ContentLength"] == result["size"] == sample.stat().st_size
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(sample.read_bytes()).digest()).decode()
    assert result["scan_id"] == derive_scan_id(
        stack.uploads_bucket, result["key"], version_id=head["VersionId"]
    )
    assert "q3 report.pdf [" in err
    assert "100.0%" in err


@pytest.mark.parametrize(
    ("dropped", "extra", "expected"),
    [
        (
            ["FILESCAN_BUCKET"],
            ["--prefix", "uploads/mine/"],
            ["--prefix needs a bucket", "server chooses the key"],
        ),
        (["FILESCAN_BUCKET", "FILESCAN_API_URL"], [], ["--bucket", "--api-url"]),
    ],
    ids=["prefix-without-bucket", "no-bucket-no-api"],
)
def test_given_upload_without_a_usable_target_when_run_then_usage_error_exit_2(
    api_url, capsys, tmp_path, monkeypatch, dropped, extra, expected
):
    for name in dropped:
        monkeypatch.delenv(name)
    sample = tmp_path / "a.txt"
    sample.write_bytes(b"a")

    code, _, err = run(capsys, "upload", str(sample), *extra)

    assert code == 2
    for text in expected:
        assert text in err


def test_given_only_the_api_and_a_file_over_5_gib_when_uploaded_then_refused_before_any_request(
    api_url, capsys, tmp_path, monkeypatch
):
    monkeypatch.delenv("FILESCAN_BUCKET")
    huge = tmp_path / "huge.iso"
    with huge.open("wb") as handle:
        handle.truncate(5 * 1024**3 + 1)  # sparse: no disk used

    code, out, err = run(capsys, "upload", str(huge), "--json")

    assert code == 1
    assert json.loads(out)["error"]["code"] == "payload_too_large"
    assert "5 GiB limit of an upload through the API" in err
    assert "--bucket" in err


def test_given_an_error_message_with_control_characters_when_reported_then_it_is_escaped(capsys):
    args = argparse.Namespace(json=False)
    code = cli_main._fail(args, RuntimeError("server said \x1b[2Jgone\r\nnext"))

    err = capsys.readouterr().err
    assert code != 0
    assert "\x1b" not in err and "\r" not in err
    assert "server said \\x1b[2Jgone\\r\\nnext" in err
