"""The small-file fast path end to end on the local stack: the scanner Lambda, and its Batch fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filescan_scanner import cli
from filescan_shared.pipeline.sizing import MiB
from tests.e2e.conftest import Pipeline, start_pipeline

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
CRASH_PREFIX = "uploads/lambda crash/"


@pytest.fixture(scope="module")
def fast_pipeline() -> Iterator[Pipeline]:
    """A stack with the fast path on (the local default is off) and jobs as subprocesses."""
    yield from start_pipeline(parameters={"FastPathMaxBytes": str(64 * MiB)}, use_docker=False)


@pytest.fixture
def lambda_crashes_on_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process scanner Lambda dies on objects under ``CRASH_PREFIX`` (the Batch job, a
    separate process, is unaffected): a crash the fast path must hand to Batch."""
    real = cli._run

    def crashing(job: Any, settings: Any, work_dir: Path, s3: Any) -> int:
        if str(job.key).startswith(CRASH_PREFIX):
            raise MemoryError("injected: the Lambda ran out of memory")
        return real(job, settings, work_dir, s3)

    monkeypatch.setattr(cli, "_run", crashing)


def test_given_a_burst_of_60_small_files_when_uploaded_then_all_end_by_the_lambda_with_no_batch_job(
    fast_pipeline: Pipeline,
) -> None:
    names = ["plain ✓ {i}.txt", "with space {i}.bin", "ünïcødé/文件 {i}.txt", "plus+percent% {i}.dat"]
    uploads = []
    for i in range(60):
        malicious = i % 5 == 0
        key = f"uploads/burst/{names[i % len(names)].format(i=i)}"
        uploads.append(
            (fast_pipeline.put(key, EICAR if malicious else f"harmless {i}\n".encode()), malicious)
        )

    records = fast_pipeline.wait([upload for upload, _ in uploads], timeout=240)

    assert len(records) == 60
    for upload, malicious in uploads:
        record = records[upload.scan_id]
        assert record["status"] == "COMPLETE", (upload.key, record.get("failure_reason"))
        assert record["verdict"] == ("malicious" if malicious else "clean"), upload.key
        assert record["job_queue"].startswith("lambda:") and "job_id" not in record
        assert record["cost"]["capacity"] == "lambda"
        assert fast_pipeline.jobs_named(upload.scan_id) == []


def test_given_the_lambda_crashes_on_a_file_when_uploaded_then_it_completes_through_the_batch_fallback(
    fast_pipeline: Pipeline, lambda_crashes_on_prefix: None
) -> None:
    upload = fast_pipeline.put(f"{CRASH_PREFIX}eicar ü.com", EICAR)

    record = fast_pipeline.wait([upload], timeout=240)[upload.scan_id]

    assert (record["status"], record["verdict"]) == ("COMPLETE", "malicious")
    (job,) = fast_pipeline.jobs_named(upload.scan_id)
    assert record["job_id"] == job.job_id
    assert record["cost"]["capacity"] != "lambda"
