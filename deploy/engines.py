"""``make engines``: the engine catalogue -> ``catalogue.json`` and the template's generated engine section.

``engines/catalogue.yaml`` is the source (reviewed like code). This validates it with the catalogue
models (``filescan_shared.engines.catalogue``), writes the layer's ``catalogue.json`` (sorted,
defaults left out) and rewrites the blocks of ``template.yaml`` between ``# BEGIN GENERATED ENGINES``
and ``# END GENERATED ENGINES`` markers: the parameters, conditions and function environment the
engines need, one Batch job definition per engine (filescan keeps its hand-written size-class
definitions), an ECR repository per engine built from this repository, the engine job and execution
roles, the functions' permission to submit engine jobs, and outputs. ``--check`` rewrites nothing and
exits 1 when either file is stale (``make lint`` runs it).

Why a generated section and not ``Fn::ForEach``: that needs the ``AWS::LanguageExtensions``
transform, which the local stack's template reader, checkov and the template tests would all have to
reimplement; the generated section is plain CloudFormation every tool reads, and its diff is
reviewed like code (docs/engines.md).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs in the dev venv; safe_load/safe_dump only
from pydantic import ValidationError

from filescan_shared.engines.catalogue import (
    BUNDLED_CATALOGUE,
    FILESCAN_ENGINE,
    Catalogue,
    EngineSpec,
    InputMode,
    OutputFormat,
    parse_catalogue,
)

REPO = Path(__file__).resolve().parents[1]
CATALOGUE_SOURCE = REPO / "engines" / "catalogue.yaml"
TEMPLATE = REPO / "template.yaml"

MARKER = "GENERATED ENGINES"
BLOCKS = ("parameters", "conditions", "environment", "resources", "outputs")
"""The generated blocks, each between ``# BEGIN GENERATED ENGINES[: block]`` and its END marker
(the resources block has the bare markers)."""

# The task's shared volume and the paths the command template's placeholders stand for.
VOLUME = "filescan"
MOUNT = "/filescan"
INPUT_PATH = f"{MOUNT}/input/object"
OUTPUT_DIR = f"{MOUNT}/output"
OUTPUT_PATH = f"{OUTPUT_DIR}/result"
STATIC_PLACEHOLDERS = {"input": INPUT_PATH, "output": OUTPUT_PATH, "output_dir": OUTPUT_DIR}
BATCH_PARAMETERS = ("bucket", "key", "version_id", "scan_id")
"""Placeholders that become Batch ``Ref::`` parameters; AWS documents the substitution for a whole
command argument (https://docs.aws.amazon.com/batch/latest/userguide/example-use-parameters.html),
so each must be an argument of its own."""

ENGINE_IO = "filescan-engine-io"
HELPER_VCPU = 0.25
HELPER_MEMORY_MIB = 512
"""Each helper container's share (fetch/prepare, collect) of the task size the engine's spec names."""

# Fargate task sizes (vCPU -> allowed MiB), as the Batch job definition reference lists them for
# resourceRequirements on Fargate: https://docs.aws.amazon.com/batch/latest/userguide/fargate-job-definitions.html
FARGATE_MEMORY = {
    0.25: range(512, 2048 + 1, 512),
    0.5: range(1024, 4096 + 1, 1024),
    1.0: range(2048, 8192 + 1, 1024),
    2.0: range(4096, 16384 + 1, 1024),
    4.0: range(8192, 30720 + 1, 1024),
    8.0: range(16384, 61440 + 1, 4096),
    16.0: range(32768, 122880 + 1, 8192),
}

NOT_RETRIED = (2, 65)
"""Exit codes Batch does not retry: usage error, unscannable (``filescan_shared.exit_codes``)."""

# The functions that submit engine jobs: enqueue (fan-out), API (rescans), sweeper (repairs),
# analysis (Spot -> on-demand escalation).
SUBMITTING_ROLES = ("EnqueueFunctionRole", "ApiFunctionRole", "SweeperFunctionRole", "AnalysisFunctionRole")
SCANNER_IMAGE = {
    "Fn::If": [
        "HasScannerImage",
        {"Ref": "ScannerImageUri"},
        {"Fn::Sub": "${ScannerRepository.RepositoryUri}:${ScannerVersion}"},
    ]
}
_ECR_URI = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/(?P<repo>[^:@]+)"
)


class CatalogueError(Exception):
    """The catalogue is invalid; the message names the engine and the field."""


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def load_catalogue(path: Path = CATALOGUE_SOURCE) -> Catalogue:
    """Parse and validate ``path``; ``CatalogueError`` names each bad engine and field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path.name}: not YAML: {error}") from None
    try:
        catalogue = parse_catalogue(document)
    except ValidationError as error:
        raise CatalogueError(_describe(error, document, path.name)) from None
    problems = [problem for engine in catalogue.engines for problem in deployment_problems(engine)]
    if problems:
        raise CatalogueError("\n".join(f"{path.name}: {problem}" for problem in problems))
    return catalogue


