"""filescan-engine-io: fetch the exact object version, collect the engine's output and exit code.

S3 is the moto server; the ECS task metadata endpoint v4 is a tiny HTTP server on 127.0.0.1 that
answers ``/task`` with the containers the test sets.
"""

from __future__ import annotations

import http.server
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from filescan_scanner import engine_io
from filescan_shared.exit_codes import ExitCode

BUCKET, REPORTS = "uploads", "reports"
SCAN_ID = "0123456789abcdef0123456789abcdef"


class MetadataEndpoint:
    """``$ECS_CONTAINER_METADATA_URI_V4`` as Fargate serves it, with the containers a test sets."""

    def __init__(self) -> None:
        self.containers: list[dict[str, Any]] = []
        self.requests: list[str] = []
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.requests.append(self.path)
                body = json.dumps(
                    {"TaskARN": "arn:aws:ecs:task/x", "Containers": endpoint.containers}
                ).encode()
                status = 200 if self.path == "/v4/abc/task" else 404
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/v4/abc"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def engine_exited(self, code: int | None, *, fetch: int | None = 0) -> None:
        engine: dict[str, Any] = {"Name": "engine", "KnownStatus": "STOPPED"}
        if code is not None:
            engine |= {
                "ExitCode": code,
                "StartedAt": "2026-12-01T09:00:00Z",
                "FinishedAt": "2026-12-01T09:01:00Z",
            }
        fetch_container: dict[str, Any] = {"Name": "fetch", "KnownStatus": "STOPPED"}
        if fetch is not None:
            fetch_container["ExitCode"] = fetch
        self.containers = [fetch_container, engine, {"Name": "collect", "KnownStatus": "RUNNING"}]


@pytest.fixture
def metadata() -> Iterator[MetadataEndpoint]:
    endpoint = MetadataEndpoint()
    yield endpoint
    endpoint.server.shutdown()


@pytest.fixture
def s3(aws: str) -> Any:
    client = boto3.client("s3")
    for bucket in (BUCKET, REPORTS):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


def envelope(s3: Any, engine: str = "clamav") -> dict[str, Any]:
    body = s3.get_object(Bucket=REPORTS, Key=f"reports/{SCAN_ID}/engines/{engine}/result.json")["Body"].read()
    return json.loads(body)  # type: ignore[no-any-return]


def collect_cli(tmp_path: Path, *extra: str) -> list[str]:
    output = tmp_path / "output" / "result"
    return ["collect", "--engine", "clamav", "--scan-id", SCAN_ID, "--output", str(output), *extra]


@pytest.fixture
def collect_env(monkeypatch: pytest.MonkeyPatch, metadata: MetadataEndpoint) -> MetadataEndpoint:
    monkeypatch.setenv("REPORTS_BUCKET", REPORTS)
    monkeypatch.setenv("REPORTS_PREFIX", "reports/")
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", metadata.uri)
    return metadata


# ------------------------------------------------------------------------------------------------
# fetch / prepare
# ------------------------------------------------------------------------------------------------
def test_given_two_versions_when_fetching_the_first_then_exactly_it_lands_readable_at_dest(s3, tmp_path):
    first = s3.put_object(Bucket=BUCKET, Key="uploads/a b+c%.bin", Body=b"first version")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="uploads/a b+c%.bin", Body=b"second version, newer")
    dest = tmp_path / "input" / "object"

    code = engine_io.main(
        [
            "fetch",
            "--bucket",
            BUCKET,
            "--key",
            "uploads/a b+c%.bin",
            "--version-id",
            first,
            "--dest",
            str(dest),
        ]
    )

    assert code == ExitCode.SCANNED
    assert dest.read_bytes() == b"first version"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "output").stat().st_mode) == 0o1777


def test_given_an_object_larger_than_a_part_when_fetched_then_every_byte_arrives(s3, tmp_path):
    body = bytes(range(256)) * (20 * 1024**2 // 256 + 3)  # > 2 parts of 8 MiB: ranged, parallel GETs
    s3.put_object(Bucket=BUCKET, Key="uploads/big", Body=body)
    dest = tmp_path / "input" / "object"

    code = engine_io.fetch(s3, bucket=BUCKET, key="uploads/big", version_id=None, dest=dest)

    assert code == ExitCode.SCANNED
    assert dest.read_bytes() == body


@pytest.mark.parametrize("missing", ["key", "version"])
def test_given_a_missing_object_or_version_when_fetched_then_it_is_unscannable(s3, tmp_path, missing):
    s3.put_object(Bucket=BUCKET, Key="uploads/there", Body=b"x")
    key, version = ("uploads/gone", None) if missing == "key" else ("uploads/there", "nosuchversion0000")
    dest = tmp_path / "input" / "object"

    code = engine_io.fetch(s3, bucket=BUCKET, key=key, version_id=version, dest=dest)

    assert code == ExitCode.UNSCANNABLE
    assert not dest.exists()


def test_given_prepare_when_run_then_the_input_and_a_shared_output_directory_exist(tmp_path):
    assert engine_io.main(["prepare", "--dir", str(tmp_path / "filescan")]) == ExitCode.SCANNED

    assert (tmp_path / "filescan" / "input").is_dir()
    assert stat.S_IMODE((tmp_path / "filescan" / "output").stat().st_mode) == 0o1777


# ------------------------------------------------------------------------------------------------
# collect
# ------------------------------------------------------------------------------------------------
def test_given_an_engine_that_found_something_when_collected_then_output_and_envelope_are_stored(
    s3, tmp_path, collect_env
):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "result").write_bytes(b"/filescan/input/object: Eicar-Signature FOUND\n")
    collect_env.engine_exited(1)

    code = engine_io.main(
        collect_cli(tmp_path, "--ok", "0,1", "--unscannable", "", "--max-output-bytes", "4096")
    )

    assert code == ExitCode.SCANNED
    key = f"reports/{SCAN_ID}/engines/clamav/output"
    assert (
        s3.get_object(Bucket=REPORTS, Key=key)["Body"].read()
        == b"/filescan/input/object: Eicar-Signature FOUND\n"
    )
    assert envelope(s3) == {
        "engine": "clamav",
        "scan_id": SCAN_ID,
        "exit_code": 1,
        "output_key": key,
        "output_bytes": 46,
        "output_truncated": False,
        "started_at": "2026-12-01T09:00:00Z",
        "finished_at": "2026-12-01T09:01:00Z",
    }
    assert collect_env.requests == ["/v4/abc/task"]


