"""How the containers of a multi-container (``ecsProperties``) job run on this machine.

Each declared volume gets a fresh directory per attempt (Fargate task storage lives as long as the
task). In Docker mode every container runs in its image with that directory bind-mounted at its
``containerPath``. Without Docker, filescan's own containers (the scanner image, or a
``filescan-...`` command) run their command from the development install, and a foreign engine's
container runs the engine's ``local_command`` from the catalogue; in both cases every argument and
environment value naming a volume's ``containerPath`` is rewritten to the attempt's directory.

A job definition belongs to the engine its ``filescan:engine`` tag names, else the engine its name
ends with (``...-engine-NAME``).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path
from typing import Any

from filescan_local import docker_runner
from filescan_local.batch_model import Job, substitute
from filescan_local.ecs_task import ContainerSpec
from filescan_local.template import REPO
from filescan_shared.engines.catalogue import Catalogue, EngineSpec

ENGINE_TAG = "filescan:engine"
ENGINE_NAME_MARKER = "-engine-"
METADATA_VARIABLE = "ECS_CONTAINER_METADATA_URI_V4"
OUR_COMMAND_PREFIX = "filescan-"
LOCAL_ENGINE_IMAGE = "filescan-engine-{name}:local"
"""The tag ``make engine-images`` gives an engine built from this repository (``image.build``)."""

# The container-side paths of the engine job shape (engines-design: the shared volume at /filescan).
VOLUME_PATHS = {"input": "input/object", "output": "output/result", "output_dir": "output"}


def resolve_binary(command: list[str]) -> list[str]:
    """The command with its program taken from this virtualenv when it is installed there."""
    if not command:
        return command
    binary = Path(sys.executable).parent / command[0]
    if binary.exists():
        return [str(binary), *command[1:]]
    found = shutil.which(command[0])
    return [found, *command[1:]] if found else command


def engine_name(definition_name: str, tags: dict[str, str]) -> str | None:
    """The engine a job definition runs: its ``filescan:engine`` tag, else its name's suffix."""
    if tags.get(ENGINE_TAG):
        return tags[ENGINE_TAG]
    if ENGINE_NAME_MARKER in definition_name:
        return definition_name.rsplit(ENGINE_NAME_MARKER, 1)[1]
    return None


@dataclasses.dataclass(frozen=True)
class LocalTask:
    """One attempt's containers, ready for the supervisor, and what to clean up afterwards."""

    containers: list[ContainerSpec]
    docker_names: list[str]
    volumes: dict[str, Path]


@dataclasses.dataclass(frozen=True)
class TaskLauncher:
    """Turns a job's ``ecsProperties`` into runnable containers for one attempt."""

    catalogue: Catalogue | None
    scanner_images: frozenset[str]
    use_docker: bool

    def build(
        self,
        job: Job,
        number: int,
        *,
        work_dir: Path,
        variables: dict[str, str],
        metadata_uri: str,
        log_prefix: str,
    ) -> LocalTask:
        """The containers of attempt ``number`` of ``job`` (volumes created under ``work_dir``)."""
        task = job.task_properties()
        volumes = {}
        for volume in task.get("volumes", []):
            path = work_dir / str(volume["name"])
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o777)  # the image's non-root user writes here
            volumes[str(volume["name"])] = path
        containers, names = [], []
        for container in task.get("containers", []):
            name = str(container["name"])
            docker_name = f"{docker_runner.container_name(job.job_id, number)}-{name}"
            mounts = {
                str(mount["containerPath"]): volumes[str(mount["sourceVolume"])]
                for mount in container.get("mountPoints", [])
                if str(mount.get("sourceVolume")) in volumes
            }
            environment = {
                **{item["name"]: str(item.get("value", "")) for item in container.get("environment", [])},
                **variables,
                METADATA_VARIABLE: metadata_uri,
            }
            command = substitute(list(container.get("command", [])), job.parameters)
            argv = self._argv(
                job, container, command, environment=environment, mounts=mounts, name=docker_name
            )
            if not self.use_docker:
                environment = {key: _rewrite(value, mounts) for key, value in environment.items()}
            containers.append(
                ContainerSpec(
                    name=name,
                    argv=argv,
                    environment=environment,
                    essential=bool(container.get("essential", True)),
                    depends_on=[
                        (str(item["containerName"]), str(item["condition"]).upper())
                        for item in container.get("dependsOn", [])
                    ],
                    log_path=f"{log_prefix}-{name}.log",
                    docker_name=docker_name,
                    cwd=None if self.use_docker else str(REPO),
                )
            )
            names.append(docker_name)
        return LocalTask(containers, names if self.use_docker else [], volumes)

    def _argv(
        self,
        job: Job,
        container: dict[str, Any],
        command: list[str],
        *,
        environment: dict[str, str],
        mounts: dict[str, Path],
        name: str,
    ) -> list[str]:
        engine = self._engine(job)
        image = str(container.get("image", ""))
        ours = image in self.scanner_images or (command[:1] and command[0].startswith(OUR_COMMAND_PREFIX))
        if self.use_docker:
            if not ours and engine is not None and engine.image.build is not None:
                image = LOCAL_ENGINE_IMAGE.format(name=engine.name)
            return docker_runner.run_command(
                {**container, "image": image},
                command,
                list(environment),
                name,
                mounts={str(path): target for target, path in mounts.items()},
            )
        if not ours:
            if engine is None or not engine.local_command:
                label = engine.name if engine else "no engine"
                return [
                    sys.executable,
                    "-c",
                    f"import sys; sys.exit('no local_command for {label} (image {image})')",
                ]
            command = local_command(engine, job.parameters, mounts)
        return resolve_binary([_rewrite(part, mounts) for part in command])

    def _engine(self, job: Job) -> EngineSpec | None:
        name = engine_name(job.definition.name, job.definition.tags)
        if name is None or self.catalogue is None:
            return None
        try:
            return self.catalogue.get(name)
        except KeyError:
            return None