def _describe(error: ValidationError, document: Any, source: str) -> str:
    lines = [f"{source}: {error.error_count()} error(s)"]
    engines = document.get("engines") if isinstance(document, dict) else None
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(part) for part in loc) or "(document)"
        if len(loc) >= 2 and loc[0] == "engines" and isinstance(loc[1], int) and isinstance(engines, list):
            entry = engines[loc[1]] if loc[1] < len(engines) else {}
            name = entry.get("name", "?") if isinstance(entry, dict) else "?"
            field = ".".join(str(part) for part in loc[2:]) or "(engine)"
            where = f"engine {name!r} (entry {loc[1] + 1}), field {field}"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def deployment_problems(spec: EngineSpec) -> list[str]:
    """What the template cannot express for ``spec`` (beyond the model's own validation)."""
    if spec.name == FILESCAN_ENGINE:
        return []
    problems = []
    allowed = FARGATE_MEMORY.get(float(spec.vcpu))
    if allowed is None or spec.memory_mib not in allowed:
        problems.append(
            f"engine {spec.name!r}, field vcpu/memory_mib: {spec.vcpu:g} vCPU with {spec.memory_mib} MiB is "
            "not a Fargate task size (vCPU 0.25-16; memory per docs/engines.md)"
        )
    if not single_container(spec) and (spec.vcpu < 1 or spec.memory_mib < 2048):
        problems.append(
            f"engine {spec.name!r}, field vcpu/memory_mib: a multi-container engine job needs at least "
            "1 vCPU and 2048 MiB (its helper containers take 0.5 vCPU and 1024 MiB of the task)"
        )
    for part in spec.command:
        embedded = [
            name for name in BATCH_PARAMETERS if "{" + name + "}" in part and part != "{" + name + "}"
        ]
        if embedded or "{input_uri}" in part:
            problems.append(
                f"engine {spec.name!r}, field command: {part!r}: Batch substitutes a parameter only as a "
                "whole argument: write {bucket}, {key}, {version_id}, {scan_id} as arguments of their own"
            )
    if single_container(spec) and spec.exit_codes.ok != [0]:
        problems.append(
            f"engine {spec.name!r}, field exit_codes.ok: a single-container engine (input s3, output "
            "filescan-report) must exit 0 when it succeeded"
        )
    if single_container(spec) and len(_not_retried(spec)) > 2:  # 5 retry rules at most
        problems.append(f"engine {spec.name!r}, field exit_codes.unscannable: at most one code besides 65")
    return problems


def single_container(spec: EngineSpec) -> bool:
    """Whether ``spec``'s job is one container (it reads S3 and writes a filescan report itself)."""
    return spec.input is InputMode.S3 and spec.output is OutputFormat.FILESCAN_REPORT


def catalogue_json(catalogue: Catalogue) -> str:
    """The layer's ``catalogue.json``: defaults left out, keys sorted, one trailing newline."""
    document = catalogue.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------------
