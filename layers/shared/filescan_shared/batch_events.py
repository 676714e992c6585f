"""The "Batch Job State Change" event, parsed into what filescan uses of it.

Only the fields filescan reads are modelled; everything else is ignored, so new fields AWS adds do
not break parsing. Times are epoch milliseconds, as Batch sends them. Values are bounded as Batch's
own are (numbers DynamoDB can store, at most 10 attempts, identifiers of ARN length); free text is
truncated, so no event can make a scan record outgrow its item.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from filescan_shared.ids import (
    bulk_child_scan_id,
    bulk_id_from_job_name,
    engine_from_job_name,
    is_scan_id,
    scan_id_from_job_name,
)
from filescan_shared.observability import logger, metrics
from filescan_shared.records import Attempt

# How Batch words an attempt that lost its capacity: Fargate Spot reclaiming the task (the same text
# the job definition's retry rule matches, see template.yaml and docs/template.md) or the EC2 host
# going away ("Host EC2 (instance i-...) terminated.", EC2 Spot compute environments).
INTERRUPTION_REASONS = ("Your Spot Task was interrupted", "Host EC2")


def is_interruption(reason: str | None) -> bool:
    """Whether an attempt's status reason says its capacity was reclaimed."""
    return bool(reason) and str(reason).startswith(INTERRUPTION_REASONS)


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


TEXT_LIMIT = 500
EpochMillis = Annotated[int, Field(ge=0, le=10**15)]
ExitCode = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
Identifier = Annotated[str, Field(max_length=2048)]
Text = Annotated[str, AfterValidator(lambda text: text[:TEXT_LIMIT])]
"""Free text from the event (reasons, log stream names), truncated to ``TEXT_LIMIT`` characters."""


class AttemptContainer(_Loose):
    """The container of one attempt."""

    exit_code: ExitCode | None = Field(default=None, alias="exitCode")
    log_stream_name: Text | None = Field(default=None, alias="logStreamName")
    reason: Text | None = None


class AttemptTaskContainer(AttemptContainer):
    """One container of a multi-container (``ecsProperties``) job's attempt.

    https://docs.aws.amazon.com/batch/latest/APIReference/API_AttemptTaskContainerDetails.html
    """

    name: Identifier | None = None


class AttemptTask(_Loose):
    """The task of a multi-container job's attempt (``AttemptEcsTaskDetails``)."""

    containers: list[AttemptTaskContainer] = Field(default_factory=list, max_length=10)


class BatchAttempt(_Loose):
    """One attempt as the event lists it."""

    container: AttemptContainer = AttemptContainer()
    task_properties: list[AttemptTask] = Field(default_factory=list, alias="taskProperties", max_length=1)
    """Set instead of ``container`` for multi-container (engine) jobs."""

    def essential(self, essential_name: str | None) -> AttemptContainer:
        """The container whose exit is the attempt's: the single container, or the named essential one."""
        if self.container.exit_code is not None or not self.task_properties or essential_name is None:
            return self.container
        for container in self.task_properties[0].containers:
            if container.name == essential_name:
                return container
        return self.container

    started_at: EpochMillis | None = Field(default=None, alias="startedAt")
    stopped_at: EpochMillis | None = Field(default=None, alias="stoppedAt")
    status_reason: Text | None = Field(default=None, alias="statusReason")


class ResourceRequirement(_Loose):
    """A VCPU or MEMORY requirement of the job's container."""

    type: Identifier
    value: Identifier


class JobContainer(_Loose):
    """The job's container, as far as cost estimates need it."""

    resource_requirements: list[ResourceRequirement] = Field(
        default_factory=list, alias="resourceRequirements"
    )
    exit_code: ExitCode | None = Field(default=None, alias="exitCode")


class TaskContainer(_Loose):
    """One container of a multi-container job (its name, whether it is essential, its size)."""

    name: Identifier | None = None
    essential: bool | None = None
    resource_requirements: list[ResourceRequirement] = Field(
        default_factory=list, alias="resourceRequirements", max_length=10
    )


class EcsTask(_Loose):
    """The task of a multi-container job (``EcsTaskDetails``)."""

    containers: list[TaskContainer] = Field(default_factory=list, max_length=10)


class EcsProperties(_Loose):
    """A multi-container job's ``ecsProperties``: the engine jobs' fetch / engine / collect task.

    https://docs.aws.amazon.com/batch/latest/APIReference/API_EcsPropertiesDetail.html
    """

    task_properties: list[EcsTask] = Field(default_factory=list, alias="taskProperties", max_length=1)


class ArrayProperties(_Loose):
    """Array-job details (bulk rescans): a child's ``index``, or the parent's ``size``."""

    index: int | None = Field(default=None, ge=0, le=10_000)
    size: int | None = Field(default=None, ge=0, le=10_000)


