"""template.yaml, read and resolved for one machine: the local stack's single source of truth.

The few intrinsics the stack uses (``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::If``, ``Fn::Join``,
``Fn::Select``, conditions) are resolved against parameter defaults (or overrides) and a small local
naming scheme: every resource's physical name is ``<stack>-<LogicalId>`` unless the template names it.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import cfn_flip

REGION = "us-east-1"
ACCOUNT = "123456789012"
DEFAULT_STACK = "filescan"
REPO = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO / "template.yaml"

_NO_VALUE = object()
_LOCAL_PARAMETER_DEFAULTS = {
    # The template's empty default means "the stack's ECR repository", which does not exist here.
    "ScannerImageUri": "filescan-scanner:local",
    "TableDeletionProtection": "false",
}
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template uses something the local stack cannot resolve."""


@dataclasses.dataclass
class Template:
    """A parsed template with its parameters bound and intrinsics resolvable."""

    document: dict[str, Any]
    stack_name: str = DEFAULT_STACK
    parameters: dict[str, Any] = dataclasses.field(default_factory=dict)
    sqs_endpoint: str = "http://127.0.0.1"
    """Base URL of the local SQS endpoint (``Ref`` of a queue is its URL there)."""

    @classmethod
    def load(
        cls,
        path: Path = TEMPLATE_PATH,
        *,
        stack_name: str = DEFAULT_STACK,
        overrides: dict[str, str] | None = None,
    ) -> Template:
        """Read ``path`` and bind parameters: overrides, else a local default, else the template's."""
        return cls.from_text(path.read_text(), stack_name=stack_name, overrides=overrides)

    @classmethod
    def from_text(
        cls, text: str, *, stack_name: str = DEFAULT_STACK, overrides: dict[str, str] | None = None
    ) -> Template:
        """Parse template text (YAML with CloudFormation short-form tags)."""
        document = _plain(cfn_flip.load_yaml(text))
        parameters: dict[str, Any] = {}
        for name, spec in document.get("Parameters", {}).items():
            value = (overrides or {}).get(name, _LOCAL_PARAMETER_DEFAULTS.get(name, spec.get("Default")))
            if value is None:
                raise TemplateError(f"parameter {name} has no default: pass an override")
            if str(spec.get("Type", "")).startswith(("List<", "CommaDelimitedList")):
                value = [part.strip() for part in str(value).split(",") if part.strip()]
            parameters[name] = value
        return cls(document=document, stack_name=stack_name, parameters=parameters)

    # -- resources ------------------------------------------------------------------------------

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The raw ``Resources`` section."""
        return dict(self.document["Resources"])

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Resources of one type whose condition holds, by logical id."""
        return {
            logical: spec
            for logical, spec in self.resources.items()
            if spec.get("Type") == resource_type and self.condition_holds(spec.get("Condition"))
        }

    def properties(self, logical_id: str) -> dict[str, Any]:
        """The resolved ``Properties`` of a resource."""
        resolved = self.resolve(self.resources[logical_id].get("Properties", {}))
        return dict(resolved) if isinstance(resolved, dict) else {}

    def physical_name(self, logical_id: str) -> str:
        """The local physical name of a resource (what ``Ref`` gives for named resources)."""
        spec = self.resources.get(logical_id)
        if spec is None:
            # SAM-generated resources (e.g. StatusFunctionJobProgress rules) follow the same scheme.
            return f"{self.stack_name}-{logical_id}"
        explicit = {
            "AWS::Batch::JobQueue": "JobQueueName",
            "AWS::Batch::JobDefinition": "JobDefinitionName",
            "AWS::Events::EventBus": "Name",
            "AWS::Serverless::LayerVersion": "LayerName",
        }.get(spec["Type"])
        if explicit and explicit in spec.get("Properties", {}):
            return str(self.resolve(spec["Properties"][explicit]))
        if spec["Type"] == "AWS::S3::Bucket":
            return f"{self.stack_name}-{logical_id}".lower()
        return f"{self.stack_name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        """The ARN of a resource under the local account and region."""
        kind = self.resources.get(logical_id, {}).get("Type", "")
        name = self.physical_name(logical_id)
        prefix = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:"
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::SQS::Queue": prefix.format("sqs") + name,
            "AWS::DynamoDB::Table": prefix.format("dynamodb") + f"table/{name}",
            "AWS::Events::EventBus": prefix.format("events") + f"event-bus/{name}",
            "AWS::Events::Rule": prefix.format("events") + f"rule/{name}",
            "AWS::Batch::JobQueue": prefix.format("batch") + f"job-queue/{name}",
            "AWS::Batch::JobDefinition": prefix.format("batch") + f"job-definition/{name}:1",
            "AWS::Batch::ComputeEnvironment": prefix.format("batch") + f"compute-environment/{name}",
            "AWS::Serverless::Function": prefix.format("lambda") + f"function:{name}",
            "AWS::Lambda::Function": prefix.format("lambda") + f"function:{name}",
            "AWS::KMS::Key": prefix.format("kms") + f"key/{name}",
            "AWS::IAM::Role": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        }
        return arns.get(kind, prefix.format("local") + name)

    def queue_url(self, logical_id: str, endpoint: str) -> str:
        """The SQS URL moto gives the queue of ``logical_id`` (the value of ``Ref``)."""
        return f"{endpoint}/{ACCOUNT}/{self.physical_name(logical_id)}"

    # -- intrinsics -----------------------------------------------------------------------------

    def ref(self, name: str) -> Any:
        """The value of ``!Ref name``."""
        pseudo = {
            "AWS::StackName": self.stack_name,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": _NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        kind = self.resources.get(name, {}).get("Type")
        if kind in {
            "AWS::Batch::JobQueue",
            "AWS::Batch::JobDefinition",
            "AWS::Batch::ComputeEnvironment",
            "AWS::Events::EventBus",
        }:
            return self.arn(name) if kind != "AWS::Events::EventBus" else self.physical_name(name)
        if kind == "AWS::SQS::Queue":
            return self.queue_url(name, self.sqs_endpoint)
        if kind is None:
            raise TemplateError(f"unknown Ref {name}")
        return self.physical_name(name)

    def get_att(self, logical_id: str, attribute: str) -> Any:
        """The value of ``!GetAtt logical_id.attribute``."""
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in {"QueueName", "Name"}:
            return self.physical_name(logical_id)
        return f"{self.physical_name(logical_id)}.{attribute}"

    def condition_holds(self, name: str | None) -> bool:
        """Whether a named condition is true (``None``: unconditional)."""
        if name is None:
            return True
        return bool(self.resolve(self.document.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:  # noqa: PLR0911, PLR0912 - one branch per intrinsic
        """Resolve every intrinsic in ``value`` (dropping ``AWS::NoValue``)."""
        if isinstance(value, list):
            items = [self.resolve(item) for item in value]
            return [item for item in items if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else arg
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, then, otherwise = arg
                return self.resolve(then if self.condition_holds(name) else otherwise)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(item) for item in self.resolve(items))
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Equals":
                return self.resolve(arg[0]) == self.resolve(arg[1])
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(item) for item in arg)
            if key == "Fn::Or":
                return any(self.resolve(item) for item in arg)
            if key == "Condition":
                return self.condition_holds(arg)
            if key.startswith("Fn::"):
                raise TemplateError(f"intrinsic {key} is not supported locally")
        resolved = {key: self.resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical, attribute = name.split(".", 1)
                return str(self.get_att(logical, attribute))
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, str(text))


def plain_yaml(text: str) -> Any:
    """A YAML document as plain dicts and lists (the catalogue; cfn-flip's reader, as for the template)."""
    return _plain(cfn_flip.load_yaml(text))


def _plain(value: Any) -> Any:
    """cfn-flip's ordered dicts as plain dicts and lists (resolution never mutates the document)."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