# the generated template blocks
# ------------------------------------------------------------------------------------------------
def logical_name(engine: str) -> str:
    """``yara-cli`` -> ``YaraCli``: the engine's part of its resources' logical ids."""
    return "".join(part.capitalize() for part in re.split(r"[^a-z0-9]+", engine) if part)


def engine_resources_prefix(engine: str) -> str:
    """``Engine<Name>``: the prefix of every logical id generated for ``engine``."""
    return f"Engine{logical_name(engine)}"


def _others(catalogue: Catalogue) -> list[EngineSpec]:
    return sorted((e for e in catalogue.engines if e.name != FILESCAN_ENGINE), key=lambda e: e.name)


def _built(catalogue: Catalogue) -> list[EngineSpec]:
    return [engine for engine in _others(catalogue) if engine.image.build is not None]


def parameters(catalogue: Catalogue) -> dict[str, Any]:
    """``EnabledEngines`` and, per engine built here, the image tag to run."""
    names = sorted(engine.name for engine in catalogue.engines)
    result: dict[str, Any] = {
        "EnabledEngines": {
            "Type": "CommaDelimitedList",
            "Default": FILESCAN_ENGINE,
            # For a CommaDelimitedList every member must be one of AllowedValues (the CloudFormation
            # Parameters reference): an engine that is not in the catalogue fails the deploy.
            "AllowedValues": names,
            "Description": (
                "The engines (engines/catalogue.yaml) every upload is scanned with, comma-separated. "
                "Each runs as its own Batch job; the scan is analysed when all of them finished."
            ),
        }
    }
    for engine in _built(catalogue):
        result[f"{engine_resources_prefix(engine.name)}ImageTag"] = {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "^[A-Za-z0-9._+-]*$",
            "Description": (
                f"Tag of the {engine.name} engine image in its repository (make deploy pushes and passes "
                "it). Empty = ScannerVersion."
            ),
        }
    return result


def conditions(catalogue: Catalogue) -> dict[str, Any]:
    """One condition per built engine: whether its image tag parameter is set."""
    return {
        f"{engine_resources_prefix(engine.name)}HasImageTag": {
            "Fn::Not": [{"Fn::Equals": [{"Ref": f"{engine_resources_prefix(engine.name)}ImageTag"}, ""]}]
        }
        for engine in _built(catalogue)
    }


def environment(catalogue: Catalogue) -> dict[str, Any]:
    """The functions' engine settings: the enabled names and each engine's job definition ARN."""
    pairs = [
        f'"{engine.name}": "${{{engine_resources_prefix(engine.name)}JobDefinition}}"'
        for engine in _others(catalogue)
    ]
    definitions: Any = {"Fn::Sub": "{" + ", ".join(pairs) + "}"} if pairs else "{}"
    return {
        "ENABLED_ENGINES": {"Fn::Join": [",", {"Ref": "EnabledEngines"}]},
        "ENGINE_JOB_DEFINITIONS": definitions,
    }


def command(spec: EngineSpec) -> list[str]:
    """The engine's command with its placeholders resolved for the job's containers."""
    values = {**STATIC_PLACEHOLDERS, **{name: f"Ref::{name}" for name in BATCH_PARAMETERS}}
    return [part.format_map(values) for part in spec.command]


def _image(spec: EngineSpec) -> Any:
    if spec.image.uri is not None:
        return spec.image.uri
    prefix = engine_resources_prefix(spec.name)
    return {
        "Fn::If": [
            f"{prefix}HasImageTag",
            {"Fn::Sub": f"${{{prefix}Repository.RepositoryUri}}:${{{prefix}ImageTag}}"},
            {"Fn::Sub": f"${{{prefix}Repository.RepositoryUri}}:${{ScannerVersion}}"},
        ]
    }


def _resources(vcpu: float, memory: int) -> list[dict[str, str]]:
    return [{"Type": "VCPU", "Value": f"{vcpu:g}"}, {"Type": "MEMORY", "Value": str(memory)}]


