"""Offline checks of template.yaml.

The SAM template is translated to plain CloudFormation with aws-sam-translator (no AWS account,
no network) and the translated resources are checked against the design contracts: event
patterns, queue wiring, Batch queues and retry rules, authorisation, least-privilege IAM, the
environment-variable contract with the function code, encryption and the uploads read gate.
A last test proves that cfn-lint really runs and really rejects a broken template.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfn_flip import load_yaml

from filescan_local.iam_policies import translate as translate_sam
from filescan_shared import exit_codes
from filescan_shared import settings as filescan_settings
from filescan_shared.api.routes import route_table
from filescan_shared.pipeline.sizing import S3_MAX_OBJECT_BYTES, size_job
from filescan_shared.triage.model_profiles import DEFAULT_MODEL

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
CFN_LINT = REPO / ".venv-sam" / "bin" / "cfn-lint"

FUNCTIONS = {
    "enqueue": "EnqueueFunction",
    "status": "StatusFunction",
    "analysis": "AnalysisFunction",
    "api": "ApiFunction",
    "sweeper": "SweeperFunction",
    "fast_fallback": "FastFallbackFunction",
}
IMAGE_FUNCTIONS = {"ScanFunction"}
"""Container-image functions (plain AWS::Lambda::Function: tests/unit/test_template_fast_path.py)."""

# Environment variables each function reads (the contract with functions/*/app.py).
COMMON_ENV = {
    "SCANS_TABLE",
    "IDEMPOTENCY_TABLE",
    "UPLOADS_BUCKET",
    "SCAN_PREFIX",
    "REPORTS_BUCKET",
    "REPORTS_PREFIX",
    "EVENT_BUS_NAME",
    "JOB_QUEUE_STANDARD",
    "JOB_QUEUE_PRIORITY",
    "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL",
    "ENABLED_ENGINES",
    "ENGINE_JOB_DEFINITIONS",
}
FUNCTION_ENV = {
    "EnqueueFunction": {
        "JOB_DEFINITION",
        "MAX_OBJECT_BYTES",
        "EXCLUDED_EXTENSIONS",
        "PRIORITY_PREFIXES",
        "SCANNER_VERSION",
        "FAST_SCAN_QUEUE_URL",
        "FAST_PATH_MAX_BYTES",
    },
    "StatusFunction": set(),
    "AnalysisFunction": {
        "OPENAI_MODEL",
        "OPENAI_MODEL_PROFILE",
        "OPENAI_BASE_URL",
        "OPENAI_API_KEY_SECRET_ARN",
        "LLM_TIMEOUT_SECONDS",
        "LLM_MAX_PROMPT_TOKENS",
        "LLM_ENGINE_READ_MAX_PROMPT_TOKENS",
        "QUARANTINE_MODE",
        "QUARANTINE_PREFIX",
        "FARGATE_PRICES",
    },
    "ApiFunction": {
        "REPORT_URL_TTL_SECONDS",
        "DOWNLOAD_URL_TTL_SECONDS",
        "UPLOAD_URL_TTL_SECONDS",
        "MAX_UPLOAD_BYTES",
        "JOB_DEFINITION",
    },
    "SweeperFunction": {
        "STUCK_AFTER_MINUTES",
        "SWEEP_MAX_ITEMS",
        "ANALYSIS_FUNCTION_NAME",
        "FAST_SCAN_DLQ_URL",
    },
    "FastFallbackFunction": {"JOB_DEFINITION"},
}

# The only IAM actions allowed on Resource "*", each with the reason.
WILDCARD_RESOURCE_ACTIONS = {
    "batch:DescribeJobs": "Batch DescribeJobs supports no resource-level permissions",
    "batch:ListJobs": "Batch ListJobs supports no resource-level permissions",
    "ecr:GetAuthorizationToken": "ECR auth tokens are registry-wide; the action has no resource type",
    # The scanner Lambda's own role (an image function cannot be a SAM function: the Globals'
    # Runtime/Handler/Layers) grants what SAM's roles get from AWSXrayWriteOnlyAccess.
    "xray:PutTraceSegments": "Tracing: Active (X-Ray APIs have no resources)",
    "xray:PutTelemetryRecords": "Tracing: Active (X-Ray APIs have no resources)",
}

# AWS managed policies SAM attaches to every function role, each with the reason.
ALLOWED_MANAGED_POLICIES = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": "Lambda writes its own logs",
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": "Tracing: Active (X-Ray APIs have no resources)",
    "arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role": (
        "The ECS agent on the EC2 compute environments' instances (register, pull, logs)"
    ),
}

REQUIRED_RESOURCES = {
    "FileScanKey": "AWS::KMS::Key",
    "UploadsBucket": "AWS::S3::Bucket",
    "UploadsBucketPolicy": "AWS::S3::BucketPolicy",
    "ReportsBucket": "AWS::S3::Bucket",
    "ReportsBucketPolicy": "AWS::S3::BucketPolicy",
    "AccessLogsBucket": "AWS::S3::Bucket",
    "IngestRule": "AWS::Events::Rule",
    "IngestQueue": "AWS::SQS::Queue",
    "IngestDLQ": "AWS::SQS::Queue",
    "IngestQueuePolicy": "AWS::SQS::QueuePolicy",
    "EnqueueEventSourceMapping": "AWS::Lambda::EventSourceMapping",
    "SpotComputeEnvironment": "AWS::Batch::ComputeEnvironment",
    "OnDemandComputeEnvironment": "AWS::Batch::ComputeEnvironment",
    "PriorityJobQueue": "AWS::Batch::JobQueue",
    "StandardJobQueue": "AWS::Batch::JobQueue",
    "ScannerJobDefinition": "AWS::Batch::JobDefinition",
    "ScannerLargeDiskJobDefinition": "AWS::Batch::JobDefinition",
    "ScannerEc2JobDefinition": "AWS::Batch::JobDefinition",
    "Ec2SpotComputeEnvironment": "AWS::Batch::ComputeEnvironment",
    "Ec2OnDemandComputeEnvironment": "AWS::Batch::ComputeEnvironment",
    "Ec2JobQueue": "AWS::Batch::JobQueue",
    "Ec2LaunchTemplate": "AWS::EC2::LaunchTemplate",
    "ScannerJobRole": "AWS::IAM::Role",
    "ScannerExecutionRole": "AWS::IAM::Role",
    "ScannerLogGroup": "AWS::Logs::LogGroup",
    "ScannerRepository": "AWS::ECR::Repository",
    "StatusFunctionJobProgress": "AWS::Events::Rule",
    "AnalysisFunctionJobDone": "AWS::Events::Rule",
    "StatusTargetDLQ": "AWS::SQS::Queue",
    "AnalysisTargetDLQ": "AWS::SQS::Queue",
    "StatusTargetDLQPolicy": "AWS::SQS::QueuePolicy",
    "AnalysisTargetDLQPolicy": "AWS::SQS::QueuePolicy",
    "ScansTable": "AWS::DynamoDB::Table",
    "IdempotencyTable": "AWS::DynamoDB::Table",
    "FileScanEventBus": "AWS::Events::EventBus",
    "HttpApi": "AWS::ApiGatewayV2::Api",
    "HttpApiApiGatewayDefaultStage": "AWS::ApiGatewayV2::Stage",
    "SweeperFunctionSweep": "AWS::Events::Rule",
    "AlarmTopic": "AWS::SNS::Topic",
    "Dashboard": "AWS::CloudWatch::Dashboard",
    **{f"{logical}Role": "AWS::IAM::Role" for logical in FUNCTIONS.values()},
    **dict.fromkeys(FUNCTIONS.values(), "AWS::Lambda::Function"),
}

# The routes the API function registers (its Powertools resolver): the template must expose exactly these.
API_ROUTES = {f"{route.method} {route.path}" for route in route_table()}


FAST_PATH_ROLE = {"Fn::GetAtt": ["ScanFunctionRole", "Arn"]}
"""The scanner Lambda's role (FastPathOn), excepted like the Batch job's wherever it reads or tags."""


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def arn_of(name: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, "Arn"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def resolve_conditions(value: Any, conditions: dict[str, bool]) -> Any:
    """Evaluate Fn::If for the given condition values and drop AWS::NoValue."""
    if isinstance(value, dict):
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return resolve_conditions(when_true if conditions[name] else when_false, conditions)
        out = {}
        for key, item in value.items():
            resolved = resolve_conditions(item, conditions)
            if resolved != {"Ref": "AWS::NoValue"}:
                out[key] = resolved
        return out
    if isinstance(value, list):
        items = [resolve_conditions(item, conditions) for item in value]
        return [item for item in items if item != {"Ref": "AWS::NoValue"}]
    return value


def translate(sam_template: dict[str, Any]) -> dict[str, Any]:
    """Translate the SAM template offline (as the local stack does for its IAM policies)."""
    image = "000000000000.dkr.ecr.us-east-1.amazonaws.com/filescan:1"
    return translate_sam(sam_template, parameter_values={"ScannerImageUri": image})


def iam_statements(cfn: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every identity-policy statement (roles' inline policies, IAM policies), both If branches."""

    def documents(policy: Any) -> Iterator[dict[str, Any]]:
        if isinstance(policy, dict) and "Fn::If" in policy:
            for branch in policy["Fn::If"][1:]:
                yield from documents(branch)
        elif isinstance(policy, dict) and "PolicyDocument" in policy:
            yield policy["PolicyDocument"]

    for logical, resource in cfn["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                for document in documents(policy):
                    for statement in as_list(document["Statement"]):
                        yield logical, statement
        elif resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            for statement in as_list(properties["PolicyDocument"]["Statement"]):
                yield logical, statement


def role_statements(cfn: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [statement for logical, statement in iam_statements(cfn) if logical == role]


def actions_granted(cfn: dict[str, Any], role: str) -> set[str]:
    return {
        action
        for statement in role_statements(cfn, role)
        if statement.get("Effect") == "Allow"
        for action in as_list(statement["Action"])
    }


def of_type(cfn: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical: resource["Properties"]
        for logical, resource in cfn["Resources"].items()
        if resource["Type"] == resource_type
    }


def policy_statements(
    cfn: dict[str, Any], logical: str, *, direct_clean_reads: bool = False
) -> dict[str, dict[str, Any]]:
    document = cfn["Resources"][logical]["Properties"]["PolicyDocument"]
    resolved = resolve_conditions(document, {"AllowDirectCleanReads": direct_clean_reads, "FastPathOn": True})
    return {statement["Sid"]: statement for statement in as_list(resolved["Statement"])}


# ------------------------------------------------------------------------------------------------
# fixtures
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sam_template() -> dict[str, Any]:
    return load_yaml(TEMPLATE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cfn(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)


# ------------------------------------------------------------------------------------------------
# resources
# ------------------------------------------------------------------------------------------------
def test_given_sam_template_when_translated_then_every_required_resource_exists(cfn):
    types = {logical: resource["Type"] for logical, resource in cfn["Resources"].items()}

    missing = {logical: kind for logical, kind in REQUIRED_RESOURCES.items() if types.get(logical) != kind}

    assert missing == {}
    layers = of_type(cfn, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1
    (layer,) = layers.values()
    assert layer["CompatibleRuntimes"] == ["python3.13"]
    assert layer["CompatibleArchitectures"] == ["x86_64"]


def test_given_sam_template_when_read_then_layer_and_functions_are_built_from_the_repo_layout(sam_template):
    resources = sam_template["Resources"]

    layer = resources["SharedLayer"]
    functions = {name: resources[logical]["Properties"] for name, logical in FUNCTIONS.items()}

    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    for name, properties in functions.items():
        assert properties["CodeUri"] == f"functions/{name}/"
        assert (REPO / "functions" / name / "app.py").is_file()
    # Every artefact is built by packaging/Makefile (compiled bytecode), each by its own target.
    for logical in ("SharedLayer", *FUNCTIONS.values()):
        metadata = resources[logical]["Metadata"]
        assert (metadata["BuildMethod"], metadata["ContextPath"]) == ("makefile", "packaging")
        dry_run = subprocess.run(
            ["make", "--dry-run", "--makefile", str(REPO / "packaging" / "Makefile"), f"build-{logical}"],
            check=False,
            capture_output=True,
            text=True,
            env={"ARTIFACTS_DIR": "/nonexistent", "PATH": "/usr/bin:/bin"},
            cwd=REPO,
        )
        assert dry_run.returncode == 0, dry_run.stderr
    assert sam_template["Globals"]["Function"]["Handler"] == "app.lambda_handler"


def test_given_functions_when_translated_then_one_runtime_one_architecture_tracing_and_the_layer(cfn):
    functions = of_type(cfn, "AWS::Lambda::Function")

    assert set(functions) == set(FUNCTIONS.values()) | IMAGE_FUNCTIONS
    for properties in (functions[logical] for logical in FUNCTIONS.values()):
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["x86_64"]
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert properties["Handler"] == "app.lambda_handler"
        assert len(properties["Layers"]) == 1
        assert properties["KmsKeyArn"] == arn_of("FileScanKey")


def test_given_functions_when_translated_then_each_has_a_retained_encrypted_log_group(cfn):
    groups = of_type(cfn, "AWS::Logs::LogGroup")

    names = [group["LogGroupName"] for group in groups.values()]

    for logical in FUNCTIONS.values():
        assert {"Fn::Sub": f"/aws/lambda/${{{logical}}}"} in names
    for group in groups.values():
        assert group["RetentionInDays"] == ref("LogRetentionDays")
        assert group["KmsKeyId"] == arn_of("FileScanKey")


# ------------------------------------------------------------------------------------------------
# ingest
# ------------------------------------------------------------------------------------------------
def test_given_ingest_rule_when_matching_then_only_our_bucket_and_prefix_reach_the_ingest_queue(cfn):
    rule = cfn["Resources"]["IngestRule"]["Properties"]

    pattern = rule["EventPattern"]

    assert rule.get("EventBusName", "default") == "default"
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"] == {"name": [ref("UploadsBucket")]}
    assert pattern["detail"]["object"] == {"key": [{"prefix": ref("ScanPrefix")}]}
    # No size filter: out-of-scope objects must reach enqueue and be recorded as SKIPPED.
    assert set(pattern["detail"]) == {"bucket", "object"}
    assert [target["Arn"] for target in rule["Targets"]] == [arn_of("IngestQueue")]
    assert rule["Targets"][0]["DeadLetterConfig"] == {"Arn": arn_of("IngestDLQ")}


def test_given_ingest_queue_when_messages_fail_then_they_redrive_to_the_dlq(cfn):
    queue = cfn["Resources"]["IngestQueue"]["Properties"]
    enqueue = cfn["Resources"]["EnqueueFunction"]["Properties"]

    redrive = queue["RedrivePolicy"]

    assert redrive == {"deadLetterTargetArn": arn_of("IngestDLQ"), "maxReceiveCount": 5}
    assert queue["VisibilityTimeout"] >= 6 * enqueue["Timeout"]
    assert queue["KmsMasterKeyId"] == ref("FileScanKey")


def test_given_ingest_queue_policy_when_read_then_only_the_ingest_rule_may_send(cfn):
    statements = list(policy_statements(cfn, "IngestQueuePolicy").values())

    assert len(statements) == 1
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": arn_of("IngestRule")}}


def test_given_enqueue_event_source_when_translated_then_it_reports_partial_batch_failures(cfn):
    mappings = of_type(cfn, "AWS::Lambda::EventSourceMapping")

    mapping = mappings["EnqueueEventSourceMapping"]

    assert mapping["FunctionName"] == ref("EnqueueFunction")
    assert mapping["EventSourceArn"] == arn_of("IngestQueue")
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] >= 1
    assert "MaximumBatchingWindowInSeconds" in mapping
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": ref("EnqueueMaxConcurrency")}


# ------------------------------------------------------------------------------------------------
# Batch
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("function", "statuses"),
    [
        ("StatusFunction", {"SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING"}),
        ("AnalysisFunction", {"SUCCEEDED", "FAILED"}),
    ],
)
def test_given_batch_state_rules_when_matching_then_only_our_queues_reach_the_right_function(
    cfn, function, statuses
):
    rules = {
        logical: rule
        for logical, rule in of_type(cfn, "AWS::Events::Rule").items()
        if rule.get("EventPattern", {}).get("source") == ["aws.batch"]
    }

    targeting = {
        logical: rule
        for logical, rule in rules.items()
        if [target["Arn"] for target in rule["Targets"]] == [arn_of(function)]
    }

    assert len(rules) == 2
    assert len(targeting) == 1
    ((logical, rule),) = targeting.items()
    pattern = rule["EventPattern"]
    assert pattern["detail-type"] == ["Batch Job State Change"]
    assert pattern["detail"]["jobQueue"] == [
        ref("PriorityJobQueue"),
        ref("StandardJobQueue"),
        ref("Ec2JobQueue"),
    ]
    assert set(pattern["detail"]["status"]) == statuses
    (target,) = rule["Targets"]
    assert target["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] >= 60
    dlq = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    dlq_policy = next(
        policy for policy in of_type(cfn, "AWS::SQS::QueuePolicy").values() if policy["Queues"] == [ref(dlq)]
    )
    (statement,) = as_list(dlq_policy["PolicyDocument"]["Statement"])
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": arn_of(logical)}}
    function_dlq = cfn["Resources"][function]["Properties"]["DeadLetterConfig"]["TargetArn"]
    assert function_dlq == arn_of(dlq)


def test_given_job_queues_when_scheduling_then_priority_outranks_standard_and_standard_prefers_spot(cfn):
    queues = cfn["Resources"]
    environments = of_type(cfn, "AWS::Batch::ComputeEnvironment")

    priority = queues["PriorityJobQueue"]["Properties"]
    standard = queues["StandardJobQueue"]["Properties"]
    standard_order = [
        entry["ComputeEnvironment"]["Ref"]
        for entry in sorted(standard["ComputeEnvironmentOrder"], key=lambda entry: entry["Order"])
    ]

    assert priority["Priority"] > standard["Priority"]
    assert [entry["ComputeEnvironment"] for entry in priority["ComputeEnvironmentOrder"]] == [
        ref("OnDemandComputeEnvironment")
    ]
    assert standard_order == ["SpotComputeEnvironment", "OnDemandComputeEnvironment"]
    assert environments["SpotComputeEnvironment"]["ComputeResources"]["Type"] == "FARGATE_SPOT"
    assert environments["OnDemandComputeEnvironment"]["ComputeResources"]["Type"] == "FARGATE"
    ec2_order = [
        entry["ComputeEnvironment"]["Ref"]
        for entry in sorted(
            queues["Ec2JobQueue"]["Properties"]["ComputeEnvironmentOrder"], key=lambda e: e["Order"]
        )
    ]
    assert ec2_order == ["Ec2SpotComputeEnvironment", "Ec2OnDemandComputeEnvironment"]
    for environment in environments.values():
        assert environment["Type"] == "MANAGED"
        assert environment["ComputeResources"]["Subnets"] == {
            "Fn::If": ["CreateNetwork", [ref("ScannerSubnetA"), ref("ScannerSubnetB")], ref("SubnetIds")]
        }
        assert environment["ComputeResources"]["SecurityGroupIds"] == {
            "Fn::If": ["CreateNetwork", [ref("ScannerSecurityGroup")], ref("SecurityGroupIds")]
        }


def test_given_job_definition_when_a_job_exits_then_only_not_retried_codes_exit(cfn):
    job = cfn["Resources"]["ScannerJobDefinition"]["Properties"]

    rules = job["RetryStrategy"]["EvaluateOnExit"]
    exit_codes_exited = {rule["OnExitCode"] for rule in rules if rule["Action"] == "EXIT"}
    first_retry = next(index for index, rule in enumerate(rules) if rule["Action"] == "RETRY")

    assert exit_codes_exited == {str(code) for code in exit_codes.NOT_RETRIED}
    assert all(set(rule) == {"OnExitCode", "Action"} for rule in rules if rule["Action"] == "EXIT")
    # First match wins: every EXIT rule must come before the first RETRY rule.
    assert all(rule["Action"] == "EXIT" for rule in rules[:first_retry])
    assert all(rule["Action"] == "RETRY" for rule in rules[first_retry:])
    assert rules[-1] == {"OnExitCode": "*", "Action": "RETRY"}
    assert any(rule.get("OnStatusReason", "").startswith("Your Spot Task was interrupted") for rule in rules)
    assert len(rules) <= 5
    assert job["RetryStrategy"]["Attempts"] == 3


def test_given_job_definition_when_submitted_then_command_takes_ref_parameters(cfn):
    job = cfn["Resources"]["ScannerJobDefinition"]["Properties"]
    container = job["ContainerProperties"]

    command = container["Command"]
    placeholders = {arg.removeprefix("Ref::") for arg in command if arg.startswith("Ref::")}

    assert command == [
        "filescan-scan",
        "--bucket",
        "Ref::bucket",
        "--key",
        "Ref::key",
        "--version-id",
        "Ref::version_id",
        "--scan-id",
        "Ref::scan_id",
    ]
    assert placeholders == set(job["Parameters"])
    assert job["Type"] == "container"
    assert job["PlatformCapabilities"] == ["FARGATE"]
    assert job["PropagateTags"] is True
    assert job["Timeout"] == {"AttemptDurationSeconds": size_job(8 * 1024**3).timeout_seconds}
    assert container["Image"] == {
        "Fn::If": [
            "HasScannerImage",
            ref("ScannerImageUri"),
            {"Fn::Sub": "${ScannerRepository.RepositoryUri}:${ScannerVersion}"},
        ]
    }
    assert container["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    assert container["NetworkConfiguration"] == {"AssignPublicIp": "DISABLED"}
    assert container["FargatePlatformConfiguration"] == {"PlatformVersion": "LATEST"}
    assert container["EphemeralStorage"] == {"SizeInGiB": ref("JobEphemeralStorageGiB")}
    assert {item["Type"]: item["Value"] for item in container["ResourceRequirements"]} == {
        "VCPU": "1",
        "MEMORY": "2048",
    }
    env = {item["Name"] for item in container["Environment"]}
    assert {"REPORTS_BUCKET", "REPORTS_PREFIX", "AWS_DEFAULT_REGION", "POWERTOOLS_SERVICE_NAME"} <= env
    assert container["JobRoleArn"] == arn_of("ScannerJobRole")
    assert container["ExecutionRoleArn"] == arn_of("ScannerExecutionRole")
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert container["LogConfiguration"]["Options"]["awslogs-group"] == ref("ScannerLogGroup")


def test_given_scanner_repository_when_pushing_then_tags_are_immutable_scanned_and_encrypted(cfn):
    repository = cfn["Resources"]["ScannerRepository"]["Properties"]

    assert repository["ImageTagMutability"] == "IMMUTABLE"
    assert repository["ImageScanningConfiguration"] == {"ScanOnPush": True}
    assert repository["EncryptionConfiguration"]["EncryptionType"] == "KMS"
    assert "LifecyclePolicyText" in repository["LifecyclePolicy"]


# ------------------------------------------------------------------------------------------------
# API
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("use_jwt", "scheme"), [(False, "sigv4"), (True, "jwt")])
def test_given_http_api_when_auth_is_chosen_then_every_route_is_authorised(cfn, use_jwt, scheme):
    conditions = {"UseJwt": use_jwt, "HasCors": False}
    body = resolve_conditions(cfn["Resources"]["HttpApi"]["Properties"]["Body"], conditions)

    routes = {
        f"{method.upper()} {path}": operation
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }

    assert set(routes) == API_ROUTES
    for operation in routes.values():
        assert operation["security"] == [{scheme: []}]
        integration = operation["x-amazon-apigateway-integration"]
        assert integration["type"] == "aws_proxy"
        assert integration["payloadFormatVersion"] == "2.0"
        assert "${ApiFunction.Arn}" in integration["uri"]["Fn::Sub"]
    schemes = body["components"]["securitySchemes"]
    assert set(schemes) == {scheme}
    if use_jwt:
        authorizer = schemes["jwt"]["x-amazon-apigateway-authorizer"]
        assert authorizer["type"] == "jwt"
        assert authorizer["jwtConfiguration"] == {"issuer": ref("JwtIssuer"), "audience": ref("JwtAudience")}
    else:
        assert schemes["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert cfn["Parameters"]["ApiAuth"]["Default"] == "IAM"
    assert cfn["Conditions"]["UseJwt"] == {"Fn::Equals": [ref("ApiAuth"), "JWT"]}
    assert of_type(cfn, "AWS::ApiGatewayV2::Route") == {}  # no route outside the OpenAPI definition
    assert of_type(cfn, "AWS::ApiGateway::RestApi") == {}


def test_given_http_api_when_sam_reads_it_then_every_route_is_an_httpapi_event_of_the_function(
    sam_template,
):
    events = sam_template["Resources"]["ApiFunction"]["Properties"]["Events"].values()

    assert {f"{e['Properties']['Method']} {e['Properties']['Path']}" for e in events} == API_ROUTES
    for event in events:
        assert event["Type"] == "HttpApi"
        assert event["Properties"]["ApiId"] == ref("HttpApi")
    assert sam_template["Resources"]["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"


def test_given_http_api_when_invoked_then_each_route_has_its_own_scoped_permission(cfn):
    permissions = [
        p for p in of_type(cfn, "AWS::Lambda::Permission").values() if p["FunctionName"] == ref("ApiFunction")
    ]

    assert len(permissions) == len(API_ROUTES)
    for permission in permissions:
        assert permission["Principal"] == "apigateway.amazonaws.com"
        arn, names = permission["SourceArn"]["Fn::Sub"]
        assert names["__ApiId__"] == ref("HttpApi")
        assert arn.split("${__Stage__}/", 1)[1].split("/", 1)[0] in {"GET", "POST"}


def test_given_http_api_stage_when_deployed_then_it_logs_access_and_throttles(cfn):
    stage = cfn["Resources"]["HttpApiApiGatewayDefaultStage"]["Properties"]

    assert stage["StageName"] == "$default"
    assert stage["AutoDeploy"] is True
    assert stage["AccessLogSettings"]["DestinationArn"] == arn_of("ApiAccessLogGroup")
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == ref("ApiThrottlingBurstLimit")
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == ref("ApiThrottlingRateLimit")
    body = cfn["Resources"]["HttpApi"]["Properties"]["Body"]
    assert "x-amazon-apigateway-cors" not in resolve_conditions(body, {"HasCors": False, "UseJwt": False})
    assert resolve_conditions(body, {"HasCors": True, "UseJwt": False})["x-amazon-apigateway-cors"][
        "allowOrigins"
    ] == ref("CorsAllowOrigins")


# ------------------------------------------------------------------------------------------------
# IAM
# ------------------------------------------------------------------------------------------------
def test_given_iam_policies_when_expanded_then_no_wildcard_action_or_unlisted_wildcard_resource(cfn):
    offenders = []

    for logical, statement in iam_statements(cfn):
        actions = as_list(statement["Action"])
        resources = as_list(statement.get("Resource", []))
        if "*" in actions or any(action.endswith(":*") for action in actions):
            offenders.append((logical, statement.get("Sid"), "wildcard action", actions))
        if statement["Effect"] == "Allow" and "*" in resources:
            unlisted = [action for action in actions if action not in WILDCARD_RESOURCE_ACTIONS]
            if unlisted:
                offenders.append((logical, statement.get("Sid"), "Resource *", unlisted))

    assert offenders == []


def test_given_roles_when_translated_then_only_listed_managed_policies_are_attached(cfn):
    attached = {
        # Our own roles name the partition (GovCloud, China); SAM's function roles come resolved.
        arn["Fn::Sub"].replace("${AWS::Partition}", "aws") if isinstance(arn, dict) else arn
        for role in of_type(cfn, "AWS::IAM::Role").values()
        for arn in role.get("ManagedPolicyArns", [])
    }

    assert attached <= set(ALLOWED_MANAGED_POLICIES)


def test_given_roles_when_translated_then_all_live_under_the_stack_path_named_by_the_key_policy(cfn):
    key_policy = cfn["Resources"]["FileScanKey"]["Properties"]["KeyPolicy"]
    statements = {statement["Sid"]: statement for statement in key_policy["Statement"]}

    pipeline = statements["PipelineRolesUseKey"]["Condition"]["ArnLike"]["aws:PrincipalArn"]

    assert pipeline == {
        "Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/filescan/${AWS::StackName}/*"
    }
    for logical, role in of_type(cfn, "AWS::IAM::Role").items():
        # The EC2 instances' agent role is kept off the key's path: it never needs the key.
        expected = (
            "/filescan-instances/${AWS::StackName}/"
            if logical == "Ec2InstanceRole"
            else "/filescan/${AWS::StackName}/"
        )
        assert role["Path"] == {"Fn::Sub": expected}
    assert statements["AccountRootAdministers"]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }


def test_given_batch_submitters_when_translated_then_submit_job_names_queues_and_definition(cfn):
    any_revision = [
        {
            "Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}"
            f":job-definition/${{AWS::StackName}}-scanner{suffix}:*"
        }
        for suffix in ("", "-large-disk", "-ec2")
    ]
    job_definition_any_revision = any_revision[0]
    definitions = ("ScannerJobDefinition", "ScannerLargeDiskJobDefinition", "ScannerEc2JobDefinition")

    for role in ("EnqueueFunctionRole", "ApiFunctionRole"):
        submit = [
            statement
            for statement in role_statements(cfn, role)
            if "batch:SubmitJob" in as_list(statement["Action"])
        ]
        (statement,) = submit
        resources = as_list(statement["Resource"])
        assert ref("ScannerJobDefinition") in resources
        assert job_definition_any_revision in resources
        assert ref("StandardJobQueue") in resources and ref("Ec2JobQueue") in resources
        assert all(ref(definition) in resources for definition in definitions)
        assert all(revision in resources for revision in any_revision)
        assert set(map(str, resources)) <= {
            str(ref("StandardJobQueue")),
            str(ref("PriorityJobQueue")),
            str(ref("Ec2JobQueue")),
            *(str(ref(definition)) for definition in definitions),
            *map(str, any_revision),
        }
    # The sweeper never submits: terminal outcomes go through analysis, overdue jobs are terminated.
    assert "batch:SubmitJob" not in actions_granted(cfn, "SweeperFunctionRole")
    assert "batch:SubmitJob" not in actions_granted(cfn, "StatusFunctionRole")
    # Analysis submits only to escalate filescan's own job to the on-demand (priority) queue.
    (escalate,) = [
        statement
        for statement in role_statements(cfn, "AnalysisFunctionRole")
        if "batch:SubmitJob" in as_list(statement["Action"])
    ]
    escalation_resources = set(map(str, as_list(escalate["Resource"])))
    assert str(ref("PriorityJobQueue")) in escalation_resources
    assert str(ref("StandardJobQueue")) not in escalation_resources
    assert str(ref("Ec2JobQueue")) not in escalation_resources
    assert escalation_resources <= {
        str(ref("PriorityJobQueue")),
        *(str(ref(definition)) for definition in definitions),
        *map(str, any_revision),
    }


def test_given_api_function_when_translated_then_it_holds_exactly_what_its_routes_use(cfn):
    statements = {
        statement.get("Sid"): statement
        for statement in role_statements(cfn, "ApiFunctionRole")
        if statement.get("Sid")
    }

    granted = actions_granted(cfn, "ApiFunctionRole")

    assert set(as_list(statements["ReadAndRecordScans"]["Action"])) == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    assert as_list(statements["ReadAndRecordScans"]["Resource"]) == [
        arn_of("ScansTable"),
        {"Fn::Sub": "${ScansTable.Arn}/index/*"},
    ]
    assert not {"dynamodb:DeleteItem", "dynamodb:Scan", "dynamodb:BatchWriteItem"} & granted
    assert statements["PresignReportDownloads"]["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/reports/*"}
    assert statements["PresignUploads"]["Resource"] == {"Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"}
    assert statements["BulkRescanManifests"]["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/manifests/*"}
    listing = statements["ListScanPrefix"]
    assert listing["Resource"] == arn_of("UploadsBucket")
    assert listing["Condition"] == {"StringLike": {"s3:prefix": {"Fn::Sub": "${ScanPrefix}*"}}}
    # The scanner's array children read their manifest line, and nothing else of the reports bucket.
    scanner = {s.get("Sid"): s for s in role_statements(cfn, "ScannerJobRole")}
    assert scanner["ReadBulkManifests"]["Action"] == "s3:GetObject"
    assert scanner["ReadBulkManifests"]["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/manifests/*"}


def test_given_scans_table_when_granted_then_gsis_are_queryable_by_index_arn(cfn):
    dynamodb = [
        statement
        for statement in role_statements(cfn, "SweeperFunctionRole")
        if "dynamodb:Query" in as_list(statement["Action"])
    ]

    resources = [resource for statement in dynamodb for resource in as_list(statement["Resource"])]

    assert any("/index/*" in str(resource) and "ScansTable" in str(resource) for resource in resources)


def test_given_llm_secret_when_configured_then_only_analysis_may_read_exactly_that_secret(cfn):
    analysis_policies = cfn["Resources"]["AnalysisFunctionRole"]["Properties"]["Policies"]

    conditional = [policy for policy in analysis_policies if "Fn::If" in policy]

    assert len(conditional) == 1
    condition, granted, otherwise = conditional[0]["Fn::If"]
    assert condition == "HasOpenAIKey"
    assert otherwise == {"Ref": "AWS::NoValue"}
    (statement,) = as_list(granted["PolicyDocument"]["Statement"])
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == ref("OpenAIApiKeySecretArn")
    readers = {
        logical
        for logical, statement in iam_statements(cfn)
        if any(action.startswith("secretsmanager:") for action in as_list(statement["Action"]))
    }
    # The fast path's scanner Lambda concludes its scans with the same triage step.
    assert readers == {"AnalysisFunctionRole", "ScanFunctionRole"}
    assert cfn["Parameters"]["OpenAIApiKeySecretArn"]["Default"] == ""


def test_given_event_bus_when_granted_then_put_events_targets_only_the_filescan_bus(cfn):
    put_events = [
        statement
        for _, statement in iam_statements(cfn)
        if "events:PutEvents" in as_list(statement["Action"])
    ]

    assert put_events
    assert "events:PutEvents" in actions_granted(cfn, "AnalysisFunctionRole")
    for statement in put_events:
        assert "FileScanEventBus" in str(statement["Resource"])
    bus = cfn["Resources"]["FileScanEventBus"]["Properties"]
    assert bus["Name"] == {"Fn::Sub": "filescan-${AWS::StackName}"}


# ------------------------------------------------------------------------------------------------
# environment contract
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("function", sorted(FUNCTION_ENV))
def test_given_function_when_translated_then_it_has_the_contracted_environment(cfn, function):
    env = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]

    missing = (COMMON_ENV | FUNCTION_ENV[function]) - set(env)

    assert missing == set()
    assert env["REPORTS_PREFIX"] == "reports/"
    assert env["POWERTOOLS_SERVICE_NAME"] == "filescan"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "filescan"
    assert env["POWERTOOLS_LOG_LEVEL"] == ref("LogLevel")


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_given_a_handler_when_it_loads_its_settings_then_the_template_sets_every_required_variable(
    cfn, function
):
    # Derived from the code, not from a list: the settings class each app.py validates at cold start.
    source = (REPO / "functions" / function / "app.py").read_text()
    (class_name,) = re.findall(r"load_settings\((\w+)\)", source)
    settings_class = getattr(filescan_settings, class_name)
    required = {name.upper() for name, field in settings_class.model_fields.items() if field.is_required()}
    env = cfn["Resources"][FUNCTIONS[function]]["Properties"]["Environment"]["Variables"]

    assert required
    assert required - set(env) == set()


def test_given_parameters_when_defaulted_then_contract_defaults_hold(cfn):
    parameters = cfn["Parameters"]

    defaults = {name: str(parameter.get("Default")) for name, parameter in parameters.items()}

    assert defaults["ScanPrefix"] == "uploads/"
    assert defaults["MaxObjectBytes"] == str(S3_MAX_OBJECT_BYTES)
    assert defaults["MaxUploadBytes"] == str(5 * 1024**3)
    assert defaults["PriorityPrefixes"] == "uploads/priority/"
    assert defaults["ExcludedExtensions"] == ""
    analysis_default = filescan_settings.AnalysisSettings.model_fields["openai_model"].default
    assert defaults["OpenAIModel"] == "gpt-6-luna" == DEFAULT_MODEL == analysis_default
    assert defaults["OpenAIModelProfile"] == ""
    assert defaults["OpenAIBaseUrl"] == ""
    assert defaults["LlmTimeoutSeconds"] == "20"
    assert defaults["LlmMaxPromptTokens"] == "3000"
    engine_read_default = filescan_settings.AnalysisSettings.model_fields[
        "llm_engine_read_max_prompt_tokens"
    ].default
    assert defaults["LlmEngineReadMaxPromptTokens"] == str(engine_read_default) == "16000"
    assert defaults["QuarantineMode"] == "tag"
    assert defaults["QuarantinePrefix"] == "quarantine/"
    assert defaults["ReportUrlTtlSeconds"] == "300"
    assert defaults["DownloadUrlTtlSeconds"] == "300"
    assert defaults["DirectCleanReads"] == "false"
    assert defaults["UploadUrlTtlSeconds"] == "900"
    assert defaults["StuckAfterMinutes"] == "30"
    assert defaults["SweepMaxItems"] == "200"
    assert defaults["JobEphemeralStorageGiB"] == "50"
    assert defaults["SweepSchedule"] == "rate(5 minutes)"
    assert parameters["QuarantineMode"]["AllowedValues"] == ["tag", "move"]


# ------------------------------------------------------------------------------------------------
# encryption and buckets
# ------------------------------------------------------------------------------------------------
def test_given_kms_key_when_translated_then_it_rotates_and_encrypts_buckets_tables_queues_and_topic(cfn):
    resources = cfn["Resources"]

    key = resources["FileScanKey"]["Properties"]

    assert key["EnableKeyRotation"] is True
    for bucket in ("UploadsBucket", "ReportsBucket"):
        (rule,) = resources[bucket]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": arn_of("FileScanKey"),
        }
    for table in ("ScansTable", "IdempotencyTable"):
        sse = resources[table]["Properties"]["SSESpecification"]
        assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": arn_of("FileScanKey")}
        assert resources[table]["Properties"]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
    for queue in of_type(cfn, "AWS::SQS::Queue").values():
        assert queue["KmsMasterKeyId"] == ref("FileScanKey")
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == ref("FileScanKey")


@pytest.mark.parametrize("bucket", ["UploadsBucket", "ReportsBucket", "AccessLogsBucket"])
def test_given_bucket_when_translated_then_it_is_private_versioned_and_tls_only(cfn, bucket):
    properties = cfn["Resources"][bucket]["Properties"]
    policy = next(
        policy for policy in of_type(cfn, "AWS::S3::BucketPolicy").values() if policy["Bucket"] == ref(bucket)
    )

    statements = {
        statement.get("Sid"): statement for statement in as_list(policy["PolicyDocument"]["Statement"])
    }

    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    tls = statements["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny"
    assert tls["Principal"] == "*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_given_uploads_bucket_policy_when_reading_then_only_clean_objects_are_readable(cfn):
    statements = policy_statements(cfn, "UploadsBucketPolicy")

    gate = statements["ReadGateOnlyCleanObjects"]

    assert gate["Effect"] == "Deny"
    assert gate["Principal"] == "*"
    assert set(gate["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert gate["Resource"] == {"Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"}
    assert gate["Condition"]["StringNotEquals"] == {"s3:ExistingObjectTag/filescan-verdict": "clean"}
    # enqueue is excepted for HeadObject only (IAM authorises it as s3:GetObject).
    assert gate["Condition"]["ArnNotEquals"] == {
        "aws:PrincipalArn": [
            arn_of("ScannerJobRole"),
            arn_of("EngineJobRole"),  # engine jobs' fetch container
            arn_of("AnalysisFunctionRole"),
            arn_of("EnqueueFunctionRole"),
            FAST_PATH_ROLE,
        ]
    }


@pytest.mark.parametrize("direct_clean_reads", [False, True])
def test_given_uploads_bucket_policy_when_reading_then_only_the_pipeline_and_the_api_read_the_scan_prefix(
    cfn, direct_clean_reads
):
    statements = policy_statements(cfn, "UploadsBucketPolicy", direct_clean_reads=direct_clean_reads)

    if direct_clean_reads:
        # The opt-in: the tag alone releases a file (the multipart caveat in docs/security.md).
        assert "ReadsOnlyThroughApi" not in statements
        return
    only_api = statements["ReadsOnlyThroughApi"]
    assert only_api["Effect"] == "Deny"
    assert only_api["Principal"] == "*"
    assert set(only_api["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"}
    assert only_api["Resource"] == {"Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"}
    # No tag condition: whoever set the tag, only these roles read; the API role is still held to
    # the clean tag by ReadGateOnlyCleanObjects (it is not among that statement's exceptions).
    assert only_api["Condition"] == {
        "ArnNotEquals": {
            "aws:PrincipalArn": [
                arn_of("ScannerJobRole"),
                arn_of("EngineJobRole"),
                arn_of("AnalysisFunctionRole"),
                arn_of("EnqueueFunctionRole"),
                arn_of("ApiFunctionRole"),
                FAST_PATH_ROLE,
            ]
        }
    }
    gate_exceptions = statements["ReadGateOnlyCleanObjects"]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    assert arn_of("ApiFunctionRole") not in gate_exceptions
    assert cfn["Parameters"]["DirectCleanReads"]["Default"] == "false"


def test_given_api_role_when_presigning_downloads_then_it_reads_versions_of_the_scan_prefix_only(cfn):
    statements = {s.get("Sid"): s for s in role_statements(cfn, "ApiFunctionRole")}

    download = statements["PresignCleanDownloads"]

    assert download["Effect"] == "Allow"
    assert as_list(download["Action"]) == ["s3:GetObjectVersion"]
    assert download["Resource"] == {"Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"}
    assert "kms:Decrypt" in as_list(statements["UseFileScanKey"]["Action"])


def test_given_uploads_bucket_policy_when_tagging_then_only_the_pipeline_sets_the_verdict_tag(cfn):
    statements = policy_statements(cfn, "UploadsBucketPolicy")

    deny_tag = statements["OnlyPipelineSetsVerdictTag"]

    assert deny_tag["Effect"] == "Deny"
    assert {"s3:PutObject", "s3:PutObjectTagging"} <= set(deny_tag["Action"])
    assert deny_tag["Condition"]["ForAnyValue:StringEquals"] == {
        "s3:RequestObjectTagKeys": "filescan-verdict"
    }
    pipeline = [arn_of("AnalysisFunctionRole"), arn_of("EnqueueFunctionRole"), FAST_PATH_ROLE]
    assert deny_tag["Condition"]["ArnNotEquals"] == {"aws:PrincipalArn": pipeline}
    assert statements["OnlyPipelineDeletesTags"]["Condition"]["ArnNotEquals"] == {
        "aws:PrincipalArn": pipeline
    }


def test_given_uploads_bucket_when_objects_are_created_then_eventbridge_is_notified_and_access_logged(cfn):
    properties = cfn["Resources"]["UploadsBucket"]["Properties"]

    assert properties["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == ref("AccessLogsBucket")


def test_given_reports_bucket_when_reports_age_then_current_and_noncurrent_versions_expire(cfn):
    rules = cfn["Resources"]["ReportsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [rule for rule in rules if rule["Prefix"] == "reports/"]

    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == ref("ReportRetentionDays")
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": ref("ReportRetentionDays")}


def test_given_scans_table_when_translated_then_keys_and_indexes_match_the_access_patterns(cfn):
    table = cfn["Resources"]["ScansTable"]["Properties"]

    indexes = {
        index["IndexName"]: [(key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]]
        for index in table["GlobalSecondaryIndexes"]
    }

    assert table["KeySchema"] == [{"AttributeName": "scan_id", "KeyType": "HASH"}]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert indexes == {
        "ByObject": [("object_ref", "HASH"), ("created_at", "RANGE")],
        "ByStatus": [("status_day", "HASH"), ("updated_at", "RANGE")],
        "ByContent": [("content_key", "HASH")],
    }
    assert all(attribute["AttributeType"] == "S" for attribute in table["AttributeDefinitions"])
    idempotency = cfn["Resources"]["IdempotencyTable"]["Properties"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


# ------------------------------------------------------------------------------------------------
# operations
# ------------------------------------------------------------------------------------------------
def test_given_alarms_when_translated_then_dlqs_failures_stuck_scans_and_errors_page_the_topic(cfn):
    alarms = of_type(cfn, "AWS::CloudWatch::Alarm")

    watched = {
        (alarm["Namespace"], alarm["MetricName"], str(alarm.get("Dimensions"))) for alarm in alarms.values()
    }
    metrics = {(namespace, metric) for namespace, metric, _ in watched}

    for dlq in ("IngestDLQ", "StatusTargetDLQ", "AnalysisTargetDLQ"):
        dimension = [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq, "QueueName"]}}]
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", str(dimension)) in watched
    assert {("filescan", "ScansFailed"), ("filescan", "ScansStuck")} <= metrics
    assert ("filescan", "LlmConfigurationErrors") in metrics  # emitted by functions/analysis/app.py
    for function in FUNCTIONS.values():
        dimension = [{"Name": "FunctionName", "Value": ref(function)}]
        assert ("AWS/Lambda", "Errors", str(dimension)) in watched
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == [ref("AlarmTopic")]
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_given_dashboard_when_rendered_then_it_shows_the_pipeline_metrics(cfn):
    body = cfn["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]

    rendered = json.loads(re.sub(r"\$\{[^}]+\}", "placeholder", body))
    shown = set()
    for widget in rendered["widgets"]:
        for metric in widget["properties"]["metrics"]:
            if isinstance(metric[0], dict):
                shown.update(re.findall(r'MetricName="(\w+)"', metric[0]["expression"]))
            else:
                shown.add(metric[1])

    assert {
        "ScansQueued",
        "JobsByState",
        "ScanDurationSeconds",
        "Verdict",
        "ScansFailed",
        "ScansStuck",
    } <= shown
    assert "ApproximateNumberOfMessagesVisible" in shown
    assert "${IngestQueue.QueueName}" in body


def test_given_stack_when_deployed_then_outputs_cover_what_cli_and_integration_tests_need(cfn):
    outputs = set(cfn["Outputs"])

    assert {
        "UploadsBucketName",
        "ReportsBucketName",
        "ScansTableName",
        "IdempotencyTableName",
        "IngestQueueUrl",
        "IngestQueueArn",
        "IngestDLQUrl",
        "StatusTargetDLQUrl",
        "AnalysisTargetDLQUrl",
        "PriorityJobQueueArn",
        "StandardJobQueueArn",
        "ScannerJobDefinitionArn",
        "ScannerRepositoryUri",
        "HttpApiUrl",
        "EventBusName",
        "AlarmTopicArn",
        "EnqueueFunctionName",
        "StatusFunctionName",
        "AnalysisFunctionName",
        "ApiFunctionName",
        "SweeperFunctionName",
        "KmsKeyArn",
    } <= outputs


# ------------------------------------------------------------------------------------------------
# the checks are live
# ------------------------------------------------------------------------------------------------
def run_cfn_lint(template: Path) -> subprocess.CompletedProcess[str]:
    assert CFN_LINT.is_file(), f"{CFN_LINT} is missing: `make .venv-sam/.installed` builds it"
    return subprocess.run(
        [str(CFN_LINT), str(template)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=template.parent,
    )


BREAKAGES = {
    "rule targets a resource that does not exist": (
        "          Arn: !GetAtt IngestQueue.Arn\n",
        "          Arn: !GetAtt NoSuchQueue.Arn\n",
    ),
    "job definition has an invalid property": (
        "      PlatformCapabilities: [EC2]\n",
        "      PlatformCapabilities: [EC2]\n      NotAProperty: true\n",
    ),
}


def test_given_real_template_when_cfn_lint_runs_then_it_passes():
    result = run_cfn_lint(TEMPLATE)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_given_broken_copy_when_cfn_lint_runs_then_it_fails(tmp_path, breakage):
    original, broken = BREAKAGES[breakage]
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(original) == 1
    copy_path = tmp_path / "template.yaml"
    shutil.copy(TEMPLATE, copy_path)
    copy_path.write_text(text.replace(original, broken), encoding="utf-8")

    result = run_cfn_lint(copy_path)

    assert result.returncode != 0
    assert "E" in result.stdout


def test_given_size_classes_when_fargate_cannot_take_them_then_ec2_spot_and_on_demand_do(cfn):
    environments = of_type(cfn, "AWS::Batch::ComputeEnvironment")
    spot = environments["Ec2SpotComputeEnvironment"]["ComputeResources"]
    on_demand = environments["Ec2OnDemandComputeEnvironment"]["ComputeResources"]
    definitions = cfn["Resources"]

    assert (spot["Type"], spot["AllocationStrategy"]) == ("SPOT", "SPOT_CAPACITY_OPTIMIZED")
    assert (on_demand["Type"], on_demand["AllocationStrategy"]) == ("EC2", "BEST_FIT_PROGRESSIVE")
    assert spot["InstanceTypes"] == on_demand["InstanceTypes"] == ref("Ec2InstanceTypes")
    assert len(cfn["Parameters"]["Ec2InstanceTypes"]["Default"].split(",")) >= 4  # diversified
    assert spot["MinvCpus"] == on_demand["MinvCpus"] == 0
    large = definitions["ScannerLargeDiskJobDefinition"]["Properties"]
    ec2 = definitions["ScannerEc2JobDefinition"]["Properties"]
    assert large["ContainerProperties"]["EphemeralStorage"] == {"SizeInGiB": 200}  # Fargate's maximum
    assert large["Timeout"] == {"AttemptDurationSeconds": size_job(150 * 1024**3).timeout_seconds}
    assert ec2["PlatformCapabilities"] == ["EC2"]
    assert ec2["Timeout"] == {"AttemptDurationSeconds": size_job(S3_MAX_OBJECT_BYTES).timeout_seconds}
    assert any(rule.get("OnStatusReason") == "Host EC2*" for rule in ec2["RetryStrategy"]["EvaluateOnExit"])
    for definition in (large, ec2):
        assert (
            definition["ContainerProperties"]["Command"]
            == (definitions["ScannerJobDefinition"]["Properties"]["ContainerProperties"]["Command"])
        )
    for function in ("EnqueueFunction", "ApiFunction"):
        environment = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert environment["JOB_DEFINITION_LARGE_DISK"] == ref("ScannerLargeDiskJobDefinition")
        assert environment["JOB_DEFINITION_EC2"] == ref("ScannerEc2JobDefinition")
    template = cfn["Resources"]["Ec2LaunchTemplate"]["Properties"]["LaunchTemplateData"]
    assert template["MetadataOptions"]["HttpTokens"] == "required"
    assert template["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
