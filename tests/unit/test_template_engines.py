"""The template's generated engine section, rendered for a catalogue with several engines.

The repository's catalogue may enable few engines; these tests render the template for a catalogue
with a path engine, an S3 engine from a foreign registry and a second filescan-report scanner, then
translate it as `sam deploy` would and check least privilege, the functions' wiring and cfn-lint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cfn_flip import load_yaml

from deploy import engine_resources
from deploy import engines as generator
from filescan_shared.engines.catalogue import parse_catalogue
from tests.unit.engines.test_catalogue_generate import FILESCAN, PATH_ENGINE, S3_JSON_ENGINE, SECOND_SCANNER
from tests.unit.test_template import TEMPLATE, as_list, iam_statements, run_cfn_lint, translate

CATALOGUE = parse_catalogue({"engines": [FILESCAN, PATH_ENGINE, S3_JSON_ENGINE, SECOND_SCANNER]})
ENGINE_DEFINITIONS = [
    "EngineClamavJobDefinition",
    "EngineFilescanNextJobDefinition",
    "EngineVendorXJobDefinition",
]
GENERATED_IAM = {"EngineJobRole", "EngineExecutionRole", "EngineJobSubmitPolicy"}


@pytest.fixture(scope="module")
def rendered() -> str:
    return generator.render_template(TEMPLATE.read_text(encoding="utf-8"), CATALOGUE)


@pytest.fixture(scope="module")
def cfn(rendered: str) -> dict[str, Any]:
    return translate(load_yaml(rendered))


def statements_of(cfn: dict[str, Any], logical: str) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for name, s in iam_statements(cfn) if name == logical}


def test_given_engines_when_rendered_then_each_gets_a_job_definition_and_built_ones_a_repository(cfn):
    resources = cfn["Resources"]
    for logical in ENGINE_DEFINITIONS:
        assert resources[logical]["Type"] == "AWS::Batch::JobDefinition"
    assert resources["EngineClamavRepository"]["Type"] == "AWS::ECR::Repository"
    assert resources["EngineFilescanNextRepository"]["Type"] == "AWS::ECR::Repository"
    assert "EngineVendorXRepository" not in resources
    assert "EngineFilescanJobDefinition" not in resources  # filescan keeps its size-class definitions
    scanner = resources["ScannerRepository"]["Properties"]
    for repository in ("EngineClamavRepository", "EngineFilescanNextRepository"):
        properties = resources[repository]["Properties"]
        for key in (
            "ImageTagMutability",
            "ImageScanningConfiguration",
            "EncryptionConfiguration",
            "EmptyOnDelete",
        ):
            assert properties[key] == scanner[key], key


def test_given_generated_iam_when_expanded_then_every_statement_names_its_resources(cfn):
    generated = [(logical, s) for logical, s in iam_statements(cfn) if logical in GENERATED_IAM]
    assert {logical for logical, _ in generated} == GENERATED_IAM
    for logical, statement in generated:
        resources = as_list(statement["Resource"])
        assert resources, (logical, statement)
        if "*" in resources:
            assert statement["Action"] == "ecr:GetAuthorizationToken", (logical, statement)
        assert not any(action.endswith("*") for action in as_list(statement["Action"])), statement


def test_given_the_engine_job_role_when_read_then_it_reads_the_scan_prefix_and_writes_engine_outputs(cfn):
    statements = statements_of(cfn, "EngineJobRole")

    assert statements["ReadUploadsUnderScanPrefix"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert statements["ReadUploadsUnderScanPrefix"]["Resource"] == {
        "Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"
    }
    assert statements["WriteEngineOutputs"] == {
        "Sid": "WriteEngineOutputs",
        "Effect": "Allow",
        "Action": "s3:PutObject",
        "Resource": {"Fn::Sub": "${ReportsBucket.Arn}/reports/*/engines/*"},
    }
    assert statements["UseFileScanKey"]["Resource"] == {"Fn::GetAtt": ["FileScanKey", "Arn"]}
    role = cfn["Resources"]["EngineJobRole"]["Properties"]
    assert role["Path"] == {"Fn::Sub": "/filescan/${AWS::StackName}/"}  # the key policy's path


def test_given_the_engine_execution_role_when_read_then_it_pulls_exactly_the_engine_and_scanner_images(cfn):
    pulls = statements_of(cfn, "EngineExecutionRole")["PullEngineImages"]["Resource"]

    assert pulls == [
        {"Fn::GetAtt": ["ScannerRepository", "Arn"]},
        {"Fn::GetAtt": ["EngineClamavRepository", "Arn"]},
        {"Fn::GetAtt": ["EngineFilescanNextRepository", "Arn"]},
        {"Fn::Sub": "arn:${AWS::Partition}:ecr:eu-west-1:111122223333:repository/vendor/x"},
    ]


def test_given_the_submitting_functions_when_read_then_they_may_submit_each_engine_job(cfn):
    policy = cfn["Resources"]["EngineJobSubmitPolicy"]["Properties"]
    statement = statements_of(cfn, "EngineJobSubmitPolicy")["SubmitEngineJobs"]

    assert policy["Roles"] == [{"Ref": role} for role in engine_resources.SUBMITTING_ROLES]
    for role in engine_resources.SUBMITTING_ROLES:
        assert cfn["Resources"][role]["Type"] == "AWS::IAM::Role"
    assert statement["Action"] == "batch:SubmitJob"
    # SubmitJob is authorised on the queue and on the job definition: both are named.
    assert {"Ref": "StandardJobQueue"} in statement["Resource"]
    assert {"Ref": "PriorityJobQueue"} in statement["Resource"]
    for logical in ENGINE_DEFINITIONS:
        assert {"Ref": logical} in statement["Resource"]


def test_given_the_functions_when_rendered_then_they_get_the_enabled_engines_and_the_definition_map(cfn):
    for function in (
        "EnqueueFunction",
        "StatusFunction",
        "AnalysisFunction",
        "ApiFunction",
        "SweeperFunction",
    ):
        env = cfn["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["ENABLED_ENGINES"] == {"Fn::Join": [",", {"Ref": "EnabledEngines"}]}
        assert env["ENGINE_JOB_DEFINITIONS"] == {
            "Fn::Sub": (
                '{"clamav": "${EngineClamavJobDefinition}", '
                '"filescan-next": "${EngineFilescanNextJobDefinition}", '
                '"vendor-x": "${EngineVendorXJobDefinition}"}'
            )
        }
    enabled = cfn["Parameters"]["EnabledEngines"]
    assert (enabled["Type"], enabled["Default"]) == ("CommaDelimitedList", "filescan")
    assert enabled["AllowedValues"] == ["clamav", "filescan", "filescan-next", "vendor-x"]


def test_given_the_rendered_template_when_cfn_lint_runs_then_it_passes(tmp_path: Path, rendered: str):
    path = tmp_path / "template.yaml"
    path.write_text(rendered, encoding="utf-8")

    result = run_cfn_lint(path)

    assert result.returncode == 0, result.stdout + result.stderr


def test_given_the_repository_template_when_read_then_it_has_every_generated_block_once():
    text = TEMPLATE.read_text(encoding="utf-8")
    for block in generator.BLOCKS:
        begin, end = generator.markers(block)
        assert text.count(begin + "\n") == 1, begin
        assert text.count(end + "\n") == 1, end


def test_given_an_engine_outside_the_catalogue_when_enabled_by_default_then_cfn_lint_rejects_it(
    tmp_path: Path,
):
    text = TEMPLATE.read_text(encoding="utf-8")
    original = "  EnabledEngines:\n    Type: CommaDelimitedList\n    Default: filescan\n"
    assert text.count(original) == 1
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(original, original.replace("Default: filescan", "Default: filescan,nosuch")))

    result = run_cfn_lint(path)

    assert result.returncode != 0
    assert "E2015" in result.stdout  # Default should be a value within AllowedValues (each member)
