"""Multi-container (``ecsProperties``) jobs in the local Batch service: order, conditions, essential,
timeouts, the task metadata endpoint v4, events, and how engine containers run without Docker."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filescan_local.batch_model import TERMINAL, ComputeEnvironment, Job, JobDefinition, JobQueue, load_batch
from filescan_local.batch_service import BatchService
from filescan_local.control_api import ControlServer
from filescan_local.ecs_local import TaskLauncher, engine_name
from filescan_local.ecs_task import NEVER_STARTED_EXIT, ContainerSpec, validate
from filescan_local.template import Template
from filescan_shared.engines.catalogue import parse_catalogue
from tests.unit.local.batch_support import batch_client, wait_job

OURS = "filescan-scanner:local"
PY = sys.executable
WRITE = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.parent.mkdir(parents=True, exist_ok=True); "
FETCH = WRITE + "p.write_text(sys.argv[2]); sys.exit(int(sys.argv[3]))"
ENGINE = (
    "import os, pathlib, sys, time; pathlib.Path(sys.argv[3]).write_text(str(os.getpid())); "
    "time.sleep(float(sys.argv[4])); data = pathlib.Path(sys.argv[1]).read_text(); "
    "out = pathlib.Path(sys.argv[2]); out.parent.mkdir(parents=True, exist_ok=True); "
    "out.write_text(data.upper()); sys.exit(int(sys.argv[5]))"
)
COLLECT = (
    "import json, os, sys, urllib.request; "
    "task = json.load(urllib.request.urlopen(os.environ['ECS_CONTAINER_METADATA_URI_V4'] + '/task')); "
    "print(json.dumps(task)); "
    "engine = next(c for c in task['Containers'] if c['Name'] == 'engine'); "
    "sys.exit(0 if engine.get('ExitCode') in (0, 1) else 65)"
)
MOUNT = [{"sourceVolume": "work", "containerPath": "/filescan"}]
VENDOR_COMMAND = ["vendor-scan", "--out", "/filescan/output/result", "/filescan/input/object"]
COLLECT_COMMAND = ["filescan-engine-io", "collect", "--dir=/filescan/output/", "Ref::key"]


def _task_definition(tmp_path: Path) -> JobDefinition:
    pid_file = str(tmp_path / "engine.pid")
    containers = [
        {
            "name": "fetch",
            "image": OURS,
            "essential": False,
            "command": [PY, "-c", FETCH, "/filescan/input/object", "Ref::word", "Ref::fetch_code"],
            "mountPoints": MOUNT,
        },
        {
            "name": "engine",
            "image": OURS,
            "essential": False,
            "dependsOn": [{"containerName": "fetch", "condition": "SUCCESS"}],
            "command": [
                PY,
                "-c",
                ENGINE,
                "/filescan/input/object",
                "/filescan/output/result",
                pid_file,
                "Ref::engine_sleep",
                "Ref::engine_code",
            ],
            "mountPoints": MOUNT,
            "resourceRequirements": [{"type": "VCPU", "value": "0.5"}],
        },
        {
            "name": "collect",
            "image": OURS,
            "essential": True,
            "dependsOn": [{"containerName": "engine", "condition": "COMPLETE"}],
            "command": [PY, "-c", COLLECT],
            "mountPoints": MOUNT,
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}],
        },
    ]
    return dataclasses.replace(
        _ecs_definition("task", {"containers": containers, "volumes": [{"name": "work"}]}),
        parameters={"word": "hello", "fetch_code": "0", "engine_code": "1", "engine_sleep": "0"},
        retry_strategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "65", "action": "EXIT"}]},
    )


def _ecs_definition(name: str, task: dict[str, Any]) -> JobDefinition:
    """A multi-container job definition called ``name`` with one task (no parameters or retries)."""
    return JobDefinition(
        arn=f"arn:jd/{name}:1",
        name=name,
        parameters={},
        container={},
        retry_strategy={},
        timeout={},
        tags_propagate=False,
        ecs_properties={"taskProperties": [task]},
    )


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Any, list[dict[str, Any]], Path]]:
    events: list[dict[str, Any]] = []
    batch = BatchService(
        [ComputeEnvironment("arn:ce/one", "one", "FARGATE", 2.0)],
        [JobQueue("arn:jq/low", "low", 1, ("arn:ce/one",))],
        [_task_definition(tmp_path)],
        sink=events.extend,
        process_environment={"PATH": os.environ.get("PATH", "")},
        log_dir=tmp_path / "jobs",
        launcher=TaskLauncher(None, frozenset({OURS}), use_docker=False),
    )
    server = ControlServer(batch, lambda name, payload, asynchronous: (404, b"{}", False))
    batch.metadata_base_url = f"{server.url}/v4"
    batch.start()
    server.start()
    client = batch_client(server.url)
    try:
        yield client, events, tmp_path
    finally:
        server.stop()
        batch.stop()


def _wait(client: Any, job_id: str) -> dict[str, Any]:
    return wait_job(client, job_id, timeout=30)


def _run_task(client: Any, **parameters: str) -> dict[str, Any]:
    """Submit the three-container task with ``parameters`` and wait for its end."""
    job_id = client.submit_job(jobName="scan", jobQueue="low", jobDefinition="task", parameters=parameters)
    return _wait(client, job_id["jobId"])


def _exit_codes(attempt: dict[str, Any]) -> dict[str, int | None]:
    return {c["name"]: c.get("exitCode") for c in attempt["taskProperties"][0]["containers"]}


def test_given_a_three_container_job_when_it_runs_then_order_volume_metadata_and_events_match_ecs(
    service: tuple[Any, list[dict[str, Any]], Path],
) -> None:
    client, events, tmp_path = service
    job_id = client.submit_job(jobName="scan-1", jobQueue="low", jobDefinition="task")["jobId"]
    job = _wait(client, job_id)
    assert job["status"] == "SUCCEEDED", job.get("statusReason")
    assert job["statusReason"] == "Essential container in task exited"
    assert [_exit_codes(attempt) for attempt in job["attempts"]] == [{"fetch": 0, "engine": 1, "collect": 0}]
    assert "container" not in job
    described = {c["name"]: c for c in job["ecsProperties"]["taskProperties"][0]["containers"]}
    assert described["fetch"]["command"][-2:] == ["hello", "0"]  # Ref:: substituted
    assert described["engine"]["exitCode"] == 1
    # The volume is one directory shared by the attempt's containers.
    volume = next((tmp_path / "jobs").glob(f"{job_id}-1-volumes/work"))
    assert (volume / "output" / "result").read_text() == "HELLO"
    # collect read the engine's exit code from the task metadata endpoint v4.
    metadata = json.loads(next((tmp_path / "jobs").glob(f"{job_id}-1-collect.log")).read_text())
    by_name = {c["Name"]: c for c in metadata["Containers"]}
    assert (by_name["engine"]["KnownStatus"], by_name["engine"]["ExitCode"]) == ("STOPPED", 1)
    assert by_name["collect"]["KnownStatus"] == "RUNNING" and "ExitCode" not in by_name["collect"]
    assert by_name["fetch"]["ExitCode"] == 0 and metadata["TaskARN"].startswith("arn:aws:ecs:")
    # Events: the DescribeJobs shape, in order, carrying what the status and analysis functions read.
    mine = [event for event in events if event["jobId"] == job_id]
    assert [e["status"] for e in mine] == [
        "SUBMITTED",
        "PENDING",
        "RUNNABLE",
        "STARTING",
        "RUNNING",
        "SUCCEEDED",
    ]
    final = mine[-1]
    assert (final["jobName"], final["jobQueue"]) == ("scan-1", "arn:jq/low")
    assert _exit_codes(final["attempts"][0]) == {"fetch": 0, "engine": 1, "collect": 0}
    assert "ecsProperties" in final and "container" not in final


def test_given_a_success_dependency_that_fails_when_the_task_runs_then_the_dependent_never_starts(
    service: tuple[Any, list[dict[str, Any]], Path],
) -> None:
    client, _, tmp_path = service
    job = _run_task(client, fetch_code="3")
    assert job["status"] == "FAILED"
    # The engine never started; collect (COMPLETE on the stopped engine) ran, saw no ExitCode, exited 65.
    assert [_exit_codes(attempt) for attempt in job["attempts"]] == [
        {"fetch": 3, "engine": None, "collect": 65}
    ]
    reasons = {c["name"]: c.get("reason", "") for c in job["attempts"][0]["taskProperties"][0]["containers"]}
    assert reasons["engine"].startswith("DependencyConditionNotMet: fetch (SUCCESS)")
    assert not (tmp_path / "engine.pid").exists()


def test_given_an_engine_exit_the_collector_maps_to_65_when_it_ends_then_the_job_fails_without_retry(
    service: tuple[Any, list[dict[str, Any]], Path],
) -> None:
    job = _run_task(service[0], engine_code="2")
    assert job["status"] == "FAILED"
    assert [_exit_codes(attempt)["collect"] for attempt in job["attempts"]] == [65]


def test_given_a_task_past_its_timeout_when_it_is_killed_then_every_container_stops(
    service: tuple[Any, list[dict[str, Any]], Path],
) -> None:
    client, _, tmp_path = service
    job_id = client.submit_job(
        jobName="scan-4",
        jobQueue="low",
        jobDefinition="task",
        parameters={"engine_sleep": "60"},
        timeout={"attemptDurationSeconds": 2},
    )["jobId"]
    job = _wait(client, job_id)
    assert (job["status"], job["statusReason"]) == ("FAILED", "Job attempt duration exceeded timeout")
    pid = int((tmp_path / "engine.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        return "State:\tZ" not in status
    return True


def test_given_an_essential_container_that_exits_when_a_sidecar_still_runs_then_the_task_stops(
    tmp_path: Path,
) -> None:
    from filescan_local.ecs_task import TaskSupervisor, read_state  # noqa: PLC0415

    def spec(name: str, code: str, essential: bool, depends: list[tuple[str, str]]) -> ContainerSpec:
        return ContainerSpec(
            name=name,
            argv=[PY, "-c", code],
            environment={},
            essential=essential,
            depends_on=depends,
            log_path=str(tmp_path / f"{name}.log"),
            docker_name=name,
        )

    state = tmp_path / "state.json"
    started = time.monotonic()
    code = TaskSupervisor(
        [
            spec("sidecar", "import time; time.sleep(60)", False, []),
            spec("main", "import sys; sys.exit(7)", True, [("sidecar", "START")]),
        ],
        state,
    ).run()
    assert code == 7 and time.monotonic() - started < 10
    final = {c["name"]: c for c in (read_state(state) or {})["containers"]}
    assert final["sidecar"]["knownStatus"] == "STOPPED" and final["sidecar"]["exitCode"] == 143
    # An essential container that can never start stops the task with no exit code.
    never = TaskSupervisor(
        [
            spec("first", "import sys; sys.exit(1)", False, []),
            spec("main", "import sys; sys.exit(0)", True, [("first", "SUCCESS")]),
        ],
        tmp_path / "never.json",
    ).run()
    assert never == NEVER_STARTED_EXIT
    with pytest.raises(ValueError, match="essential"):
        validate([spec("a", "", False, [])])
    with pytest.raises(ValueError, match="cannot be set on an essential"):
        validate([spec("a", "", True, []), spec("b", "", True, [("a", "SUCCESS")])])


CATALOGUE = {
    "engines": [
        {
            "name": "vendor",
            "image": {"uri": "registry.example/vendor:1"},
            "command": ["vendor-scan", "--out", "{output}", "{input}"],
            "local_command": [PY, "-c", "print('local')", "{input}", "{output}", "{key}", "{input_uri}"],
        }
    ]
}


def test_given_a_foreign_engine_container_without_docker_when_launched_then_its_local_command_runs(
    tmp_path: Path,
) -> None:
    definition = _ecs_definition(
        "filescan-engine-vendor",
        {
            "volumes": [{"name": "filescan"}],
            "containers": [
                {
                    "name": "engine",
                    "image": "registry.example/vendor:1",
                    "command": VENDOR_COMMAND,
                    "environment": [{"name": "WORK", "value": "/filescan/output"}],
                    "mountPoints": [{"sourceVolume": "filescan", "containerPath": "/filescan"}],
                },
                {
                    "name": "collect",
                    "image": OURS,
                    "command": COLLECT_COMMAND,
                    "mountPoints": [{"sourceVolume": "filescan", "containerPath": "/filescan"}],
                },
            ],
        },
    )
    job = Job(
        job_id="j1",
        name="n",
        queue=JobQueue("arn:q", "q", 1, ()),
        definition=definition,
        parameters={"key": "uploads/a b.txt", "bucket": "b"},
        container={},
        retry_strategy={},
        timeout_seconds=None,
        depends_on=[],
        tags={},
        ecs_properties=definition.ecs_properties,
    )
    launcher = TaskLauncher(parse_catalogue(CATALOGUE), frozenset({OURS}), use_docker=False)
    task = launcher.build(
        job, 1, work_dir=tmp_path, variables={"V": "1"}, metadata_uri="http://m/v4/t", log_prefix="x"
    )
    engine, collect = task.containers
    volume = str(tmp_path / "filescan")
    assert engine.argv == [
        PY,
        "-c",
        "print('local')",
        f"{volume}/input/object",
        f"{volume}/output/result",
        "uploads/a b.txt",
        "s3://b/uploads/a b.txt",
    ]
    assert engine.environment["WORK"] == f"{volume}/output"
    assert engine.environment["ECS_CONTAINER_METADATA_URI_V4"] == "http://m/v4/t"
    assert collect.argv[1:] == ["collect", f"--dir={volume}/output/", "uploads/a b.txt"]
    assert task.docker_names == []  # no containers to remove without Docker
    docker = TaskLauncher(parse_catalogue(CATALOGUE), frozenset({OURS}), use_docker=True).build(
        job, 1, work_dir=tmp_path, variables={}, metadata_uri="u", log_prefix="x"
    )
    engine_run = docker.containers[0].argv
    assert engine_run[:2] == ["docker", "run"] and f"{volume}:/filescan" in engine_run
    assert engine_run[-4:] == ["vendor-scan", "--out", "/filescan/output/result", "/filescan/input/object"]
    assert engine_name("x", {"filescan:engine": "clamav"}) == "clamav"
    assert engine_name("filescan-engine-yara-cli", {}) == "yara-cli"
    assert engine_name("filescan-scanner", {}) is None


TEMPLATE = """
Resources:
  EngineJob:
    Type: AWS::Batch::JobDefinition
    Properties:
      JobDefinitionName: filescan-engine-clamav
      Type: container
      PlatformCapabilities: [FARGATE]
      Tags: {"filescan:engine": clamav}
      EcsProperties:
        TaskProperties:
          - Volumes: [{Name: filescan}]
            Containers:
              - Name: engine
                Image: clamav:1
                Essential: false
                Command: [clamscan, /filescan/input/object]
                MountPoints: [{SourceVolume: filescan, ContainerPath: /filescan}]
                Environment: [{Name: A, Value: b}]
              - Name: collect
                Image: scanner:1
                DependsOn: [{ContainerName: engine, Condition: COMPLETE}]
