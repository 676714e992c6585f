"""The local Batch service in docker mode: attempts run as containers of the job definition's image.

Resources, read-only root and non-root user as on Fargate; a container killed for memory or time
ends the way Batch ends it, and no container is left behind.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filescan_local import docker_runner
from filescan_local.batch_model import TIMEOUT_REASON, ComputeEnvironment, JobDefinition, JobQueue
from filescan_local.batch_service import BatchService
from filescan_local.control_api import ControlServer
from filescan_local.ecs_local import TaskLauncher

# cgroup v2 files, else v1's, for the CPU quota (per 100 ms period) and the memory limit.
PROBE = (
    "import os, pathlib; "
    "read = lambda *paths: next(open(p).read().split()[0] for p in paths if os.path.exists(p)); "
    "print('uid', os.getuid()); "
    "print('cpus', read('/sys/fs/cgroup/cpu.max', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us')); "
    "print('memory', read('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes')); "
    "print('job', os.environ['AWS_BATCH_JOB_ID'], os.environ['GREETING']); "
    "pathlib.Path('/scratch/x').write_text('written'); "
    "print('scratch', pathlib.Path('/scratch/x').read_text()); "
    "pathlib.Path('/opt/x').write_text('no')"
)


@pytest.fixture
def batch(image: str, tmp_path: Path) -> Iterator[BatchService]:
    """A docker-mode Batch service with one definition on the scanner image (1 vCPU, 256 MiB)."""
    definition = JobDefinition(
        arn="arn:jd/probe:1",
        name="probe",
        parameters={},
        container={
            "image": image,
            "command": ["python", "-c", "Ref::code"],
            "environment": [{"name": "GREETING", "value": "hello"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "256"}],
            "ephemeralStorage": {"sizeInGiB": 1},
        },
        retry_strategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "*", "action": "RETRY"}]},
        timeout={},
        tags_propagate=False,
    )
    service = BatchService(
        [ComputeEnvironment("arn:ce/one", "one", "FARGATE", 2.0)],
        [JobQueue("arn:jq/q", "q", 1, ("arn:ce/one",))],
        [definition],
        sink=lambda events: None,
        process_environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        log_dir=tmp_path,
        use_docker=True,
    )
    service.start()
    yield service
    service.stop()


def _run(batch: BatchService, code: str, timeout: int | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"jobName": "probe", "jobQueue": "q", "jobDefinition": "probe"}
    request["parameters"] = {"code": code}
    if timeout:
        request["timeout"] = {"attemptDurationSeconds": timeout}
    job_id = batch.submit_job(request)["jobId"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = batch.describe_jobs([job_id])["jobs"][0]
        if job["status"] in {"SUCCEEDED", "FAILED"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def _leftovers() -> list[str]:
    result = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label={docker_runner.LABEL}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_given_a_job_definition_when_an_attempt_runs_in_a_container_then_it_runs_as_fargate_would(
    batch: BatchService, tmp_path: Path
) -> None:
    job = _run(batch, PROBE)
    assert job["status"] == "FAILED"  # writing /opt fails: the root filesystem is read-only
    log = "".join(path.read_text() for path in sorted(tmp_path.glob("*.log")))
    assert "uid 10001" in log
    assert "cpus 100000" in log
    assert f"memory {256 * 1024 * 1024}" in log
    assert "hello" in log
    assert "Read-only file system: '/opt/x'" in log
    assert "scratch written" in log
    assert _leftovers() == []


def test_given_a_container_out_of_memory_when_it_runs_then_it_ends_as_batch_ends_it(
    batch: BatchService,
) -> None:
    job = _run(batch, "b = bytearray(1024 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096])")
    assert job["status"] == "FAILED"
    assert len(job["attempts"]) == 2  # the retry strategy retries exit code 137
    for attempt in job["attempts"]:
        assert attempt["container"]["exitCode"] == 137
        assert attempt["container"]["reason"] == docker_runner.OOM_REASON
    assert job["statusReason"] == docker_runner.OOM_REASON
    assert _leftovers() == []


def test_given_a_container_over_its_timeout_when_it_runs_then_it_is_stopped_and_not_retried(
    batch: BatchService,
) -> None:
    started = time.monotonic()
    job = _run(batch, "import time; time.sleep(60)", timeout=3)
    assert time.monotonic() - started < 30
    assert job["status"] == "FAILED"
    assert job["statusReason"] == TIMEOUT_REASON
    assert len(job["attempts"]) == 1
    assert _leftovers() == []


READER = (
    "import json, os, pathlib, urllib.request; "
    "task = json.load(urllib.request.urlopen(os.environ['ECS_CONTAINER_METADATA_URI_V4'] + '/task')); "
    "codes = {c['Name']: c.get('ExitCode') for c in task['Containers']}; "
    "print('shared', pathlib.Path('/filescan/x').read_text(), 'writer', codes['writer'], 'uid', os.getuid())"
)


def test_given_a_multi_container_job_when_it_runs_in_docker_then_containers_share_the_volume_and_metadata(
    image: str, tmp_path: Path
) -> None:
    mount = [{"sourceVolume": "work", "containerPath": "/filescan"}]
    writer = "import pathlib; pathlib.Path('/filescan/x').write_text('hello')"
    definition = JobDefinition(
        arn="arn:jd/task:1",
        name="task",
        parameters={},
        container={},
        retry_strategy={},
        timeout={},
        tags_propagate=False,
        ecs_properties={
            "taskProperties": [
                {
                    "volumes": [{"name": "work"}],
                    "containers": [
                        {
                            "name": "writer",
                            "image": image,
                            "essential": False,
                            "mountPoints": mount,
                            "command": ["python", "-c", writer],
                        },
                        {
                            "name": "reader",
                            "image": image,
                            "mountPoints": mount,
                            "dependsOn": [{"containerName": "writer", "condition": "SUCCESS"}],
                            "command": ["python", "-c", READER],
                        },
                    ],
                }
            ]
        },
    )
    service = BatchService(
        [ComputeEnvironment("arn:ce/one", "one", "FARGATE", 2.0)],
        [JobQueue("arn:jq/q", "q", 1, ("arn:ce/one",))],
        [definition],
        sink=lambda events: None,
        process_environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
        log_dir=tmp_path,
        use_docker=True,
        launcher=TaskLauncher(None, frozenset({image}), use_docker=True),
    )
    server = ControlServer(service, lambda name, payload, asynchronous: (404, b"{}", False))
    service.metadata_base_url = f"{server.url}/v4"
    server.start()
    service.start()
    try:
        job_id = service.submit_job({"jobName": "t", "jobQueue": "q", "jobDefinition": "task"})["jobId"]
        deadline = time.monotonic() + 120
        while service.describe_jobs([job_id])["jobs"][0]["status"] not in {"SUCCEEDED", "FAILED"}:
            assert time.monotonic() < deadline, "the task did not finish"
            time.sleep(0.2)
    finally:
        service.stop()
        server.stop()
    job = service.describe_jobs([job_id])["jobs"][0]
    assert job["status"] == "SUCCEEDED", job
    assert "shared hello writer 0 uid 10001" in (tmp_path / f"{job_id}-1-reader.log").read_text()
    assert _leftovers() == []
