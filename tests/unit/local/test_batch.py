"""The local Batch service over HTTP with boto3: retry rules, timeouts, arrays, dependencies, listing."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filescan_local.batch_model import (
    Attempt,
    ComputeEnvironment,
    JobDefinition,
    JobQueue,
    apply_overrides,
    load_batch,
    retry_decision,
    substitute,
)
from filescan_local.batch_service import START_DELAY_VARIABLE, BatchService, start_delay_from_environment
from filescan_local.cli import build_parser, config_from_args
from filescan_local.control_api import ControlServer
from filescan_local.template import Template
from tests.unit.local.batch_support import batch_client, wait_job

STRATEGY = load_batch(Template.load())[2][0].retry_strategy


def test_given_the_templates_evaluate_on_exit_when_an_attempt_ends_then_retry_rules_follow_it() -> None:
    assert retry_decision(STRATEGY, Attempt(0, exit_code=65)) == "EXIT"
    assert retry_decision(STRATEGY, Attempt(0, exit_code=2)) == "EXIT"
    assert retry_decision(STRATEGY, Attempt(0, exit_code=1)) == "RETRY"
    assert retry_decision(STRATEGY, Attempt(0, status_reason="Your Spot Task was interrupted.")) == "RETRY"
    assert (
        retry_decision(
            {"evaluateOnExit": [{"onReason": "Cannot*", "action": "EXIT"}]}, Attempt(0, reason="CannotPull")
        )
        == "EXIT"
    )
    assert retry_decision({"evaluateOnExit": [{"onExitCode": "1*", "action": "exit"}]}, Attempt(0)) == "RETRY"


def test_given_parameters_and_overrides_when_applied_then_refs_are_substituted_and_merged() -> None:
    assert substitute(["x", "Ref::a", "Ref::missing"], {"a": "1"}) == ["x", "1", "Ref::missing"]
    merged = apply_overrides(
        {
            "environment": [{"name": "A", "value": "1"}],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}],
        },
        {
            "environment": [{"name": "B", "value": "2"}],
            "resourceRequirements": [{"type": "VCPU", "value": "0.5"}],
        },
    )
    assert merged["environment"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert {"type": "VCPU", "value": "0.5"} in merged["resourceRequirements"]
    assert {"type": "MEMORY", "value": "2048"} in merged["resourceRequirements"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    with _running_service(tmp_path) as running:
        yield running


@contextlib.contextmanager
def _running_service(tmp_path: Path, start_delay: float = 0.0) -> Iterator[tuple[Any, list[dict[str, Any]]]]:
    """A local Batch service (one 1-vCPU environment, two queues) and a boto3 client for it."""
    events: list[dict[str, Any]] = []
    env = ComputeEnvironment("arn:ce/one", "one", "FARGATE", 1.0)
    queues = [
        JobQueue("arn:jq/low", "low", 1, ("arn:ce/one",)),
        JobQueue("arn:jq/high", "high", 100, ("arn:ce/one",)),
    ]
    definition = JobDefinition(
        arn="arn:jd/test:1",
        name="test",
        parameters={"code": "0"},
        container={
            "command": [sys.executable, "-c", "import os, sys; sys.exit(int(sys.argv[1]))", "Ref::code"],
            "resourceRequirements": [{"type": "VCPU", "value": "1"}],
        },
        retry_strategy={"attempts": 2, "evaluateOnExit": [{"onExitCode": "65", "action": "EXIT"}]},
        timeout={},
        tags_propagate=False,
    )
    batch = BatchService(
        [env],
        queues,
        [definition],
        sink=events.extend,
        process_environment={},
        log_dir=tmp_path,
        start_delay=start_delay,
    )
    server = ControlServer(batch, lambda name, payload, asynchronous: (404, b"{}", False))
    batch.start()
    server.start()
    client = batch_client(server.url)
    try:
        yield client, events
    finally:
        server.stop()
        batch.stop()


_wait = wait_job


def test_given_submitted_jobs_when_they_run_then_lifecycle_retries_events_and_listing_match_batch(
    service: tuple[Any, list[dict[str, Any]]],
) -> None:
    client, events = service
    ok = client.submit_job(jobName="ok", jobQueue="arn:jq/low", jobDefinition="test")["jobId"]
    flaky = client.submit_job(
        jobName="flaky", jobQueue="low", jobDefinition="arn:jd/test:1", parameters={"code": "3"}
    )["jobId"]
    bad = client.submit_job(jobName="bad", jobQueue="low", jobDefinition="test", parameters={"code": "65"})[
        "jobId"
    ]
    assert _wait(client, ok)["status"] == "SUCCEEDED"
    flaky_job = _wait(client, flaky)
    assert flaky_job["status"] == "FAILED"
    assert [a["container"]["exitCode"] for a in flaky_job["attempts"]] == [3, 3]
    assert [a["container"]["exitCode"] for a in _wait(client, bad)["attempts"]] == [65]
    statuses = [e["status"] for e in events if e["jobId"] == ok]
    assert statuses == ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED"]
    assert all(e["jobQueue"] == "arn:jq/low" for e in events)
    listed = client.list_jobs(jobQueue="arn:jq/low", filters=[{"name": "JOB_NAME", "values": ["fla*"]}])
    assert [s["jobId"] for s in listed["jobSummaryList"]] == [flaky]
    assert client.list_jobs(jobQueue="arn:jq/low", jobStatus="SUCCEEDED")["jobSummaryList"][0]["jobId"] == ok


def test_given_timeouts_arrays_dependencies_and_terminations_when_jobs_run_then_they_end_as_batch_does(
    service: tuple[Any, list[dict[str, Any]]],
) -> None:
    client, _ = service
    slow = {"command": [sys.executable, "-c", "import time; time.sleep(30)"]}
    timed = client.submit_job(
        jobName="t",
        jobQueue="low",
        jobDefinition="test",
        containerOverrides=slow,
        timeout={"attemptDurationSeconds": 1},
    )["jobId"]
    job = _wait(client, timed)
    assert job["status"] == "FAILED"
    assert job["statusReason"] == "Job attempt duration exceeded timeout"
    assert len(job["attempts"]) == 1
    array = client.submit_job(
        jobName="arr",
        jobQueue="low",
        jobDefinition="test",
        arrayProperties={"size": 3},
        containerOverrides={
            "command": [
                sys.executable,
                "-c",
                "import os, sys; sys.exit(int(os.environ['AWS_BATCH_JOB_ARRAY_INDEX']) != 1 and 0)",
            ]
        },
    )["jobId"]
    after = client.submit_job(
        jobName="after", jobQueue="high", jobDefinition="test", dependsOn=[{"jobId": array}]
    )["jobId"]
    assert _wait(client, array)["status"] == "SUCCEEDED"
    assert client.describe_jobs(jobs=[f"{array}:2"])["jobs"][0]["status"] == "SUCCEEDED"
    assert _wait(client, after)["status"] == "SUCCEEDED"
    running = client.submit_job(jobName="r", jobQueue="low", jobDefinition="test", containerOverrides=slow)[
        "jobId"
    ]
    deadline = time.monotonic() + 10
    while (
        client.describe_jobs(jobs=[running])["jobs"][0]["status"] != "RUNNING" and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    client.terminate_job(jobId=running, reason="stop it")
    stopped = _wait(client, running)
    assert (stopped["status"], stopped["statusReason"]) == ("FAILED", "stop it")
    queued = client.submit_job(
        jobName="c", jobQueue="low", jobDefinition="test", dependsOn=[{"jobId": running}]
    )["jobId"]
    client.cancel_job(jobId=queued, reason="no")
    assert _wait(client, queued)["status"] == "FAILED"


def _status(client: Any, job_id: str) -> str:
    return str(client.describe_jobs(jobs=[job_id])["jobs"][0]["status"])


def test_given_a_start_delay_when_jobs_start_then_they_stay_starting_and_can_be_cancelled(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    touch = {"command": [sys.executable, "-c", f"open({str(marker)!r}, 'w').close()"]}
    with _running_service(tmp_path, start_delay=1.5) as (client, events):
        delayed = client.submit_job(jobName="d", jobQueue="low", jobDefinition="test")["jobId"]
        job = _wait(client, delayed)
        assert job["status"] == "SUCCEEDED"
        starting = next(e for e in events if e["jobId"] == delayed and e["status"] == "STARTING")
        assert job["startedAt"] - job["createdAt"] >= 1500
        assert starting["createdAt"] == job["createdAt"]

        # A job terminated while it provisions never runs; one waiting for the vCPU it holds can
        # still be cancelled.
        held = client.submit_job(jobName="h", jobQueue="low", jobDefinition="test", containerOverrides=touch)[
            "jobId"
        ]
        waiting = client.submit_job(jobName="w", jobQueue="low", jobDefinition="test")["jobId"]
        deadline = time.monotonic() + 5
        while _status(client, held) != "STARTING" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _status(client, held) == "STARTING"
        assert _status(client, waiting) == "RUNNABLE"
        client.cancel_job(jobId=waiting, reason="not needed")
        client.terminate_job(jobId=held, reason="stop provisioning")
        stopped = _wait(client, held, timeout=1.0)
        assert (stopped["status"], stopped["statusReason"]) == ("FAILED", "stop provisioning")
        assert (_status(client, waiting), marker.exists()) == ("FAILED", False)


def test_given_a_start_delay_when_set_by_env_or_flag_then_the_stack_uses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(START_DELAY_VARIABLE, raising=False)
    assert start_delay_from_environment() == 0.0
    monkeypatch.setenv(START_DELAY_VARIABLE, "2.5")
    assert start_delay_from_environment() == 2.5
    assert config_from_args(build_parser().parse_args(["up"])).start_delay == 2.5
    assert config_from_args(build_parser().parse_args(["up", "--start-delay", "30"])).start_delay == 30
    monkeypatch.setenv(START_DELAY_VARIABLE, "soon")
    with pytest.raises(ValueError, match=START_DELAY_VARIABLE):
        start_delay_from_environment()
