"""Run a Batch job attempt as a container, the way Batch on Fargate runs the job definition.

The container gets the job definition's image and command, its environment (values passed through
the ``docker`` client's environment, never on its command line), ``--cpus``/``--memory`` from the
``resourceRequirements`` (after container overrides), a read-only root filesystem, ``/scratch`` as
the only writable path (a tmpfs capped at the ephemeral storage size), the image's non-root user
and host networking (the local stack's endpoints are on 127.0.0.1).

A container the kernel killed for memory ends like a Fargate task does: exit code 137 and the
status reason ECS reports, ``OutOfMemoryError: Container killed due to memory usage``
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/out-of-memory.html).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from typing import Any

OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
LABEL = "org.filescan.local-batch"
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")
DEFAULT_SCRATCH_GIB = 20
"""Fargate's default ephemeral storage when the definition names none."""


def container_name(job_id: str, attempt: int) -> str:
    """A container name for one attempt (Docker allows ``[a-zA-Z0-9][a-zA-Z0-9_.-]*``)."""
    return f"filescan-job-{_UNSAFE.sub('-', job_id)}-{attempt}"


def _requirement(container: dict[str, Any], kind: str) -> str | None:
    for item in container.get("resourceRequirements", []):
        if item.get("type") == kind:
            return str(item["value"])
    return None


def run_command(
    container: dict[str, Any],
    command: list[str],
    environment: list[str],
    name: str,
    *,
    mounts: dict[str, str] | None = None,
) -> list[str]:
    """The ``docker run`` command line for one attempt (or one container of a multi-container task).

    ``environment`` lists variable names only; the caller passes their values in the client's
    process environment, so no value appears in a process listing. ``mounts`` maps host directories
    to container paths (a task's shared volumes).
    """
    vcpus = _requirement(container, "VCPU") or str(container.get("vcpus", 1))
    memory = _requirement(container, "MEMORY") or str(container.get("memory", 2048))
    scratch = int((container.get("ephemeralStorage") or {}).get("sizeInGiB", DEFAULT_SCRATCH_GIB))
    variables = [part for variable in environment for part in ("--env", variable)]
    volumes = [part for host, target in (mounts or {}).items() for part in ("--volume", f"{host}:{target}")]
    return [
        "docker",
        "run",
        "--name",
        name,
        "--label",
        LABEL,
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        f"/scratch:rw,nosuid,nodev,size={scratch}g,uid=10001,gid=10001,mode=0700",
        "--cpus",
        vcpus,
        "--memory",
        f"{memory}m",
        "--memory-swap",
        f"{memory}m",
        "--security-opt",
        "no-new-privileges",
        "--cap-drop",
        "ALL",
        *variables,
        *volumes,
        str(container.get("image", "")),
        *command,
    ]


def finish(name: str) -> bool:
    """Remove the attempt's container; whether the kernel killed it for memory."""
    try:
        result = subprocess.run(
            ["docker", "inspect", "--format", "{{json .State}}", name],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        state = json.loads(result.stdout) if result.returncode == 0 else {}
    finally:
        remove(name)
    return bool(state.get("OOMKilled"))


def remove(name: str) -> None:
    """Force-remove a container (killing it if it still runs); a missing one is fine."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            ["docker", "rm", "--force", name],  # noqa: S607
            capture_output=True,
            timeout=60,
            check=False,
        )


def mode_from_environment() -> bool | None:
    """``FILESCAN_LOCAL_DOCKER``: ``1`` containers, ``0`` subprocesses, unset: decide at start."""
    value = os.environ.get("FILESCAN_LOCAL_DOCKER", "").strip().lower()
    if value in {"1", "true", "yes"}:
        return True
    if value in {"0", "false", "no"}:
        return False
    return None


def available(image: str) -> bool:
    """Whether a Docker engine answers and already holds ``image`` (the default for docker mode)."""
    if shutil.which("docker") is None:
        return False
    try:
        result = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", image],  # noqa: S607
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
