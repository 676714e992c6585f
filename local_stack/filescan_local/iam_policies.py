"""The IAM side of the template: roles, their policies and the bucket policies, as AWS would see them.

The SAM template is translated with aws-sam-translator (as ``sam deploy`` would), so SAM policy
templates (``DynamoDBCrudPolicy``, ``SQSPollerPolicy``...) become the statements AWS attaches; the
result is resolved with the local stack's intrinsics (``template.Template``). Managed policies that
SAM attaches (basic execution: CloudWatch Logs, X-Ray) cover services the local stack does not run and
are left out.

Each role gets a local access key (``access_key``): the stack hands it to the code running as that
role, and the enforcing servers (``iam_server``, ``control_api``) map the key in a request's
signature back to the role.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from filescan_local.iam_eval import Decision, Request, Statement, applies, evaluate, parse_policy
from filescan_local.template import Template

LOCAL_SECRET = "testing"  # noqa: S105 - the fake secret every local key shares (moto checks none)


@dataclasses.dataclass(frozen=True)
class Role:
    """One IAM role: its ARN, its identity-policy statements and the local key that acts as it."""

    logical_id: str
    arn: str
    statements: tuple[Statement, ...]
    granted: tuple[tuple[str, str], ...]
    """(policy statement id or policy name, action) pairs: what the unused-grant check compares."""

    @property
    def access_key(self) -> str:
        """The local access key id of this role (stable for a role ARN)."""
        return access_key_for(self.arn)


@dataclasses.dataclass(frozen=True)
class PolicySet:
    """Every role of the stack and every bucket policy, resolved."""

    roles: dict[str, Role]
    """By role ARN."""
    bucket_policies: dict[str, tuple[Statement, ...]]
    """By bucket name."""
    function_roles: dict[str, str]
    """Function logical id -> role ARN."""
    job_role: str | None

    def role_for_key(self, access_key: str) -> Role | None:
        """The role a local access key acts as (``None``: not a role key, e.g. the operator's)."""
        return self._by_key.get(access_key)

    @functools.cached_property
    def _by_key(self) -> dict[str, Role]:
        return {role.access_key: role for role in self.roles.values()}

    def decide(self, role: Role, request: Request) -> Decision:
        """Evaluate ``request`` for ``role`` with the bucket policy of an S3 resource, if any."""
        resource_policy: tuple[Statement, ...] = ()
        if request.resource.startswith("arn:aws:s3:::"):
            bucket = request.resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
            resource_policy = self.bucket_policies.get(bucket, ())
        return evaluate(request, role.statements, resource_policy)

    def to_json(self) -> str:
        """Serialise (the enforcing moto server runs in another process)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PolicySet:
        """The inverse of ``to_json``."""
        data = json.loads(text)

        def statements(items: list[dict[str, Any]]) -> tuple[Statement, ...]:
            return tuple(
                Statement(
                    **{
                        **item,
                        **{
                            k: tuple(item[k])
                            for k in ("actions", "not_actions", "resources", "not_resources")
                        },
                        "conditions": tuple((op, key, tuple(v)) for op, key, v in item["conditions"]),
                        "principals": None if item["principals"] is None else tuple(item["principals"]),
                    }
                )
                for item in items
            )

        roles = {
            arn: Role(
                logical_id=role["logical_id"],
                arn=role["arn"],
                statements=statements(role["statements"]),
                granted=tuple((sid, action) for sid, action in role["granted"]),
            )
            for arn, role in data["roles"].items()
        }
        buckets = {name: statements(items) for name, items in data["bucket_policies"].items()}
        return cls(roles, buckets, dict(data["function_roles"]), data["job_role"])


def access_key_for(role_arn: str) -> str:
    """A stable 20-character access key id for a role ARN."""
    return "ASIALOCAL" + hashlib.sha256(role_arn.encode()).hexdigest()[:11].upper()


def load_policies(template: Template) -> PolicySet:
    """Translate ``template`` (SAM -> CloudFormation) and collect its roles and bucket policies."""
    resolved = Template(
        document=translate(template.document),
        stack_name=template.stack_name,
        parameters=template.parameters,
        sqs_endpoint=template.sqs_endpoint,
    )
    roles: dict[str, Role] = {}
    for logical_id in resolved.of_type("AWS::IAM::Role"):
        properties = resolved.properties(logical_id)
        arn = resolved.arn(logical_id)
        statements: list[Statement] = []
        granted: list[tuple[str, str]] = []
        for policy in properties.get("Policies", []):
            _add_policy(policy["PolicyName"], policy["PolicyDocument"], statements, granted)
        roles[arn] = Role(logical_id, arn, tuple(statements), tuple(granted))
    # Inline policies declared as their own resource (AWS::IAM::Policy) attach to roles by name.
    for logical_id in resolved.of_type("AWS::IAM::Policy"):
        properties = resolved.properties(logical_id)
        for name in properties.get("Roles", []):
            role = next((role for arn, role in roles.items() if arn.endswith(f":role/{name}")), None)
            if role is None:
                raise ValueError(f"{logical_id}: unknown role {name}")
            statements, granted = list(role.statements), list(role.granted)
            _add_policy(properties["PolicyName"], properties["PolicyDocument"], statements, granted)
            roles[role.arn] = dataclasses.replace(role, statements=tuple(statements), granted=tuple(granted))
    buckets = {
        str(props["Bucket"]): parse_policy(props["PolicyDocument"], resource_policy=True)
        for props in (resolved.properties(i) for i in resolved.of_type("AWS::S3::BucketPolicy"))
    }
    functions = {
        logical_id: str(resolved.properties(logical_id)["Role"])
        for logical_id in resolved.of_type("AWS::Lambda::Function")
    }
    job_role = None
    for logical_id in resolved.of_type("AWS::Batch::JobDefinition"):
        # The first single-container definition's role (the scanner's); engine definitions, which
        # may come later and have no ContainerProperties, must not clear it. The local Batch service
        # signs each job with its own definition's role (BatchService role_keys).
        container = resolved.properties(logical_id).get("ContainerProperties", {})
        job_role = job_role or container.get("JobRoleArn")
    return PolicySet(roles, buckets, functions, job_role)


def _add_policy(
    name: str, document: dict[str, Any], statements: list[Statement], granted: list[tuple[str, str]]
) -> None:
    parsed = parse_policy(document)
    statements.extend(parsed)
    for statement in parsed:
        label = f"{name}/{statement.sid}" if statement.sid else name
        granted.extend((label, action) for action in statement.actions)


def translate(document: dict[str, Any], parameter_values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SAM template as CloudFormation (offline: local code paths become placeholder S3 URIs)."""
    sam = copy.deepcopy(document)
    for resource in sam["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = "s3://filescan-local/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            properties["ContentUri"] = "s3://filescan-local/layer.zip"
    translator = Translator(
        managed_policy_map=None, sam_parser=Parser(), boto_session=boto3.Session(region_name="us-east-1")
    )
    translated = translator.translate(
        sam, parameter_values=parameter_values or {}, get_managed_policy_map=lambda: {}
    )
    # cfn-flip's loader yields ordered dicts: round-trip through JSON for plain dicts and lists.
    return json.loads(json.dumps(translated))  # type: ignore[no-any-return]


def write_policies(policies: PolicySet, path: Path) -> Path:
    """Write ``policies`` for the enforcing server; returns ``path``."""
    path.write_text(policies.to_json())
    return path


def unused_grants(policies: PolicySet, decisions: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Per role (logical id): the granted ``action@statement`` that no recorded call used.

    ``decisions`` are the enforcement points' records (``LocalStack.iam_decisions()``). A statement's
    action counts as used when an allowed call of the role matched that action and one of the
    statement's resources (conditions aside), so an action granted on two tables is reported for
    the table nobody touched.
    """
    unused: dict[str, set[str]] = {}
    for role in policies.roles.values():
        calls = [d for d in decisions if d["allowed"] and d["role"] == role.arn]
        for index, statement in enumerate(role.statements):
            if statement.effect != "Allow":
                continue
            label = statement.sid or f"statement{index}"
            for action in statement.actions:
                probe = dataclasses.replace(statement, actions=(action,), conditions=())
                if not any(applies(probe, Request(role.arn, d["action"], d["resource"])) for d in calls):
                    unused.setdefault(role.logical_id, set()).add(f"{action}@{label}")
    return unused
