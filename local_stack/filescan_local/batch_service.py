"""The local Batch service: queues jobs, schedules them by priority within vCPU caps, runs them.

Jobs move SUBMITTED -> PENDING -> RUNNABLE -> STARTING -> RUNNING -> SUCCEEDED | FAILED, and every
transition is published as a "Batch Job State Change" event (in order, by one emitter thread) on
the default bus, where the template's rules route it. Each attempt really runs the job's command as
a subprocess, or, when ``use_docker`` is set, as a container of the job definition's image run as
Fargate runs it (:mod:`filescan_local.docker_runner`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filescan_local import docker_runner, ecs_local
from filescan_local.batch_model import (
    TERMINAL,
    TIMEOUT_REASON,
    Attempt,
    ComputeEnvironment,
    Job,
    JobDefinition,
    JobQueue,
    apply_overrides,
    new_job_id,
    now_ms,
    retry_decision,
)
from filescan_local.ecs_task import read_state, write_spec
from filescan_local.faults import FAULT_VARIABLE, Fault, parse_fault

log = logging.getLogger("filescan.local.batch")
EventSink = Callable[[list[dict[str, Any]]], None]
"""Publishes a list of "Batch Job State Change" details (the service calls it from one thread)."""
SPOT_REASON = "Your Spot Task was interrupted."
START_DELAY_VARIABLE = "FILESCAN_LOCAL_START_DELAY"
"""Seconds every attempt stays STARTING before its process starts (Fargate provisions a task in "about
30 seconds" and pulls the whole image: https://docs.aws.amazon.com/batch/latest/userguide/when-to-use-fargate.html).
Unset or 0: start at once."""


def start_delay_from_environment() -> float:
    """``FILESCAN_LOCAL_START_DELAY`` in seconds (0 when unset); a malformed value is an error."""
    text = os.environ.get(START_DELAY_VARIABLE, "").strip()
    try:
        delay = float(text) if text else 0.0
    except ValueError:
        raise ValueError(f"{START_DELAY_VARIABLE} must be a number of seconds, not {text!r}") from None
    if not 0 <= delay <= 3600:
        raise ValueError(f"{START_DELAY_VARIABLE} must be between 0 and 3600 seconds, not {delay}")
    return delay


class BatchError(Exception):
    """A request Batch would refuse (HTTP 400 ClientException)."""


@dataclasses.dataclass
class _Capacity:
    environment: ComputeEnvironment
    used: float = 0.0

    def fits(self, vcpus: float) -> bool:
        return self.used + vcpus <= self.environment.max_vcpus + 1e-9


class BatchService:
    """A small, thread-safe Batch: SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob."""

    def __init__(
        self,
        environments: list[ComputeEnvironment],
        queues: list[JobQueue],
        definitions: list[JobDefinition],
        *,
        sink: EventSink,
        process_environment: dict[str, str],
        log_dir: Path,
        use_docker: bool = False,
        start_delay: float = 0.0,
        launcher: ecs_local.TaskLauncher | None = None,
        role_keys: dict[str, str] | None = None,
    ) -> None:
        self._capacity = {env.arn: _Capacity(env) for env in environments}
        self._queues = {q.arn: q for q in queues} | {q.name: q for q in queues}
        self._definitions = {d.arn: d for d in definitions} | {d.name: d for d in definitions}
        self._jobs: dict[str, Job] = {}
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._containers: dict[str, list[str]] = {}
        self._attempt_jobs: dict[str, tuple[Job, int]] = {}
        """Running multi-container attempts by metadata token (the task metadata endpoint)."""
        self._launcher = launcher or ecs_local.TaskLauncher(None, frozenset(), use_docker)
        self._role_keys = role_keys or {}
        """Local access keys by role ARN: a job's calls are signed as its definition's job/task role."""
        self.metadata_base_url = ""
        """Where the task metadata endpoint is served (``<control server URL>/v4``); set by the stack."""
        self._lock = threading.Condition()
        self._events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._sink = sink
        self._process_environment = process_environment
        self._log_dir = log_dir
        self._use_docker = use_docker
        self._start_delay = start_delay
        self._faults: list[Fault] = []
        self._stopping = False
        self._threads: list[threading.Thread] = []

    @property
    def runs_containers(self) -> bool:
        """Whether attempts run as containers (docker mode) rather than host subprocesses."""
        return self._use_docker

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduler and the event emitter."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for target, name in ((self._schedule_loop, "batch-scheduler"), (self._emit_loop, "batch-events")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Kill running attempts, flush pending events and stop the threads."""
        with self._lock:
            self._stopping = True
            processes = list(self._processes.values())
            containers = [name for names in self._containers.values() for name in names]
            self._lock.notify_all()
        for process in processes:
            _kill(process)
        for name in containers:
            docker_runner.remove(name)
        self._events.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def inject_fault(self, fault: Fault) -> None:
        """Register a test fault (matched against the job's ``key`` parameter or name)."""
        with self._lock:
            self._faults.append(fault)

    # -- API ------------------------------------------------------------------------------------

    def submit_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """SubmitJob."""
        job_queue = self._queues.get(str(request.get("jobQueue")))
        definition = self._definition(str(request.get("jobDefinition")))
        if job_queue is None or definition is None:
            raise BatchError(f"unknown job queue or definition: {request.get('jobQueue')}")
        size = (request.get("arrayProperties") or {}).get("size")
        timeout = (request.get("timeout") or definition.timeout).get("attemptDurationSeconds")
        job = Job(
            job_id=new_job_id(),
            name=str(request["jobName"]),
            queue=job_queue,
            definition=definition,
            parameters={**definition.parameters, **(request.get("parameters") or {})},
            container=apply_overrides(definition.container, request.get("containerOverrides") or {}),
            retry_strategy=request.get("retryStrategy") or definition.retry_strategy,
            timeout_seconds=int(timeout) if timeout else None,
            depends_on=list(request.get("dependsOn") or []),
            tags=dict(request.get("tags") or {}),
            array_size=int(size) if size else None,
            ecs_properties=definition.ecs_properties,
        )
        with self._lock:
            for dependency in job.depends_on:
                if dependency.get("jobId") not in self._jobs:
                    raise BatchError(f"dependency {dependency.get('jobId')} does not exist")
            self._jobs[job.job_id] = job
            if job.array_size:
                for index in range(job.array_size):
                    self._add_child(job, index)
            self._publish(job)
            self._lock.notify_all()
        return {"jobArn": job.arn, "jobName": job.name, "jobId": job.job_id}

    def describe_jobs(self, job_ids: list[str]) -> dict[str, Any]:
        """DescribeJobs (unknown ids are left out, as on AWS)."""
        with self._lock:
            return {"jobs": [self._describe(self._jobs[i]) for i in job_ids if i in self._jobs]}

    def list_jobs(self, request: dict[str, Any]) -> dict[str, Any]:
        """ListJobs: by queue or array parent; ``filters`` (JOB_NAME...) ignore ``jobStatus``."""
        filters = request.get("filters") or []
        status = request.get("jobStatus") or "RUNNING"
        with self._lock:
            if request.get("arrayJobId"):
                parent = self._jobs.get(request["arrayJobId"])
                candidates = [self._jobs[child] for child in (parent.children if parent else [])]
            else:
                job_queue = self._queues.get(str(request.get("jobQueue")))
                candidates = [
                    job
                    for job in self._jobs.values()
                    if job_queue is not None and job.queue is job_queue and job.array_index is None
                ]
            selected = [
                job
                for job in candidates
                if (_matches_filters(job, filters) if filters else job.status == status)
            ]
            selected.sort(key=lambda job: job.created_at, reverse=True)
            return {"jobSummaryList": [job.summary() for job in selected]}

    def cancel_job(self, job_id: str, reason: str) -> None:
        """CancelJob: fails a job that has not started yet; a started one is left alone."""
        with self._lock:
            job = self._job(job_id)
            if job.status in {"SUBMITTED", "PENDING", "RUNNABLE"}:
                self._finish(job, "FAILED", reason)

    def terminate_job(self, job_id: str, reason: str) -> None:
        """TerminateJob: also stops a STARTING or RUNNING attempt (never retried)."""
        with self._lock:
            job = self._job(job_id)
            targets = [job, *(self._jobs[child] for child in job.children)]
            for target in targets:
                if target.status in TERMINAL:
                    continue
                process = self._processes.get(target.job_id)
                if process is not None:
                    target.cancel_reason = reason
                    _kill(process, signal.SIGTERM)
                elif target.status == "STARTING":
                    target.cancel_reason = reason  # its attempt ends before its process starts
                else:
                    self._finish(target, "FAILED", reason)
            self._lock.notify_all()

    def task_metadata(self, token: str) -> dict[str, Any] | None:
        """The task metadata endpoint v4 ``/task`` answer for a running attempt (``None``: unknown)."""
        with self._lock:
            found = self._attempt_jobs.get(token)
        if found is None:
            return None
        job, number = found
        return ecs_local.task_metadata(job, number, read_state(self._state_path(job, number)))

    def jobs(self) -> list[Job]:
        """A snapshot of every job (tests and the bench read it)."""
        with self._lock:
            return list(self._jobs.values())

    # -- scheduling -------------------------------------------------------------------------------

    def _schedule_loop(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                self._advance()
                self._lock.wait(timeout=0.5)

    def _advance(self) -> None:
        """One scheduling pass (under the lock): progress waiting jobs, start what fits."""
        for job in list(self._jobs.values()):
            if job.array_size is not None:
                self._advance_parent(job)
                continue
            if job.status == "SUBMITTED":
                self._set(job, "PENDING")
            if job.status == "PENDING":
                self._resolve_dependencies(job)
        runnable = sorted(
            (job for job in self._jobs.values() if job.status == "RUNNABLE" and job.array_size is None),
            key=lambda job: (-job.queue.priority, job.sequence),
        )
        for job in runnable:
            capacity = next(
                (
                    self._capacity[arn]
                    for arn in job.queue.compute_environments
                    if arn in self._capacity and self._capacity[arn].fits(job.vcpus)
                ),
                None,
            )
            if capacity is None:
                continue
            capacity.used += job.vcpus
            job.compute_environment = capacity.environment.arn
            self._set(job, "STARTING")
            threading.Thread(
                target=self._run_attempt, args=(job,), name=f"job-{job.job_id}", daemon=True
            ).start()

    def _resolve_dependencies(self, job: Job) -> None:
        states = [self._jobs[d["jobId"]].status for d in job.depends_on if d.get("jobId") in self._jobs]
        if "FAILED" in states:
            self._finish(job, "FAILED", "Dependent Job failed")
        elif all(state == "SUCCEEDED" for state in states):
            self._set(job, "RUNNABLE")

    def _advance_parent(self, job: Job) -> None:
        if job.status == "SUBMITTED":
            self._set(job, "PENDING")
        if job.status in TERMINAL:
            return
        children = [self._jobs[child] for child in job.children]
        if job.depends_on and any(child.status == "SUBMITTED" for child in children):
            return
        if all(child.status in TERMINAL for child in children):
            failed = sum(child.status == "FAILED" for child in children)
            reason = (
                f"{failed} of {len(children)} child jobs failed" if failed else "Array Child Jobs Succeeded"
            )
            self._finish(job, "FAILED" if failed else "SUCCEEDED", reason)

    def _add_child(self, parent: Job, index: int) -> None:
        child = dataclasses.replace(
            parent,
            job_id=f"{parent.job_id}:{index}",
            array_size=None,
            array_index=index,
            depends_on=list(parent.depends_on),
            attempts=[],
            children=[],
            sequence=parent.sequence,
        )
        child.container = dict(parent.container)
        child.container["environment"] = [
            *parent.container.get("environment", []),
            {"name": "AWS_BATCH_JOB_ARRAY_INDEX", "value": str(index)},
        ]
        parent.children.append(child.job_id)
        self._jobs[child.job_id] = child
        self._publish(child)

    # -- running ------------------------------------------------------------------------------------

    def _run_attempt(self, job: Job) -> None:
        number = len(job.attempts) + 1
        fault = self._fault_for(job, number)
        log_path = self._log_dir / f"{job.job_id.replace(':', '_')}-{number}.log"
        attempt = Attempt(started_at=now_ms(), log_stream=f"scanner/default/{job.job_id}/{number}")
        command, environment, containers = self._launch(job, fault, number)
        with self._lock:
            if not self._provision(job, attempt):
                return
            try:
                with log_path.open("wb") as sink:
                    process = subprocess.Popen(
                        command,
                        env=environment,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
            except OSError as error:
                attempt.reason = f"CannotStartContainerError: {error}"
                attempt.stopped_at = now_ms()
                self._end_attempt(job, attempt)
                return
            self._processes[job.job_id] = process
            self._containers[job.job_id] = containers
            job.attempts.append(attempt)
            job.started_at = job.started_at or attempt.started_at
            self._set(job, "RUNNING")
        interrupted = fault is not None and fault.mode == "spot"
        try:
            code = process.wait(timeout=0.3 if interrupted else job.timeout_seconds)
            interrupted = False
        except subprocess.TimeoutExpired:
            for name in containers:
                docker_runner.remove(name)
            _kill(process)
            code = process.wait()
            attempt.status_reason = SPOT_REASON if interrupted else TIMEOUT_REASON
        task = job.ecs_properties is not None and fault is None
        killed_for_memory = [docker_runner.finish(name) for name in containers]  # removes each one
        out_of_memory = any(killed_for_memory) and not task
        with self._lock:
            self._processes.pop(job.job_id, None)
            self._containers.pop(job.job_id, None)
            self._attempt_jobs.pop(_token(job, number), None)
            attempt.stopped_at = now_ms()
            exit_code: int | None = code if code >= 0 else 128 - code
            if task:
                exit_code = self._task_result(job, number, attempt, exit_code)
            if interrupted:
                attempt.reason = "Host EC2 (instance i-local) terminated."
            elif out_of_memory and attempt.status_reason is None:
                attempt.exit_code = 137
                attempt.reason = attempt.status_reason = docker_runner.OOM_REASON
            else:
                attempt.exit_code = exit_code
                attempt.status_reason = attempt.status_reason or (
                    job.cancel_reason or "Essential container in task exited"
                )
            job.attempts.remove(attempt)
            self._end_attempt(job, attempt)

    def _provision(self, job: Job, attempt: Attempt) -> bool:
        """Wait out the start delay (under the lock); whether the attempt may start its process.

        The job stays STARTING and holds its vCPUs, as while Fargate provisions a task. A job
        terminated meanwhile ends here without running; a stopping service just returns.
        """
        if self._start_delay:
            self._lock.wait_for(
                lambda: self._stopping or job.cancel_reason is not None, timeout=self._start_delay
            )
            attempt.started_at = now_ms()
        if self._stopping:
            return False
        if job.cancel_reason is not None:
            attempt.stopped_at = now_ms()
            attempt.status_reason = job.cancel_reason
            self._end_attempt(job, attempt)
            return False
        return True

    def _end_attempt(self, job: Job, attempt: Attempt) -> None:
        """Record a finished attempt, free its vCPUs, and retry or finish the job (under the lock)."""
        job.attempts.append(attempt)
        capacity = self._capacity.get(job.compute_environment or "")
        if capacity is not None:
            capacity.used -= job.vcpus
        if self._stopping:
            return
        if attempt.exit_code == 0 and not attempt.reason:
            self._finish(job, "SUCCEEDED", "Essential container in task exited")
        elif job.cancel_reason is not None:
            self._finish(job, "FAILED", job.cancel_reason)
        elif attempt.status_reason == TIMEOUT_REASON:
            self._finish(job, "FAILED", TIMEOUT_REASON)  # timed-out attempts are not retried
        elif (
            len(job.attempts) < int(job.retry_strategy.get("attempts", 1))
            and retry_decision(job.retry_strategy, attempt) == "RETRY"
        ):
            self._set(job, "RUNNABLE", attempt.status_reason)
        else:
            self._finish(job, "FAILED", attempt.status_reason or attempt.reason)
        self._lock.notify_all()

    def _launch(
        self, job: Job, fault: Fault | None, number: int
    ) -> tuple[list[str], dict[str, str], list[str]]:
        """Command line, process environment and container names (docker mode) of one attempt.

        In docker mode the container gets the job's variables and the stack's ``AWS_*`` endpoint and
        credentials by name; the values travel in the ``docker`` client's environment. Test faults
        always run as host subprocesses. A multi-container job's attempt is one supervisor process
        (:mod:`filescan_local.ecs_task`) running its containers.
        """
        variables = {**job.environment(), **self._batch_variables(job, number)}
        environment = {**self._process_environment, **variables}
        role = job.container.get("jobRoleArn") or job.task_properties().get("taskRoleArn")
        if role in self._role_keys:
            environment["AWS_ACCESS_KEY_ID"] = self._role_keys[role]
        if self._use_docker:
            environment |= {name: value for name, value in os.environ.items() if name.startswith("DOCKER_")}
        if fault is not None or (not self._use_docker and job.ecs_properties is None):
            return self._command(job, fault), environment, []
        if job.ecs_properties is not None:
            return self._launch_task(job, number, variables, environment)
        container = docker_runner.container_name(job.job_id, number)
        inside = [*(name for name in self._process_environment if name.startswith("AWS_")), *variables]
        command = docker_runner.run_command(job.container, job.command(), inside, container)
        return command, environment, [container]

    def _launch_task(
        self, job: Job, number: int, variables: dict[str, str], environment: dict[str, str]
    ) -> tuple[list[str], dict[str, str], list[str]]:
        token = _token(job, number)
        base = self._log_dir / f"{job.job_id.replace(':', '_')}-{number}"
        if self._use_docker:
            # The stack's endpoint and credentials by name, as for a single-container job.
            variables = {**{k: v for k, v in environment.items() if k.startswith("AWS_")}, **variables}
        task = self._launcher.build(
            job,
            number,
            work_dir=Path(f"{base}-volumes"),
            variables=variables,
            metadata_uri=f"{self.metadata_base_url}/{token}",
            log_prefix=str(base),
        )
        spec_path, state_path = Path(f"{base}-task.json"), self._state_path(job, number)
        write_spec(spec_path, task.containers, state_path)
        with self._lock:
            self._attempt_jobs[token] = (job, number)
        command = [sys.executable, "-m", "filescan_local.ecs_task", str(spec_path)]
        return command, environment, task.docker_names

    def _state_path(self, job: Job, number: int) -> Path:
        return self._log_dir / f"{job.job_id.replace(':', '_')}-{number}-task-state.json"

    def _task_result(self, job: Job, number: int, attempt: Attempt, code: int | None) -> int | None:
        """Record a finished task's containers on ``attempt``; the essential container's exit code.

        The task stops when an essential container stops; the job's exit code is that container's.
        An essential container that never started leaves the attempt without an exit code.
        """
        state = read_state(self._state_path(job, number)) or {}
        containers = []
        for item in state.get("containers", []):
            detail: dict[str, Any] = {
                "name": item["name"],
                "logStreamName": f"{attempt.log_stream}/{item['name']}",
                "networkInterfaces": [],
            }
            if "exitCode" in item:
                detail["exitCode"] = item["exitCode"]
            if item.get("reason"):
                detail["reason"] = item["reason"]
            containers.append(detail)
        attempt.containers = containers
        attempt.task_arn = ecs_local.task_arn(job, number)
        stopped_by = state.get("stoppedBy")
        essential = next((c for c in state.get("containers", []) if c["name"] == stopped_by), None)
        if essential is None:
            return code
        if "exitCode" not in essential:
            attempt.reason = essential.get("reason") or "CannotStartContainerError"
            return None
        return int(essential["exitCode"])

    def _command(self, job: Job, fault: Fault | None) -> list[str]:
        if fault is not None and fault.mode in {"crash", "exit"}:
            return [
                sys.executable,
                "-c",
                f"import sys; print('filescan-local fault'); sys.exit({fault.code})",
            ]
        command = job.command()
        if fault is not None and fault.mode == "spot":
            return [sys.executable, "-c", "import time; time.sleep(30)"]
        if fault is not None and fault.mode == "slow":
            resolved = ecs_local.resolve_binary(command)
            wrapper = f"import os, sys, time; time.sleep({fault.code}); os.execv(sys.argv[1], sys.argv[1:])"
            return [sys.executable, "-c", wrapper, *resolved]
        return ecs_local.resolve_binary(command)

    def _batch_variables(self, job: Job, number: int) -> dict[str, str]:
        return {
            "AWS_BATCH_JOB_ID": job.job_id,
            "AWS_BATCH_JOB_ATTEMPT": str(number),
            "AWS_BATCH_JQ_NAME": job.queue.name,
            "AWS_BATCH_CE_NAME": (job.compute_environment or "").rsplit("/", 1)[-1],
        }

    def _fault_for(self, job: Job, attempt_number: int) -> Fault | None:
        spec = job.environment().get(FAULT_VARIABLE)
        if spec:
            fault = parse_fault(spec, pattern="*")
            return fault if fault.applies(attempt_number) else None
        key = job.parameters.get("key", "")
        with self._lock:
            for fault in self._faults:
                if fnmatch.fnmatchcase(key, fault.pattern) or fnmatch.fnmatchcase(job.name, fault.pattern):
                    return fault if fault.applies(attempt_number) else None
        return None

    # -- state and events ---------------------------------------------------------------------------

    def _set(self, job: Job, status: str, reason: str | None = None) -> None:
        job.status = status
        job.status_reason = reason
        self._publish(job)

    def _finish(self, job: Job, status: str, reason: str | None) -> None:
        job.stopped_at = now_ms()
        self._set(job, status, reason)
        self._lock.notify_all()

    def _publish(self, job: Job) -> None:
        self._events.put(self._describe(job))

    def _describe(self, job: Job) -> dict[str, Any]:
        summary: dict[str, int] | None = None
        if job.array_size is not None:
            summary = {}
            for child in job.children:
                status = self._jobs[child].status
                summary[status] = summary.get(status, 0) + 1
        return job.describe(summary)

    def _emit_loop(self) -> None:
        while True:
            first = self._events.get()
            if first is None:
                return
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 10:
                    item = self._events.get_nowait()
                    if item is None:
                        self._send(batch)
                        return
                    batch.append(item)
            self._send(batch)

    def _send(self, batch: list[dict[str, Any]]) -> None:
        try:
            self._sink(batch)
        except Exception:
            log.exception("could not publish %d job state change events", len(batch))

    def _definition(self, reference: str) -> JobDefinition | None:
        found = self._definitions.get(reference)
        if found is None and ":" in reference:
            found = self._definitions.get(reference.rsplit(":", 1)[0].rsplit("/", 1)[-1])
        return found

    def _job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise BatchError(f"job {job_id} does not exist")
        return job


def _token(job: Job, number: int) -> str:
    """The per-attempt path segment of the task metadata endpoint."""
    return f"{job.job_id.replace(':', '-')}-{number}"


def _matches_filters(job: Job, filters: list[dict[str, Any]]) -> bool:
    for item in filters:
        values = item.get("values") or []
        name = item.get("name")
        if name == "JOB_NAME" and not any(fnmatch.fnmatchcase(job.name, value) for value in values):
            return False
        if name == "JOB_DEFINITION" and not any(
            value in {job.definition.arn, job.definition.name} for value in values
        ):
            return False
        if name == "AFTER_CREATED_AT" and not all(job.created_at > int(value) for value in values):
            return False
        if name == "BEFORE_CREATED_AT" and not all(job.created_at < int(value) for value in values):
            return False
    return True


def _kill(process: subprocess.Popen[bytes], sig: signal.Signals = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def events_sink(events_client: Any) -> EventSink:
    """A sink that puts "Batch Job State Change" events on the default bus with ``source=aws.batch``."""

    def sink(details: list[dict[str, Any]]) -> None:
        entries = [
            {
                "Source": "aws.batch",
                "DetailType": "Batch Job State Change",
                "Resources": [detail["jobArn"]],
                "Detail": json.dumps(detail),
                "EventBusName": "default",
            }
            for detail in details
        ]
        response = events_client.put_events(Entries=entries)
        if response.get("FailedEntryCount"):
            log.error("put_events failed for %s entries", response["FailedEntryCount"])

    return sink