def _logs(spec: EngineSpec) -> dict[str, Any]:
    return {
        "LogDriver": "awslogs",
        "Options": {
            "awslogs-group": {"Ref": "ScannerLogGroup"},
            "awslogs-region": {"Ref": "AWS::Region"},
            "awslogs-stream-prefix": f"engine-{spec.name}",
        },
    }


def _env(**values: Any) -> list[dict[str, Any]]:
    return [{"Name": name, "Value": value} for name, value in values.items()]


def _not_retried(spec: EngineSpec) -> list[int]:
    codes = set(NOT_RETRIED)
    if single_container(spec):
        codes |= set(spec.exit_codes.unscannable)
    return sorted(codes)


def retry_strategy(spec: EngineSpec) -> dict[str, Any]:
    """As filescan's: deterministic exits EXIT, Spot interruptions and start-up errors RETRY."""
    rules: list[dict[str, str]] = [{"OnExitCode": str(code), "Action": "EXIT"} for code in _not_retried(spec)]
    rules += [
        {"OnStatusReason": "Your Spot Task was interrupted*", "Action": "RETRY"},
        {"OnReason": "ResourceInitializationError*", "Action": "RETRY"},
        {"OnExitCode": "*", "Action": "RETRY"},
    ]
    return {"Attempts": spec.attempts, "EvaluateOnExit": rules}


def _mount() -> list[dict[str, Any]]:
    return [{"SourceVolume": VOLUME, "ContainerPath": MOUNT, "ReadOnly": False}]


def _helper(spec: EngineSpec, name: str, command_: list[str], **env: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Image": SCANNER_IMAGE,
        "Essential": False,
        "Command": command_,
        "Environment": _env(
            AWS_DEFAULT_REGION={"Ref": "AWS::Region"}, POWERTOOLS_SERVICE_NAME="filescan", **env
        ),
        "MountPoints": _mount(),
        "ResourceRequirements": _resources(HELPER_VCPU, HELPER_MEMORY_MIB),
        "LogConfiguration": _logs(spec),
    }


def containers(spec: EngineSpec) -> list[dict[str, Any]]:
    """The fetch (or prepare) -> engine -> collect containers, sharing the task's ``/filescan`` volume."""
    if spec.input is InputMode.PATH:
        fetch_command = [
            *(ENGINE_IO, "fetch", "--bucket", "Ref::bucket", "--key", "Ref::key"),
            *("--version-id", "Ref::version_id", "--dest", INPUT_PATH),
        ]
        first = _helper(spec, "fetch", fetch_command)
    else:
        first = _helper(spec, "prepare", [ENGINE_IO, "prepare", "--dir", MOUNT])
    engine = {
        "Name": "engine",
        "Image": _image(spec),
        "Essential": False,
        "Command": command(spec),
        # COMPLETE, not SUCCESS: collect (which waits for the engine) must run even when the fetch
        # failed, to record why (65: the object is gone); it ignores the engine's result then.
        "DependsOn": [{"ContainerName": first["Name"], "Condition": "COMPLETE"}],
        "Environment": _env(AWS_DEFAULT_REGION={"Ref": "AWS::Region"}),
        "MountPoints": _mount(),
        "ResourceRequirements": _resources(
            spec.vcpu - 2 * HELPER_VCPU, spec.memory_mib - 2 * HELPER_MEMORY_MIB
        ),
        "LogConfiguration": _logs(spec),
    }
    collect_command = [
        *(ENGINE_IO, "collect", "--engine", spec.name, "--scan-id", "Ref::scan_id", "--output", OUTPUT_PATH),
        *("--ok", ",".join(map(str, spec.exit_codes.ok))),
        *("--unscannable", ",".join(map(str, spec.exit_codes.unscannable))),
        *("--max-output-bytes", str(spec.max_output_bytes)),
    ]
    collect = _helper(
        spec,
        "collect",
        collect_command,
        REPORTS_BUCKET={"Ref": "ReportsBucket"},
        REPORTS_PREFIX="reports/",
    )
    collect["Essential"] = True
    collect["DependsOn"] = [{"ContainerName": "engine", "Condition": "COMPLETE"}]
    return [first, engine, collect]