def test_given_output_over_the_limit_when_collected_then_it_is_cut_and_the_cut_recorded(
    s3, tmp_path, collect_env
):
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "result").write_bytes(b"A" * 5000)
    collect_env.engine_exited(0)

    assert engine_io.main(collect_cli(tmp_path, "--max-output-bytes", "1024")) == ExitCode.SCANNED

    result = envelope(s3)
    assert (result["output_bytes"], result["output_truncated"]) == (1024, True)
    assert s3.get_object(Bucket=REPORTS, Key=result["output_key"])["Body"].read() == b"A" * 1024


def test_given_no_output_file_when_collected_then_the_absence_is_recorded_not_a_crash(
    s3, tmp_path, collect_env
):
    collect_env.engine_exited(0)

    assert engine_io.main(collect_cli(tmp_path)) == ExitCode.SCANNED

    result = envelope(s3)
    assert (result["output_key"], result["output_bytes"], result["exit_code"]) == (None, 0, 0)


@pytest.mark.parametrize(
    ("engine_code", "fetch_code", "expected"),
    [
        (0, 0, ExitCode.SCANNED),
        (3, 0, ExitCode.UNSCANNABLE),  # --unscannable 3
        (2, 0, ExitCode.TRANSIENT),  # not ok, not unscannable: Batch retries
        (137, 0, ExitCode.TRANSIENT),  # killed (out of memory)
        (None, 65, ExitCode.UNSCANNABLE),  # the engine never ran: the object is gone
        (2, 65, ExitCode.UNSCANNABLE),  # the engine ran on the missing file: the fetch decides
        (0, 65, ExitCode.UNSCANNABLE),  # ... even when the engine found "nothing"
        (0, 1, ExitCode.TRANSIENT),  # a failed fetch is never an engine result
        (0, None, ExitCode.TRANSIENT),  # the fetch never stopped: the task is broken
        (None, 1, ExitCode.TRANSIENT),
        (None, 0, ExitCode.TRANSIENT),
    ],
)
def test_given_the_engine_exit_code_when_collected_then_collect_exits_as_the_code_means(
    s3, tmp_path, collect_env, engine_code, fetch_code, expected
):
    collect_env.engine_exited(engine_code, fetch=fetch_code)

    assert engine_io.main(collect_cli(tmp_path, "--ok", "0", "--unscannable", "3")) == expected
    assert envelope(s3)["exit_code"] == engine_code


def test_given_no_metadata_endpoint_variable_when_collecting_then_it_is_a_usage_error(
    s3, tmp_path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("REPORTS_BUCKET", REPORTS)
    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4", raising=False)

    assert engine_io.main(collect_cli(tmp_path)) == ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "args",
    [
        ["collect", "--engine", "../x", "--scan-id", SCAN_ID, "--output", "/tmp/o"],
        ["collect", "--engine", "clamav", "--scan-id", "../../etc", "--output", "/tmp/o"],
    ],
)
def test_given_a_bad_engine_or_scan_id_when_collecting_then_nothing_is_written(s3, collect_env, args):
    collect_env.engine_exited(0)

    assert engine_io.main(args) == ExitCode.USAGE_ERROR
    assert s3.list_objects_v2(Bucket=REPORTS).get("KeyCount", 0) == 0


def test_given_an_unreachable_endpoint_when_reading_the_task_then_it_retries_and_fails_loudly():
    sleeps: list[float] = []
    with pytest.raises(RuntimeError, match="task metadata endpoint unavailable"):
        engine_io.task_containers("http://127.0.0.1:9/v4/none", sleep=sleeps.append)
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_given_the_package_when_installed_then_the_entry_point_and_the_image_wrapper_exist():
    repo = Path(__file__).resolve().parents[3]
    assert 'filescan-engine-io = "filescan_scanner.engine_io:main"' in (repo / "pyproject.toml").read_text()
    dockerfile = (repo / "scanner_job" / "Dockerfile").read_text()
    assert "exec python -m filescan_scanner.engine_io" in dockerfile
    assert "/usr/local/bin/filescan-engine-io" in dockerfile


def test_given_an_s3_engine_when_collected_then_the_prepare_container_stands_where_fetch_would(
    s3, tmp_path, collect_env
):
    collect_env.containers = [
        {"Name": "prepare", "ExitCode": 0},
        {"Name": "engine", "ExitCode": 3},
        {"Name": "collect"},
    ]

    assert engine_io.main(collect_cli(tmp_path, "--unscannable", "3")) == ExitCode.UNSCANNABLE
    assert engine_io.outcome(0, ok={0}, unscannable=set(), fetch_code=None) == ExitCode.SCANNED
