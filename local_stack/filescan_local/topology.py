"""What the template declares, as plain data the local stack provisions and runs.

Everything here is read from ``template.yaml`` (via ``template.Template``): names, rule patterns,
queue redrive, table schemas, functions with their environment and event sources, and the Batch
queues, compute environments and job definition. Nothing is restated by hand.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from typing import Any

from filescan_local.template import REPO, Template

FUNCTION = "AWS::Serverless::Function"
IMAGE_FUNCTION = "AWS::Lambda::Function"
"""Container-image functions (the scanner's fast path) are plain Lambda functions in the template."""


@dataclasses.dataclass(frozen=True)
class QueueSpec:
    """An SQS queue and its redrive policy."""

    logical_id: str
    name: str
    arn: str
    visibility_timeout: int = 30
    retention_seconds: int = 345600
    dlq_arn: str | None = None
    max_receive_count: int | None = None


@dataclasses.dataclass(frozen=True)
class RuleSpec:
    """An EventBridge rule: its bus, pattern and SQS targets (Lambda targets become mailboxes)."""

    name: str
    bus: str
    pattern: dict[str, Any]
    target_arns: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SqsSourceSpec:
    """An SQS event source mapping."""

    queue_arn: str
    batch_size: int
    max_concurrency: int
    report_batch_item_failures: bool


@dataclasses.dataclass(frozen=True)
class FunctionSpec:
    """A Lambda function as the local dispatcher runs it."""

    logical_id: str
    name: str
    arn: str
    code_dir: str
    handler: str
    timeout: int
    environment: dict[str, str]
    async_retries: int = 2
    dlq_arn: str | None = None
    mailbox: QueueSpec | None = None
    """The queue EventBridge rules targeting this function deliver to locally."""
    sqs_sources: tuple[SqsSourceSpec, ...] = ()
    schedule_seconds: float | None = None
    image: bool = False
    """A container-image function: run in-process from the dev install, not from a ``sam build`` zip."""


@dataclasses.dataclass(frozen=True)
class Topology:
    """Everything the local stack creates, derived from one template."""

    template: Template
    buckets: dict[str, dict[str, Any]]
    tables: dict[str, dict[str, Any]]
    queues: tuple[QueueSpec, ...]
    buses: tuple[str, ...]
    rules: tuple[RuleSpec, ...]
    functions: dict[str, FunctionSpec]

    def bucket(self, logical_id: str) -> str:
        """The local name of a bucket."""
        return self.template.physical_name(logical_id)

    def queue(self, logical_id: str) -> QueueSpec:
        """A queue by logical id (mailboxes: ``<Function>Mailbox``)."""
        return next(queue for queue in self.queues if queue.logical_id == logical_id)

    def queue_by_arn(self, arn: str) -> QueueSpec:
        """A queue by ARN."""
        return next(queue for queue in self.queues if queue.arn == arn)


def build(template: Template) -> Topology:
    """Derive the local topology from ``template``."""
    queues = [_queue(template, logical) for logical in template.of_type("AWS::SQS::Queue")]
    functions: dict[str, FunctionSpec] = {}
    rules: list[RuleSpec] = []
    for logical in template.of_type("AWS::Events::Rule"):
        props = template.properties(logical)
        if "EventPattern" not in props or props.get("State", "ENABLED") != "ENABLED":
            continue
        targets = tuple(target["Arn"] for target in props.get("Targets", []))
        bus = str(props.get("EventBusName", "default"))
        rules.append(RuleSpec(template.physical_name(logical), bus, props["EventPattern"], targets))
    mappings = _sqs_sources(template)
    for logical in template.of_type(FUNCTION):
        function = _function(template, logical, mappings.get(logical, ()))
        if function.mailbox is not None:
            queues.append(function.mailbox)
        for event_name, event in template.properties(logical).get("Events", {}).items():
            if event.get("Type") == "EventBridgeRule":
                props = event["Properties"]
                name = template.physical_name(f"{logical}{event_name}")
                bus = str(props.get("EventBusName", "default"))
                assert function.mailbox is not None
                rules.append(RuleSpec(name, bus, props["Pattern"], (function.mailbox.arn,)))
        functions[logical] = function
    functions.update(_image_functions(template, mappings))
    # Rule targets that are Lambda functions are delivered to the function's mailbox instead.
    by_arn = {function.arn: function for function in functions.values()}
    rules = [
        dataclasses.replace(
            rule,
            target_arns=tuple(
                by_arn[arn].mailbox.arn if arn in by_arn and by_arn[arn].mailbox else arn  # type: ignore[union-attr]
                for arn in rule.target_arns
            ),
        )
        for rule in rules
    ]
    buses = tuple(template.physical_name(logical) for logical in template.of_type("AWS::Events::EventBus"))
    return Topology(
        template=template,
        buckets={
            template.physical_name(logical): template.properties(logical)
            for logical in template.of_type("AWS::S3::Bucket")
        },
        tables={
            template.physical_name(logical): template.properties(logical)
            for logical in template.of_type("AWS::DynamoDB::Table")
        },
        queues=tuple(queues),
        buses=buses,
        rules=tuple(rules),
        functions=functions,
    )


def _queue(template: Template, logical: str) -> QueueSpec:
    props = template.properties(logical)
    redrive = props.get("RedrivePolicy") or {}
    return QueueSpec(
        logical_id=logical,
        name=template.physical_name(logical),
        arn=template.arn(logical),
        visibility_timeout=int(props.get("VisibilityTimeout", 30)),
        retention_seconds=int(props.get("MessageRetentionPeriod", 345600)),
        dlq_arn=redrive.get("deadLetterTargetArn"),
        max_receive_count=int(redrive["maxReceiveCount"]) if redrive else None,
    )


def _sqs_sources(template: Template) -> dict[str, list[SqsSourceSpec]]:
    found: dict[str, list[SqsSourceSpec]] = {}
    functions = {
        template.physical_name(logical): logical
        for logical in (*template.of_type(FUNCTION), *template.of_type(IMAGE_FUNCTION))
    }
    for logical in template.of_type("AWS::Lambda::EventSourceMapping"):
        props = template.properties(logical)
        if not props.get("Enabled", True):
            continue
        function = functions[str(props["FunctionName"])]
        found.setdefault(function, []).append(
            SqsSourceSpec(
                queue_arn=str(props["EventSourceArn"]),
                batch_size=int(props.get("BatchSize", 10)),
                max_concurrency=int(props.get("ScalingConfig", {}).get("MaximumConcurrency", 2)),
                report_batch_item_failures="ReportBatchItemFailures"
                in props.get("FunctionResponseTypes", []),
            )
        )
    return found


def _function(template: Template, logical: str, sources: list[SqsSourceSpec] | tuple[()]) -> FunctionSpec:
    globals_ = template.resolve(template.document.get("Globals", {}).get("Function", {}))
    props = template.properties(logical)
    environment = {
        **globals_.get("Environment", {}).get("Variables", {}),
        **props.get("Environment", {}).get("Variables", {}),
    }
    events = props.get("Events", {})
    name = template.physical_name(logical)
    timeout = int(props.get("Timeout", globals_.get("Timeout", 3)))
    mailbox = None
    if any(event.get("Type") == "EventBridgeRule" for event in events.values()):
        mailbox = QueueSpec(
            logical_id=f"{logical}Mailbox",
            name=f"{name}-mailbox",
            arn=f"arn:aws:sqs:us-east-1:123456789012:{name}-mailbox",
            visibility_timeout=max(60, timeout * 4),
        )
    schedule = next(
        (event["Properties"]["Schedule"] for event in events.values() if event.get("Type") == "Schedule"),
        None,
    )
    return FunctionSpec(
        logical_id=logical,
        name=name,
        arn=template.arn(logical),
        code_dir=str(REPO / str(props["CodeUri"])),
        handler=str(props.get("Handler", globals_.get("Handler", "app.lambda_handler"))),
        timeout=timeout,
        environment={key: _env_value(value) for key, value in environment.items()},
        async_retries=int(props.get("EventInvokeConfig", {}).get("MaximumRetryAttempts", 2)),
        dlq_arn=props.get("DeadLetterQueue", {}).get("TargetArn"),
        mailbox=mailbox,
        sqs_sources=tuple(sources),
        schedule_seconds=parse_rate(schedule) if schedule else None,
    )


def _image_functions(template: Template, mappings: dict[str, list[SqsSourceSpec]]) -> dict[str, FunctionSpec]:
    """Image functions, each run from the package its image command names (as installed here).

    ``ImageConfig.Command`` is ``package.module.handler``: the dispatcher loads ``module.py`` from
    the installed ``package`` (the code the image copies).
    """
    found: dict[str, FunctionSpec] = {}
    for logical in template.of_type(IMAGE_FUNCTION):
        props = template.properties(logical)
        if props.get("PackageType") != "Image":
            continue
        package, handler = str(props["ImageConfig"]["Command"][0]).split(".", 1)
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
        variables = props.get("Environment", {}).get("Variables", {})
        found[logical] = FunctionSpec(
            logical_id=logical,
            name=template.physical_name(logical),
            arn=template.arn(logical),
            code_dir=str(next(iter(spec.submodule_search_locations))),
            handler=handler,
            timeout=int(props.get("Timeout", 3)),
            environment={key: _env_value(value) for key, value in variables.items()},
            sqs_sources=tuple(mappings.get(logical, ())),
            image=True,
        )
    return found


def _env_value(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days|second|seconds)\)$")


def parse_rate(expression: str) -> float | None:
    """Seconds between runs of a ``rate(...)`` schedule (``cron(...)`` is not emulated: ``None``)."""
    match = _RATE.match(expression.strip())
    if not match:
        return None
    unit = match.group(2).rstrip("s")
    return int(match.group(1)) * {"second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit]