class JobStateDetail(_Loose):
    """The ``detail`` of a "Batch Job State Change" event."""

    job_id: Identifier = Field(alias="jobId")
    job_name: Identifier = Field(alias="jobName")
    job_queue: Identifier = Field(alias="jobQueue")
    status: Identifier
    status_reason: Text | None = Field(default=None, alias="statusReason")
    attempts: list[BatchAttempt] = Field(default_factory=list, max_length=10)
    created_at: EpochMillis | None = Field(default=None, alias="createdAt")
    started_at: EpochMillis | None = Field(default=None, alias="startedAt")
    stopped_at: EpochMillis | None = Field(default=None, alias="stoppedAt")
    parameters: dict[str, str] = Field(default_factory=dict)
    container: JobContainer = JobContainer()
    ecs_properties: EcsProperties | None = Field(default=None, alias="ecsProperties")
    array_properties: ArrayProperties | None = Field(default=None, alias="arrayProperties")

    @property
    def scan_id(self) -> str | None:
        """The scan this job belongs to.

        From the job name (``filescan-<scan_id>``), else the ``scan_id`` parameter, else, for a child
        of a bulk-rescan array job (``filescan-bulk-<bulk_id>`` with an array index), the scan id
        derived from the bulk id and the index. The array parent itself (no index) maps to no scan.
        """
        direct = scan_id_from_job_name(self.job_name) or _valid_scan_id(self.parameters.get("scan_id"))
        if direct is not None:
            return direct
        bulk_id = bulk_id_from_job_name(self.job_name)
        index = self.array_properties.index if self.array_properties else None
        if bulk_id is None or index is None:
            return None
        return bulk_child_scan_id(bulk_id, index)

    @property
    def engine(self) -> str | None:
        """The engine this job runs for its scan (``None`` when the job is no scan's).

        From the job name (``filescan-<scan_id>-<engine>``; the plain name is filescan's); a job
        found by its ``scan_id`` parameter or a bulk-rescan child runs filescan's engine.
        """
        if self.scan_id is None:
            return None
        return engine_from_job_name(self.job_name) or "filescan"

    @property
    def interruptions(self) -> int:
        """How many of the job's attempts ended because Spot (or EC2) capacity was reclaimed."""
        return sum(1 for attempt in self.attempts if is_interruption(attempt.status_reason))

    def recorded_attempts(self) -> list[Attempt]:
        """The attempts, numbered from 1, in the scan record's shape."""
        essential = self._essential_name
        return [
            Attempt(
                number=number,
                exit_code=attempt.essential(essential).exit_code,
                reason=attempt.status_reason or attempt.essential(essential).reason,
                log_stream=attempt.essential(essential).log_stream_name,
                started_at=attempt.started_at,
                stopped_at=attempt.stopped_at,
                interrupted=(
                    is_interruption(attempt.status_reason) if attempt.stopped_at is not None else None
                ),
            )
            for number, attempt in enumerate(self.attempts, start=1)
        ]

    @property
    def last_exit_code(self) -> int | None:
        """The exit code of the last attempt (its essential container's, for a multi-container job)."""
        if self.attempts:
            return self.attempts[-1].essential(self._essential_name).exit_code
        return self.container.exit_code

    @property
    def _essential_name(self) -> str | None:
        """The essential container of a multi-container job (its exit ends the task), if any."""
        for container in self._task_containers:
            if container.essential:
                return container.name
        return None

    @property
    def _task_containers(self) -> list[TaskContainer]:
        if self.ecs_properties is None or not self.ecs_properties.task_properties:
            return []
        return self.ecs_properties.task_properties[0].containers

    @property
    def resource_requirements(self) -> list[ResourceRequirement]:
        """The job's VCPU and MEMORY: its container's, or the sums over a multi-container task's."""
        if self.container.resource_requirements or not self._task_containers:
            return self.container.resource_requirements
        totals: dict[str, float] = {}
        for container in self._task_containers:
            for requirement in container.resource_requirements:
                try:
                    amount = float(requirement.value)
                except ValueError:
                    continue
                totals[requirement.type] = totals.get(requirement.type, 0.0) + amount
        return [ResourceRequirement(type=kind, value=f"{amount:g}") for kind, amount in totals.items()]


def _valid_scan_id(value: str | None) -> str | None:
    return value if value is not None and is_scan_id(value) else None


def parse_job_event(event: Mapping[str, Any]) -> JobStateDetail | None:
    """The detail of a "Batch Job State Change" event, or ``None`` (logged, counted) when malformed.

    A malformed event can never become valid by retrying, so callers ignore it instead of raising.
    """
    try:
        return JobStateDetail.model_validate(event.get("detail") if isinstance(event, Mapping) else None)
    except ValidationError as error:
        logger.warning("malformed job state event ignored", errors=error.errors(include_url=False)[:5])
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
        return None
