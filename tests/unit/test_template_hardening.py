"""template.yaml against what the code accepts and what AWS needs before a first deployment.

Parameter bounds equal the settings' bounds (a value CloudFormation accepts must not stop a cold
start), every function variable is read by its settings, stuck work has an end in the job queues,
nothing the stack stores lives forever, the image in use is never expired, and the optional scanner
network reaches exactly the endpoints the scanner uses.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from annotated_types import Ge, Gt, Le, Lt
from cfn_flip import load_yaml

from filescan_shared import settings as filescan_settings
from tests.unit.test_template import FUNCTIONS, REPO, TEMPLATE, ref, translate

_RUNNABLE_REASONS = {
    # https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable_time_limit_actions.html
    "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
    "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
}


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_yaml(TEMPLATE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def cfn(sam: dict[str, Any]) -> dict[str, Any]:
    return translate(sam)


def _settings_class(function: str) -> type[filescan_settings.CommonSettings]:
    source = (REPO / "functions" / function / "app.py").read_text()
    (class_name,) = re.findall(r"load_settings\((\w+)\)", source)
    settings_class: type[filescan_settings.CommonSettings] = getattr(filescan_settings, class_name)
    return settings_class


def _environment(cfn: dict[str, Any], function: str) -> dict[str, Any]:
    variables: dict[str, Any] = cfn["Resources"][FUNCTIONS[function]]["Properties"]["Environment"][
        "Variables"
    ]
    return variables


def _code_bounds(field: Any) -> tuple[float | None, float | None]:
    """The inclusive integer-valued range a pydantic field accepts (``None``: unbounded)."""
    low: float | None = None
    high: float | None = None
    for item in field.metadata:
        if isinstance(item, Ge):
            low = float(item.ge)
        elif isinstance(item, Gt):
            low = float(item.gt) + (1 if field.annotation is int else 0)
        elif isinstance(item, Le):
            high = float(item.le)
        elif isinstance(item, Lt):
            high = float(item.lt) - 1
    return low, high


def _numeric_parameters(cfn: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(function, parameter, settings field) for every Number parameter a function reads."""
    found = []
    for function in FUNCTIONS:
        fields = _settings_class(function).model_fields
        for variable, value in _environment(cfn, function).items():
            name = value.get("Ref") if isinstance(value, dict) else None
            parameter = cfn["Parameters"].get(name or "")
            if parameter and parameter["Type"] == "Number" and variable.lower() in fields:
                found.append((function, name, fields[variable.lower()]))
    return found


def test_given_number_parameters_when_bounded_then_the_bounds_equal_what_the_settings_accept(cfn):
    checked = _numeric_parameters(cfn)
    mismatched = {}
    for function, name, field in checked:
        parameter = cfn["Parameters"][name]
        low, high = _code_bounds(field)
        template = (parameter.get("MinValue"), parameter.get("MaxValue"))
        accepted_low = float(template[0]) if template[0] is not None else None
        accepted_high = float(template[1]) if template[1] is not None else None
        too_low = low is not None and (accepted_low is None or accepted_low < low)
        too_high = high is not None and (accepted_high is None or accepted_high > high)
        if too_low or too_high:
            mismatched[f"{function}:{name}"] = {"template": template, "code": (low, high)}

    assert {name for _, name, _ in checked} >= {
        "LlmTimeoutSeconds",
        "SweepMaxItems",
        "PendingDeadlineMinutes",
    }
    assert mismatched == {}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_given_a_function_variable_when_set_then_its_settings_read_it(sam, cfn, function):
    # Globals go to every function (documented in docs/template.md); each function's own must be read.
    common = set(sam["Globals"]["Function"]["Environment"]["Variables"])
    fields = {name.upper() for name in _settings_class(function).model_fields}

    unread = set(_environment(cfn, function)) - fields - common

    assert unread == set()


def test_given_job_timeout_when_every_submit_sets_it_then_no_parameter_pretends_to_control_it(cfn):
    assert "JobTimeoutSeconds" not in cfn["Parameters"]
    assert "JOB_TIMEOUT_SECONDS" not in _environment(cfn, "sweeper")


@pytest.mark.parametrize("queue", ["PriorityJobQueue", "StandardJobQueue", "Ec2JobQueue"])
def test_given_a_job_stuck_runnable_when_the_limit_passes_then_its_queue_cancels_it(cfn, queue):
    actions = cfn["Resources"][queue]["Properties"]["JobStateTimeLimitActions"]
    limit = cfn["Parameters"]["RunnableTimeLimitSeconds"]

    assert {action["Reason"] for action in actions} == _RUNNABLE_REASONS
    for action in actions:
        assert action["Action"] == "CANCEL"  # the only action for Fargate queues
        assert action["State"] == "RUNNABLE"
        assert action["MaxTimeSeconds"] == ref("RunnableTimeLimitSeconds")
    assert (limit["MinValue"], limit["MaxValue"]) == (600, 86400)