def job_definition(spec: EngineSpec) -> dict[str, Any]:
    """The engine's Batch job definition (Fargate, x86_64, the scanner's log group)."""
    properties: dict[str, Any] = {
        "JobDefinitionName": {"Fn::Sub": f"${{AWS::StackName}}-engine-{spec.name}"},
        "Type": "container",
        "PlatformCapabilities": ["FARGATE"],
        "PropagateTags": True,
        # Names the engine for whoever reads a job (the local stack; cost reports by tag).
        "Tags": {"filescan:engine": spec.name},
        # Placeholders: every SubmitJob passes the real values.
        "Parameters": {"bucket": "unset", "key": "unset", "version_id": "", "scan_id": "unset"},
        "Timeout": {"AttemptDurationSeconds": spec.timeout_seconds},
        "RetryStrategy": retry_strategy(spec),
    }
    platform = {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}
    if single_container(spec):
        properties["ContainerProperties"] = {
            "Image": _image(spec),
            "Command": command(spec),
            "Environment": _env(
                REPORTS_BUCKET={"Ref": "ReportsBucket"},
                REPORTS_PREFIX="reports/",
                AWS_DEFAULT_REGION={"Ref": "AWS::Region"},
                POWERTOOLS_SERVICE_NAME="filescan",
                SCANNER_VERSION={"Ref": "ScannerVersion"},
            ),
            "ResourceRequirements": _resources(spec.vcpu, spec.memory_mib),
            "EphemeralStorage": {"SizeInGiB": {"Ref": "JobEphemeralStorageGiB"}},
            "FargatePlatformConfiguration": {"PlatformVersion": "LATEST"},
            "NetworkConfiguration": {"AssignPublicIp": "DISABLED"},
            "RuntimePlatform": platform,
            "JobRoleArn": {"Fn::GetAtt": ["EngineJobRole", "Arn"]},
            "ExecutionRoleArn": {"Fn::GetAtt": ["EngineExecutionRole", "Arn"]},
            "LogConfiguration": _logs(spec),
        }
    else:
        properties["EcsProperties"] = {
            "TaskProperties": [
                {
                    "Containers": containers(spec),
                    "Volumes": [{"Name": VOLUME}],
                    "EphemeralStorage": {"SizeInGiB": {"Ref": "JobEphemeralStorageGiB"}},
                    "PlatformVersion": "LATEST",
                    "NetworkConfiguration": {"AssignPublicIp": "DISABLED"},
                    "RuntimePlatform": platform,
                    "TaskRoleArn": {"Fn::GetAtt": ["EngineJobRole", "Arn"]},
                    "ExecutionRoleArn": {"Fn::GetAtt": ["EngineExecutionRole", "Arn"]},
                }
            ]
        }
    return {"Type": "AWS::Batch::JobDefinition", "Properties": properties}


def repository() -> dict[str, Any]:
    """An engine's image repository, configured as ScannerRepository."""
    return {
        "Type": "AWS::ECR::Repository",
        "Properties": {
            "EmptyOnDelete": True,
            "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": {"ScanOnPush": True},
            "EncryptionConfiguration": {
                "EncryptionType": "KMS",
                "KmsKey": {"Fn::GetAtt": ["FileScanKey", "Arn"]},
            },
            "LifecyclePolicy": {
                "LifecyclePolicyText": {
                    "Fn::Sub": (
                        '{"rules": [{"rulePriority": 1, "description": "expire untagged images after '
                        '${EcrUntaggedImageDays} days", "selection": {"tagStatus": "untagged", "countType": '
                        '"sinceImagePushed", "countUnit": "days", "countNumber": ${EcrUntaggedImageDays}}, '
                        '"action": {"type": "expire"}}]}'
                    )
                }
            },
        },
    }


