"""One attempt of a multi-container (``ecsProperties``) Batch job: its containers, run as ECS runs a task.

The local Batch service starts ``python -m filescan_local.ecs_task SPEC`` as the attempt's single
process (so a timeout or TerminateJob kills the whole process group, as it does for a plain job). This
supervisor starts the containers in ``dependsOn`` order and keeps a state file the service reads to
answer the task metadata endpoint and to describe the attempt. Rules (TaskContainerDependency,
https://docs.aws.amazon.com/batch/latest/APIReference/API_TaskContainerDependency.html, and
TaskContainerProperties ``essential``,
https://docs.aws.amazon.com/batch/latest/APIReference/API_TaskContainerProperties.html):

* ``START``: the dependency has started (or stopped); ``COMPLETE``: it has stopped; ``SUCCESS``: it
  exited 0. A ``SUCCESS`` dependency that stopped any other way can never be met: the dependent
  container never starts and is stopped itself (reason ``DependencyConditionNotMet``). A container
  stopped that way counts as stopped for ``COMPLETE`` (the ECS agent resolves ``COMPLETE`` on the
  dependency's known status being STOPPED), so a collector that depends on an engine with
  ``COMPLETE`` still runs when the engine never could.
* When an essential container stops (exits, or can never start), the task stops: the other
  containers are stopped (SIGTERM, then SIGKILL after a grace period) and the supervisor exits
  with the essential container's exit code.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

STOP_GRACE_SECONDS = 2.0
"""How long a stopped task's containers get between SIGTERM and SIGKILL (ECS's default is 30 s)."""
NEVER_STARTED_EXIT = 125
"""The supervisor's exit code when the essential container never started (docker's own code for it)."""
_CONDITIONS = frozenset({"START", "COMPLETE", "SUCCESS"})


@dataclasses.dataclass(frozen=True)
class ContainerSpec:
    """One container of the task, ready to run (command resolved, environment overrides)."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    essential: bool
    depends_on: list[tuple[str, str]]
    log_path: str
    docker_name: str
    cwd: str | None = None
    """Where a host-process container runs (the repository root: ``local_command`` paths are relative)."""


@dataclasses.dataclass
class _Container:
    spec: ContainerSpec
    status: str = "PENDING"
    """ECS's container ``KnownStatus``: PENDING, RUNNING, STOPPED."""
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None
    reason: str | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def started(self) -> bool:
        return self.started_at is not None

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "name": self.spec.name,
            "dockerName": self.spec.docker_name,
            "knownStatus": self.status,
            "essential": self.spec.essential,
            "logPath": self.spec.log_path,
        }
        for key, value in (
            ("exitCode", self.exit_code),
            ("reason", self.reason),
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
        ):
            if value is not None:
                result[key] = value
        return result


def validate(containers: list[ContainerSpec]) -> None:
    """Refuse what Batch refuses at registration: unknown dependencies or conditions, no essential one."""
    names = {container.name for container in containers}
    if not any(container.essential for container in containers):
        raise ValueError("a task needs at least one essential container")
    for container in containers:
        for dependency, condition in container.depends_on:
            if dependency not in names or condition not in _CONDITIONS:
                raise ValueError(f"container {container.name}: bad dependency {dependency} {condition}")
            if condition != "START" and next(c for c in containers if c.name == dependency).essential:
                raise ValueError(f"{condition} cannot be set on an essential container ({dependency})")


def _dependency_state(dependency: _Container, condition: str) -> bool | None:
    """Whether a dependency condition holds (True), may still hold (None) or never will (False)."""
    if dependency.status == "PENDING":
        return None
    if condition == "START":
        return True
    if dependency.status != "STOPPED":
        return None
    return condition == "COMPLETE" or dependency.exit_code == 0