"""


def test_given_a_template_ecs_job_definition_when_loaded_then_it_has_the_batch_api_shape() -> None:
    (definition,) = load_batch(Template.from_text(TEMPLATE))[2]
    assert definition.tags == {"filescan:engine": "clamav"}
    task = (definition.ecs_properties or {})["taskProperties"][0]
    assert task["volumes"] == [{"name": "filescan"}]
    engine, collect = task["containers"]
    assert engine["mountPoints"] == [{"sourceVolume": "filescan", "containerPath": "/filescan"}]
    assert engine["environment"] == [{"name": "A", "value": "b"}] and engine["essential"] is False
    assert collect["dependsOn"] == [{"containerName": "engine", "condition": "COMPLETE"}]


def test_given_definitions_with_their_own_roles_when_jobs_run_then_each_signs_with_its_roles_key(
    tmp_path: Path,
) -> None:
    show = [PY, "-c", "import os; print(os.environ['AWS_ACCESS_KEY_ID'])"]
    task = _ecs_definition(
        "roles-task",
        {"taskRoleArn": "arn:role/engine", "containers": [{"name": "only", "image": OURS, "command": show}]},
    )
    plain = dataclasses.replace(
        task,
        arn="arn:jd/roles-plain:1",
        name="roles-plain",
        ecs_properties=None,
        container={"command": show, "jobRoleArn": "arn:role/scanner"},
    )
    batch = BatchService(
        [ComputeEnvironment("arn:ce/one", "one", "FARGATE", 2.0)],
        [JobQueue("arn:jq/low", "low", 1, ("arn:ce/one",))],
        [task, plain],
        sink=lambda events: None,
        process_environment={"PATH": os.environ.get("PATH", ""), "AWS_ACCESS_KEY_ID": "default"},
        log_dir=tmp_path,
        launcher=TaskLauncher(None, frozenset({OURS}), use_docker=False),
        role_keys={"arn:role/engine": "ASIALOCALENGINE", "arn:role/scanner": "ASIALOCALSCANNER"},
    )
    batch.start()
    try:
        ids = [
            batch.submit_job({"jobName": name, "jobQueue": "low", "jobDefinition": name})["jobId"]
            for name in ("roles-task", "roles-plain")
        ]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(j.status not in TERMINAL for j in batch.jobs()):
            time.sleep(0.05)
    finally:
        batch.stop()
    assert (tmp_path / f"{ids[0]}-1-only.log").read_text().strip() == "ASIALOCALENGINE"
    assert (tmp_path / f"{ids[1]}-1.log").read_text().strip() == "ASIALOCALSCANNER"