def _allow(sid: str, action: str | list[str], resource: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def _role(description: str, policy_name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "Path": {"Fn::Sub": "/filescan/${AWS::StackName}/"},
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": policy_name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


def job_role(catalogue: Catalogue) -> dict[str, Any]:
    """The engine tasks' role: fetch reads the object, collect writes the engine's output."""
    statements = [
        _allow(
            "ReadUploadsUnderScanPrefix",
            ["s3:GetObject", "s3:GetObjectVersion"],
            {"Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"},
        ),
        _allow("WriteEngineOutputs", "s3:PutObject", {"Fn::Sub": "${ReportsBucket.Arn}/reports/*/engines/*"}),
    ]
    if any(single_container(engine) for engine in _others(catalogue)):
        statements.append(
            _allow("WriteEngineReports", "s3:PutObject", {"Fn::Sub": "${ReportsBucket.Arn}/reports/*"})
        )
    statements.append(
        _allow(
            "UseFileScanKey", ["kms:Decrypt", "kms:GenerateDataKey"], {"Fn::GetAtt": ["FileScanKey", "Arn"]}
        )
    )
    return _role(
        "filescan engine jobs (task role: fetch the object, store the engine's output)",
        "fetch-and-collect",
        statements,
    )


def _uri_repository_arn(uri: str) -> dict[str, Any] | None:
    match = _ECR_URI.match(uri)
    if match is None:
        return None
    return {
        "Fn::Sub": (
            f"arn:${{AWS::Partition}}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"
        )
    }


def execution_role(catalogue: Catalogue) -> dict[str, Any]:
    """Pull exactly the engines' images and the scanner image (fetch/collect), write their logs."""
    repositories: list[Any] = [{"Fn::GetAtt": ["ScannerRepository", "Arn"]}]
    for engine in _others(catalogue):
        if engine.image.build is not None:
            repositories.append({"Fn::GetAtt": [f"{engine_resources_prefix(engine.name)}Repository", "Arn"]})
        elif engine.image.uri is not None and (arn := _uri_repository_arn(engine.image.uri)) is not None:
            repositories.append(arn)
    statements: list[dict[str, Any]] = [
        _allow("EcrAuthToken", "ecr:GetAuthorizationToken", "*"),
        _allow(
            "PullEngineImages",
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            repositories,
        ),
        _allow(
            "WriteEngineLogs",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            {"Fn::Sub": "${ScannerLogGroup.Arn}:*"},
        ),
        _allow("DecryptKmsEncryptedImage", "kms:Decrypt", {"Fn::GetAtt": ["FileScanKey", "Arn"]}),
    ]
    return _role(
        "filescan engine jobs (execution role - image pull and logs)", "pull-images-and-log", statements
    )


def submit_policy(catalogue: Catalogue) -> dict[str, Any]:
    """The functions' permission to submit engine jobs (Batch authorises the queue and the definition)."""
    definitions: list[Any] = []
    for engine in _others(catalogue):
        prefix = engine_resources_prefix(engine.name)
        definitions.append({"Ref": f"{prefix}JobDefinition"})
        definitions.append(
            {
                "Fn::Sub": (
                    "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job-definition/"
                    f"${{AWS::StackName}}-engine-{engine.name}:*"
                )
            }
        )
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "submit-engine-jobs",
            "Roles": [{"Ref": role} for role in SUBMITTING_ROLES],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    # SubmitJob is authorised on both the job queue and the job definition, whose
                    # ARN carries the revision (hence name:*), as AWS documents:
                    # https://docs.aws.amazon.com/batch/latest/userguide/iam-example-restrict-job-submission.html
                    _allow(
                        "SubmitEngineJobs",
                        "batch:SubmitJob",
                        [{"Ref": "StandardJobQueue"}, {"Ref": "PriorityJobQueue"}, *definitions],
                    ),
                    _allow(
                        "TagEngineJobs",
                        "batch:TagResource",
                        {"Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*"},
                    ),
                ],
            },
        },
    }