class TaskSupervisor:
    """Runs the containers of one task attempt and records their states in ``state_path``."""

    def __init__(self, containers: list[ContainerSpec], state_path: Path) -> None:
        validate(containers)
        self._containers = {spec.name: _Container(spec) for spec in containers}
        self._state_path = state_path
        self._stopped_by: str | None = None

    def run(self, poll: float = 0.05) -> int:
        """Run the task to its end; the essential container's exit code (or NEVER_STARTED_EXIT)."""
        self._write()
        with contextlib.ExitStack() as cleanup:
            cleanup.callback(self._stop_all, "task stopped")
            while self._stopped_by is None:
                changed = self._start_ready() | self._reap()
                if changed:
                    self._write()
                if self._stopped_by is None and not changed:
                    time.sleep(poll)
        self._write()
        essential = self._containers[self._stopped_by]
        return essential.exit_code if essential.exit_code is not None else NEVER_STARTED_EXIT

    def terminate(self, signum: int, frame: object) -> None:
        """SIGTERM handler: stop every container, record it, exit."""
        self._stop_all("task stopped")
        self._write()
        sys.exit(128 + signum)

    def _start_ready(self) -> bool:
        changed = False
        for container in self._containers.values():
            if container.status != "PENDING":
                continue
            states = [
                (name, condition, _dependency_state(self._containers[name], condition))
                for name, condition in container.spec.depends_on
            ]
            failed = [(name, condition) for name, condition, state in states if state is False]
            if failed:
                name, condition = failed[0]
                container.status = "STOPPED"
                container.reason = f"DependencyConditionNotMet: {name} ({condition})"
                container.finished_at = time.time()
                self._essential_stopped(container)
                changed = True
            elif all(state for _, _, state in states):
                self._start(container)
                changed = True
        return changed

    def _start(self, container: _Container) -> None:
        spec = container.spec
        container.started_at = time.time()
        try:
            with open(spec.log_path, "ab") as sink:  # noqa: PTH123 - the child keeps its own descriptor
                container.process = subprocess.Popen(
                    spec.argv,
                    env={**os.environ, **spec.environment},
                    cwd=spec.cwd,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
        except OSError as error:
            container.status = "STOPPED"
            container.reason = f"CannotStartContainerError: {error}"
            container.finished_at = time.time()
            container.started_at = None
            self._essential_stopped(container)
            return
        container.status = "RUNNING"

    def _reap(self) -> bool:
        changed = False
        for container in self._containers.values():
            if container.status != "RUNNING" or container.process is None:
                continue
            code = container.process.poll()
            if code is None:
                continue
            container.status = "STOPPED"
            container.exit_code = code if code >= 0 else 128 - code
            container.finished_at = time.time()
            self._essential_stopped(container)
            changed = True
        return changed

    def _essential_stopped(self, container: _Container) -> None:
        if container.spec.essential and self._stopped_by is None:
            self._stopped_by = container.spec.name

    def _stop_all(self, reason: str) -> None:
        running = [c for c in self._containers.values() if c.status == "RUNNING" and c.process]
        for container in running:
            with contextlib.suppress(ProcessLookupError):
                container.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for container in running:
            assert container.process is not None
            try:
                code = container.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                container.process.kill()
                code = container.process.wait()
            container.status = "STOPPED"
            container.exit_code = code if code >= 0 else 128 - code
            container.reason = reason
            container.finished_at = time.time()
        for container in self._containers.values():
            if container.status == "PENDING":
                container.status = "STOPPED"
                container.reason = reason
                container.finished_at = time.time()

    def _write(self) -> None:
        document = {
            "stoppedBy": self._stopped_by,
            "containers": [container.state() for container in self._containers.values()],
        }
        partial = self._state_path.with_suffix(".tmp")
        partial.write_text(json.dumps(document))
        partial.replace(self._state_path)


def write_spec(path: Path, containers: list[ContainerSpec], state_path: Path) -> None:
    """Write the supervisor's input (no secrets: credentials travel in its process environment)."""
    document = {
        "state": str(state_path),
        "containers": [dataclasses.asdict(container) for container in containers],
    }
    path.write_text(json.dumps(document))


def read_spec(path: Path) -> tuple[list[ContainerSpec], Path]:
    """The containers and state path ``write_spec`` wrote."""
    document = json.loads(path.read_text())
    containers = [
        ContainerSpec(
            **{
                **item,
                "depends_on": [(str(name), str(condition)) for name, condition in item["depends_on"]],
            }
        )
        for item in document["containers"]
    ]
    return containers, Path(document["state"])


def read_state(path: Path) -> dict[str, Any] | None:
    """The supervisor's last state (``None`` before it wrote one)."""
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return document


def main(argv: list[str] | None = None) -> int:
    """``python -m filescan_local.ecs_task SPEC``: run one task attempt."""
    args = sys.argv[1:] if argv is None else argv
    containers, state_path = read_spec(Path(args[0]))
    supervisor = TaskSupervisor(containers, state_path)
    signal.signal(signal.SIGTERM, supervisor.terminate)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
