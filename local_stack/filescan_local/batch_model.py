"""The local Batch service's data: queues, compute environments, the job definition, jobs.

Pure logic, no threads or processes: ``Ref::`` parameter substitution, container overrides, vCPU
accounting, the ``evaluateOnExit`` decision and the job's AWS-shaped JSON (DescribeJobs and the
"Batch Job State Change" event ``detail`` share it, as on AWS).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import time
import uuid
from typing import Any

from filescan_local.template import ACCOUNT, REGION, Template

TERMINAL = frozenset({"SUCCEEDED", "FAILED"})
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
_sequence = itertools.count()


def now_ms() -> int:
    """Epoch milliseconds, as Batch reports times."""
    return int(time.time() * 1000)


@dataclasses.dataclass(frozen=True)
class ComputeEnvironment:
    """A compute environment: its vCPU cap is the local concurrency limit."""

    arn: str
    name: str
    kind: str
    max_vcpus: float


@dataclasses.dataclass(frozen=True)
class JobQueue:
    """A job queue: higher priority is dispatched first; compute environments in order."""

    arn: str
    name: str
    priority: int
    compute_environments: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class JobDefinition:
    """A container job definition, in the Batch API's (camelCase) shape."""

    arn: str
    name: str
    parameters: dict[str, str]
    container: dict[str, Any]
    retry_strategy: dict[str, Any]
    timeout: dict[str, Any]
    tags_propagate: bool
    ecs_properties: dict[str, Any] | None = None
    """A multi-container job's ``ecsProperties`` (``taskProperties[0].containers``...); else ``None``."""
    tags: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Attempt:
    """One attempt of a job."""

    started_at: int
    stopped_at: int | None = None
    exit_code: int | None = None
    status_reason: str | None = None
    reason: str | None = None
    log_stream: str = ""
    containers: list[dict[str, Any]] | None = None
    """A multi-container job's containers (``AttemptTaskContainerDetails``); ``None`` for a plain job."""
    task_arn: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The attempt as Batch describes it (``taskProperties`` instead of ``container`` for ECS jobs).

        https://docs.aws.amazon.com/batch/latest/APIReference/API_AttemptDetail.html
        """
        if self.containers is not None:
            task = {"taskArn": self.task_arn, "containers": self.containers}
            return self._times({"taskProperties": [task]})
        container: dict[str, Any] = {"logStreamName": self.log_stream, "networkInterfaces": []}
        if self.exit_code is not None:
            container["exitCode"] = self.exit_code
        if self.reason:
            container["reason"] = self.reason
        return self._times({"container": container})

    def _times(self, result: dict[str, Any]) -> dict[str, Any]:
        result["startedAt"] = self.started_at
        if self.stopped_at is not None:
            result["stoppedAt"] = self.stopped_at
        if self.status_reason:
            result["statusReason"] = self.status_reason
        return result


@dataclasses.dataclass
class Job:
    """A submitted job (an array parent, an array child or a plain job)."""

    job_id: str
    name: str
    queue: JobQueue
    definition: JobDefinition
    parameters: dict[str, str]
    container: dict[str, Any]
    retry_strategy: dict[str, Any]
    timeout_seconds: int | None
    depends_on: list[dict[str, str]]
    tags: dict[str, str]
    array_size: int | None = None
    array_index: int | None = None
    status: str = "SUBMITTED"
    status_reason: str | None = None
    created_at: int = dataclasses.field(default_factory=now_ms)
    started_at: int | None = None
    stopped_at: int | None = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    compute_environment: str | None = None
    children: list[str] = dataclasses.field(default_factory=list)
    sequence: int = dataclasses.field(default_factory=lambda: next(_sequence))
    cancel_reason: str | None = None
    ecs_properties: dict[str, Any] | None = None

    def task_properties(self) -> dict[str, Any]:
        """A multi-container job's task (``ecsProperties.taskProperties[0]``); ``{}`` for a plain job."""
        tasks = (self.ecs_properties or {}).get("taskProperties") or [{}]
        return dict(tasks[0])

    @property
    def arn(self) -> str:
        """The job's ARN."""
        return f"arn:aws:batch:{REGION}:{ACCOUNT}:job/{self.job_id}"

    @property
    def vcpus(self) -> float:
        """VCPUs one attempt reserves (``resourceRequirements`` VCPU, else legacy ``vcpus``, else 1).

        A multi-container job reserves the sum of its containers' (the Fargate task's size).
        """
        if self.ecs_properties is not None:
            return sum(_vcpus(container) for container in self.task_properties().get("containers", []))
        return _vcpus(self.container)

    def command(self) -> list[str]:
        """The container command with ``Ref::name`` replaced by the job's parameters."""
        return substitute(self.container.get("command", []), self.parameters)

    def environment(self) -> dict[str, str]:
        """The container environment (definition, then overrides)."""
        return {item["name"]: str(item.get("value", "")) for item in self.container.get("environment", [])}

    def summary(self) -> dict[str, Any]:
        """The job as ListJobs summarises it."""
        result: dict[str, Any] = {
            "jobArn": self.arn,
            "jobId": self.job_id,
            "jobName": self.name,
            "createdAt": self.created_at,
            "status": self.status,
            "jobDefinition": self.definition.arn,
        }
        for key, value in (
            ("statusReason", self.status_reason),
            ("startedAt", self.started_at),
            ("stoppedAt", self.stopped_at),
        ):
            if value is not None:
                result[key] = value
        if self.attempts and self.attempts[-1].exit_code is not None:
            result["container"] = {"exitCode": self.attempts[-1].exit_code}
        if self.array_size is not None:
            result["arrayProperties"] = {"size": self.array_size}
        elif self.array_index is not None:
            result["arrayProperties"] = {"index": self.array_index}
        return result

    def describe(self, child_statuses: dict[str, int] | None = None) -> dict[str, Any]:
        """The job as DescribeJobs (and the state-change event's ``detail``) shows it.

        A multi-container job has ``ecsProperties`` (each container's command substituted, and its
        exit code from the last attempt) instead of ``container``, as DescribeJobs documents
        (https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html).
        """
        result = self._describe_common(child_statuses)
        if self.ecs_properties is None:
            result["container"] = self._container_detail()
        else:
            result["ecsProperties"] = self._ecs_detail()
        return result

    def _ecs_detail(self) -> dict[str, Any]:
        task = self.task_properties()
        last = {item["name"]: item for item in (self.attempts[-1].containers or [])} if self.attempts else {}
        containers = []
        for container in task.get("containers", []):
            detail = {**container, "command": substitute(container.get("command", []), self.parameters)}
            detail.update(
                {key: value for key, value in last.get(container.get("name"), {}).items() if key != "name"}
            )
            containers.append(detail)
        return {"taskProperties": [{**task, "containers": containers}]}

    def _container_detail(self) -> dict[str, Any]:
        container = dict(self.container)
        container["command"] = self.command()
        if self.attempts:
            last = self.attempts[-1]
            container["logStreamName"] = last.log_stream
            if last.exit_code is not None:
                container["exitCode"] = last.exit_code
            if last.reason:
                container["reason"] = last.reason
        return container

    def _describe_common(self, child_statuses: dict[str, int] | None) -> dict[str, Any]:
        result = self.summary()
        result.pop("container", None)
        result.update(
            {
                "jobQueue": self.queue.arn,
                "attempts": [attempt.to_json() for attempt in self.attempts],
                "retryStrategy": self.retry_strategy,
                "dependsOn": self.depends_on,
                "parameters": self.parameters,
                "tags": self.tags,
                "propagateTags": self.definition.tags_propagate,
                "platformCapabilities": ["FARGATE"],
            }
        )
        if self.timeout_seconds:
            result["timeout"] = {"attemptDurationSeconds": self.timeout_seconds}
        if self.array_size is not None:
            result["arrayProperties"] = {"size": self.array_size, "statusSummary": child_statuses or {}}
        return result