def local_command(engine: EngineSpec, parameters: dict[str, str], mounts: dict[str, Path]) -> list[str]:
    """The engine's ``local_command`` with its placeholders filled in, as its image's command would be.

    ``{input}``/``{output}``/``{output_dir}`` name the shared volume's paths (the first mount point's
    ``containerPath``, rewritten to the attempt's directory by the caller), the S3 placeholders the
    job's parameters.
    """
    root = next(iter(mounts), "/filescan")
    values = {key: f"{root}/{path}" for key, path in VOLUME_PATHS.items()}
    values |= {key: parameters.get(key, "") for key in ("bucket", "key", "version_id", "scan_id")}
    values["input_uri"] = f"s3://{values['bucket']}/{values['key']}"
    return [_fill(part, values) for part in engine.local_command or []]


def _fill(template: str, values: dict[str, str]) -> str:
    result = template
    for key, value in values.items():
        result = result.replace("{" + key + "}", value)
    return result


def _rewrite(value: str, mounts: dict[str, Path]) -> str:
    """``value`` with every volume ``containerPath`` (a whole path component) replaced by its directory."""
    for target, path in sorted(mounts.items(), key=lambda item: -len(item[0])):
        if value == target or value.startswith(target + "/"):
            return str(path) + value[len(target) :]
        value = value.replace("=" + target + "/", "=" + str(path) + "/")
    return value


def task_metadata(job: Job, number: int, state: dict[str, Any] | None) -> dict[str, Any]:
    """The task metadata endpoint v4 ``/task`` answer for one attempt, from the supervisor's state.

    Field names as ECS documents them for Fargate
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-response.html):
    ``Containers[]`` with ``Name``, ``DockerName``, ``Image``, ``KnownStatus``, ``ExitCode`` (once
    exited), ``StartedAt``/``FinishedAt``.
    """
    images = {str(c["name"]): str(c.get("image", "")) for c in job.task_properties().get("containers", [])}
    containers = []
    for item in (state or {}).get("containers", []):
        entry: dict[str, Any] = {
            "DockerId": item["dockerName"],
            "Name": item["name"],
            "DockerName": item["dockerName"],
            "Image": images.get(item["name"], ""),
            "DesiredStatus": "STOPPED" if item["knownStatus"] == "STOPPED" else "RUNNING",
            "KnownStatus": item["knownStatus"],
            "Type": "NORMAL",
        }
        if "exitCode" in item:
            entry["ExitCode"] = item["exitCode"]
        for key, field in (("startedAt", "StartedAt"), ("finishedAt", "FinishedAt")):
            if key in item:
                entry[field] = _iso(float(item[key]))
        containers.append(entry)
    stopped = bool(state and state.get("stoppedBy"))
    return {
        "Cluster": "filescan-local",
        "TaskARN": task_arn(job, number),
        "Family": job.definition.name,
        "Revision": "1",
        "DesiredStatus": "STOPPED" if stopped else "RUNNING",
        "KnownStatus": "STOPPED" if stopped else "RUNNING",
        "LaunchType": "FARGATE",
        "Containers": containers,
    }


def task_arn(job: Job, number: int) -> str:
    """A task ARN for one attempt."""
    return f"arn:aws:ecs:us-east-1:123456789012:task/filescan-local/{job.job_id.replace(':', '-')}-{number}"


def _iso(seconds: float) -> str:
    import datetime  # noqa: PLC0415

    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC).isoformat().replace("+00:00", "Z")