def resources(catalogue: Catalogue) -> dict[str, Any]:
    """Every generated resource, engines in name order."""
    others = _others(catalogue)
    if not others:
        return {}
    result: dict[str, Any] = {}
    for engine in others:
        prefix = engine_resources_prefix(engine.name)
        if engine.image.build is not None:
            result[f"{prefix}Repository"] = repository()
        result[f"{prefix}JobDefinition"] = job_definition(engine)
    result["EngineJobRole"] = job_role(catalogue)
    result["EngineExecutionRole"] = execution_role(catalogue)
    result["EngineJobSubmitPolicy"] = submit_policy(catalogue)
    return result


def outputs(catalogue: Catalogue) -> dict[str, Any]:
    """Each engine's job definition ARN and, when built here, its repository URI (make deploy)."""
    result: dict[str, Any] = {}
    for engine in _others(catalogue):
        prefix = engine_resources_prefix(engine.name)
        if engine.image.build is not None:
            result[f"{prefix}RepositoryUri"] = {
                "Description": f"ECR repository of the {engine.name} engine image",
                "Value": {"Fn::GetAtt": [f"{prefix}Repository", "RepositoryUri"]},
            }
        result[f"{prefix}JobDefinitionArn"] = {"Value": {"Ref": f"{prefix}JobDefinition"}}
    return result


def blocks(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    """Every generated block's content, by block name."""
    return {
        "parameters": parameters(catalogue),
        "conditions": conditions(catalogue),
        "environment": environment(catalogue),
        "resources": resources(catalogue),
        "outputs": outputs(catalogue),
    }


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def markers(block: str) -> tuple[str, str]:
    """The BEGIN and END marker comments of ``block``."""
    suffix = "" if block == "resources" else f": {block}"
    return f"# BEGIN {MARKER}{suffix}", f"# END {MARKER}{suffix}"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Block-style YAML with no anchors/aliases (each resource reads on its own)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(content: dict[str, Any], indent: int) -> list[str]:
    if not content:
        return []
    text = yaml.dump(
        content, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
    )
    return [(" " * indent + line) if line else line for line in text.splitlines()]


def render_template(text: str, catalogue: Catalogue) -> str:
    """``text`` with every generated block replaced by the catalogue's."""
    lines = text.splitlines()
    for block, content in blocks(catalogue).items():
        begin, end = markers(block)
        starts = [i for i, line in enumerate(lines) if line.strip() == begin]
        ends = [i for i, line in enumerate(lines) if line.strip() == end]
        if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
            raise CatalogueError(f"template.yaml: expected one {begin!r} ... {end!r} pair")
        indent = len(lines[starts[0]]) - len(lines[starts[0]].lstrip())
        generated = _yaml(content, indent)
        if block == "resources" and generated:
            generated = [*_spaced(generated, indent)]
        lines[starts[0] + 1 : ends[0]] = generated
    return "\n".join(lines) + "\n"


def _spaced(lines: list[str], indent: int) -> list[str]:
    """A blank line before each top-level key (one resource per paragraph, as in the rest of the file)."""
    out: list[str] = []
    for line in lines:
        if out and line.startswith(" " * indent) and not line.startswith(" " * (indent + 1)):
            out.append("")
        out.append(line)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate (or with ``--check``, verify) catalogue.json and the template's engine section."""
    parser = argparse.ArgumentParser(prog="make engines", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is stale")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE_SOURCE)
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--json", type=Path, default=BUNDLED_CATALOGUE)
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue)
        wanted = {
            args.json: catalogue_json(catalogue),
            args.template: render_template(args.template.read_text(encoding="utf-8"), catalogue),
        }
    except CatalogueError as error:
        print(error, file=sys.stderr)
        return 2
    stale = [
        path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
            print(f"{shown} is stale: run `make engines`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