def test_given_the_sweeper_when_deployed_then_it_fails_scans_stuck_before_running(cfn):
    assert _environment(cfn, "sweeper")["PENDING_DEADLINE_MINUTES"] == ref("PendingDeadlineMinutes")
    alarm = cfn["Resources"]["ScansStuckAlarm"]["Properties"]
    assert alarm["MetricName"] == "ScansStuck"


def test_given_the_repository_when_images_age_then_only_untagged_ones_expire_and_delete_empties_it(cfn):
    repository = cfn["Resources"]["ScannerRepository"]["Properties"]
    text = repository["LifecyclePolicy"]["LifecyclePolicyText"]["Fn::Sub"]
    rules = json.loads(text.replace("${EcrUntaggedImageDays}", "7"))["rules"]

    assert repository["EmptyOnDelete"] is True
    assert [rule["selection"]["tagStatus"] for rule in rules] == ["untagged"]


def _rules(cfn: dict[str, Any], bucket: str) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = cfn["Resources"][bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
    return rules


def test_given_stored_objects_when_they_age_then_noncurrent_versions_quarantine_and_manifests_expire(cfn):
    uploads = _rules(cfn, "UploadsBucket")
    reports = _rules(cfn, "ReportsBucket")

    everywhere = [rule for rule in uploads if "Prefix" not in rule and "NoncurrentVersionExpiration" in rule]
    (quarantine,) = [rule for rule in uploads if rule.get("Prefix") == ref("QuarantinePrefix")]
    (manifests,) = [rule for rule in reports if rule.get("Prefix") == "manifests/"]

    assert everywhere[0]["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": ref("NoncurrentUploadRetentionDays")
    }
    assert quarantine["ExpirationInDays"] == ref("QuarantineRetentionDays")
    assert manifests["ExpirationInDays"] == ref("ManifestRetentionDays")
    assert all(rule["Status"] == "Enabled" for rule in [*uploads, *reports])


def test_given_a_copy_into_the_scan_prefix_when_requested_then_the_bucket_policy_denies_it(cfn):
    statements = cfn["Resources"]["UploadsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [statement for statement in statements if statement.get("Sid") == "NoCopiesIntoScanPrefix"]

    assert deny["Effect"] == "Deny" and deny["Principal"] == "*"
    assert deny["Action"] == "s3:PutObject"
    assert deny["Resource"] == {"Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"}
    assert deny["Condition"] == {"Null": {"s3:x-amz-copy-source": "false"}}


def _network(sam: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical: resource
        for logical, resource in sam["Resources"].items()
        if resource["Type"].startswith("AWS::EC2::") and resource["Type"] != "AWS::EC2::LaunchTemplate"
    }


def test_given_create_network_when_true_then_private_subnets_in_two_azs_reach_only_the_endpoints_used(sam):
    network = _network(sam)
    endpoints = {
        resource["Properties"]["ServiceName"]["Fn::Sub"].split("${AWS::Region}.")[1]: resource["Properties"][
            "VpcEndpointType"
        ]
        for resource in network.values()
        if resource["Type"] == "AWS::EC2::VPCEndpoint"
    }
    subnets = [
        resource["Properties"] for resource in network.values() if resource["Type"] == "AWS::EC2::Subnet"
    ]
    group = network["ScannerSecurityGroup"]["Properties"]

    assert all(resource.get("Condition") == "CreateNetwork" for resource in network.values())
    assert endpoints == {
        "s3": "Gateway",
        "ecr.api": "Interface",
        "ecr.dkr": "Interface",
        "logs": "Interface",
        # the ECS agent of the EC2 compute environments' instances
        "ecs": "Interface",
        "ecs-agent": "Interface",
        "ecs-telemetry": "Interface",
    }
    assert not {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EIP", "AWS::EC2::Route"} & {
        resource["Type"] for resource in network.values()
    }
    assert sorted(subnet["AvailabilityZone"]["Fn::Select"][0] for subnet in subnets) == [0, 1]
    assert all(subnet["MapPublicIpOnLaunch"] is False for subnet in subnets)
    assert "SecurityGroupIngress" not in group
    assert [
        (rule["IpProtocol"], rule["FromPort"], rule["ToPort"]) for rule in group["SecurityGroupEgress"]
    ] == [("tcp", 443, 443)]


def test_given_existing_subnets_when_create_network_is_false_then_they_are_the_default_and_required(sam):
    parameters = sam["Parameters"]
    rule = sam["Rules"]["ExistingNetworkNeedsSubnetsAndGroups"]

    assert parameters["CreateNetwork"]["Default"] == "false"
    assert rule["RuleCondition"] == {"Fn::Equals": [ref("CreateNetwork"), "false"]}
    assert len(rule["Assertions"]) == 2


def test_given_the_network_prerequisites_when_documented_then_they_name_the_endpoints_the_scanner_uses():
    docs = (REPO / "docs" / "template.md").read_text()
    section = docs.split("## Network prerequisites\n\n", 1)[1]
    prerequisites = section.split("\n\n", 1)[0]  # the paragraph that lists what the subnets must reach

    for endpoint in ("S3 (gateway)", "ECR api", "dkr", "CloudWatch Logs"):
        assert endpoint in prerequisites
    for unused in ("Secrets Manager", "KMS"):
        assert unused not in prerequisites
