"""The CloudFormation the engine catalogue generates (``make engines``, ``deploy/engines.py``).

Per engine other than filescan: a Fargate Batch job definition (one container for ``input: s3`` +
``output: filescan-report``; otherwise fetch/prepare -> engine -> collect sharing ``/filescan``), an
ECR repository when its image is built here; for all of them the engine job and execution roles and
the functions' permission to submit engine jobs; plus the parameters, conditions, function
environment and outputs they need. Property names follow the CloudFormation reference for
``AWS::Batch::JobDefinition`` (docs/engines.md links it); cfn-lint checks them in the tests.
"""

from __future__ import annotations

import re
from typing import Any

from filescan_shared.engines.catalogue import (
    FILESCAN_ENGINE,
    Catalogue,
    EngineSpec,
    InputMode,
    OutputFormat,
)

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

# The functions that submit engine jobs: enqueue (fan-out), API (rescans), analysis (Spot -> on-demand
# escalation). The sweeper never submits: it hands lost jobs to analysis.
SUBMITTING_ROLES = ("EnqueueFunctionRole", "ApiFunctionRole", "AnalysisFunctionRole")
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


def single_container(spec: EngineSpec) -> bool:
    """Whether ``spec``'s job is one container (it reads S3 and writes a filescan report itself)."""
    return spec.input is InputMode.S3 and spec.output is OutputFormat.FILESCAN_REPORT


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


def not_retried(spec: EngineSpec) -> list[int]:
    """The exit codes the job's retry strategy does not retry."""
    codes = set(NOT_RETRIED)
    if single_container(spec):
        codes |= set(spec.exit_codes.unscannable)
    return sorted(codes)


def retry_strategy(spec: EngineSpec) -> dict[str, Any]:
    """As filescan's: deterministic exits EXIT, Spot interruptions and start-up errors RETRY."""
    rules: list[dict[str, str]] = [{"OnExitCode": str(code), "Action": "EXIT"} for code in not_retried(spec)]
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
    # The engine task role exists even with no engine: the uploads bucket policy's read-gate
    # exemptions name it, so the template stays valid when every engine but filescan is removed.
    if not others:
        return {"EngineJobRole": job_role(catalogue)}
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