def _vcpus(container: dict[str, Any]) -> float:
    for requirement in container.get("resourceRequirements", []):
        if requirement.get("type") == "VCPU":
            return float(requirement["value"])
    return float(container.get("vcpus", 1))


def substitute(command: list[str], parameters: dict[str, str]) -> list[str]:
    """Batch's ``Ref::name`` substitution: a whole argument naming a known parameter is replaced."""
    result = []
    for argument in command:
        if argument.startswith("Ref::") and argument[5:] in parameters:
            result.append(parameters[argument[5:]])
        else:
            result.append(argument)
    return result


def apply_overrides(container: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The job's container: the definition's, with SubmitJob ``containerOverrides`` applied.

    ``command`` replaces; ``environment`` merges by name; ``resourceRequirements`` replace by type.
    """
    merged = dict(container)
    if overrides.get("command"):
        merged["command"] = list(overrides["command"])
    if overrides.get("environment"):
        environment = {item["name"]: item for item in merged.get("environment", [])}
        environment.update({item["name"]: item for item in overrides["environment"]})
        merged["environment"] = list(environment.values())
    if overrides.get("resourceRequirements"):
        requirements = {item["type"]: item for item in merged.get("resourceRequirements", [])}
        requirements.update({item["type"]: item for item in overrides["resourceRequirements"]})
        merged["resourceRequirements"] = list(requirements.values())
    for legacy in ("vcpus", "memory"):
        if overrides.get(legacy) is not None:
            merged[legacy] = overrides[legacy]
    return merged


def retry_decision(strategy: dict[str, Any], attempt: Attempt) -> str:
    """``RETRY`` or ``EXIT`` for a failed attempt: the first ``evaluateOnExit`` entry that matches wins.

    An entry matches when each condition it names matches (glob patterns; ``onExitCode`` never
    matches an attempt without an exit code). No matching entry means RETRY, as on AWS.
    """
    for entry in strategy.get("evaluateOnExit", []):
        checks = (
            ("onExitCode", None if attempt.exit_code is None else str(attempt.exit_code)),
            ("onStatusReason", attempt.status_reason),
            ("onReason", attempt.reason),
        )
        named = [(pattern, entry[key]) for key, pattern in checks if key in entry]
        if named and all(value is not None and fnmatch.fnmatchcase(value, glob) for value, glob in named):
            return str(entry["action"]).upper()
    return "RETRY"


def new_job_id() -> str:
    """A job id shaped like AWS's (a UUID)."""
    return str(uuid.uuid4())


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {key[:1].lower() + key[1:]: _camel(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def load_batch(template: Template) -> tuple[list[ComputeEnvironment], list[JobQueue], list[JobDefinition]]:
    """The compute environments, job queues and job definitions ``template`` declares."""
    environments = []
    for logical in template.of_type("AWS::Batch::ComputeEnvironment"):
        resources = template.properties(logical).get("ComputeResources", {})
        environments.append(
            ComputeEnvironment(
                arn=template.arn(logical),
                name=template.physical_name(logical),
                kind=str(resources.get("Type", "FARGATE")),
                max_vcpus=float(resources.get("MaxvCpus", 256)),
            )
        )
    queues = []
    for logical in template.of_type("AWS::Batch::JobQueue"):
        props = template.properties(logical)
        order = sorted(props.get("ComputeEnvironmentOrder", []), key=lambda item: int(item["Order"]))
        queues.append(
            JobQueue(
                arn=template.arn(logical),
                name=template.physical_name(logical),
                priority=int(props.get("Priority", 1)),
                compute_environments=tuple(str(item["ComputeEnvironment"]) for item in order),
            )
        )
    definitions = []
    for logical in template.of_type("AWS::Batch::JobDefinition"):
        props = template.properties(logical)
        definitions.append(
            JobDefinition(
                arn=template.arn(logical),
                name=template.physical_name(logical),
                parameters={key: str(value) for key, value in props.get("Parameters", {}).items()},
                container=_camel(props.get("ContainerProperties", {})),
                retry_strategy=_camel(props.get("RetryStrategy", {"Attempts": 1})),
                timeout=_camel(props.get("Timeout", {})),
                tags_propagate=bool(props.get("PropagateTags", False)),
                ecs_properties=_camel(props["EcsProperties"]) if "EcsProperties" in props else None,
                tags={str(key): str(value) for key, value in (props.get("Tags") or {}).items()},
            )
        )
    return environments, queues, definitions
