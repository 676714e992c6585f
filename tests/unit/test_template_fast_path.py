"""The small-file fast path's resources: the scanner image as a Lambda, its queue, DLQ and fallback."""

from __future__ import annotations

import re
from typing import Any

import pytest
from cfn_flip import load_yaml

from filescan_shared.pipeline.fast_route import FUNCTION_TIMEOUT_SECONDS
from filescan_shared.settings import FastScanSettings
from tests.unit.test_template import REPO, TEMPLATE, arn_of, of_type, ref, role_statements, translate

FAST_PATH_RESOURCES = {
    "FastScanQueue",
    "FastScanDLQ",
    "FastFallbackDLQ",
    "ScanFunctionEventSourceMapping",
    "ScanFunctionRole",
    "ScanFunction",
    "FastFallbackEventSourceMapping",
    "FastFallbackFunction",
    "ScanFunctionLogGroup",
    "FastFallbackLogGroup",
    "FastScanDLQDepthAlarm",
    "FastFallbackDLQDepthAlarm",
    "ScanFunctionErrorsAlarm",
    "FastFallbackErrorsAlarm",
}


@pytest.fixture(scope="module")
def templates() -> tuple[dict[str, Any], dict[str, Any]]:
    """The SAM template and its CloudFormation translation."""
    document = load_yaml(TEMPLATE.read_text(encoding="utf-8"))
    return document, translate(document)


def test_given_the_template_when_read_then_every_fast_path_resource_exists_only_with_fast_path_max_bytes(
    templates: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    sam = templates[0]
    resources = sam["Resources"]

    conditional = {logical for logical, spec in resources.items() if spec.get("Condition") == "FastPathOn"}

    assert conditional == FAST_PATH_RESOURCES
    assert sam["Conditions"]["FastPathOn"] == {"Fn::Not": [{"Fn::Equals": [ref("FastPathMaxBytes"), "0"]}]}
    assert sam["Parameters"]["FastPathMaxBytes"]["Default"] == 64 * 1024**2


def test_given_the_scan_function_when_translated_then_it_is_the_scanner_image_with_the_designed_limits(
    templates: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cfn = templates[1]
    function = cfn["Resources"]["ScanFunction"]["Properties"]

    assert function["PackageType"] == "Image"
    assert function["Architectures"] == ["x86_64"]
    assert (function["MemorySize"], function["Timeout"]) == (1024, FUNCTION_TIMEOUT_SECONDS)
    assert function["EphemeralStorage"] == {"Size": 1024}
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert function["KmsKeyArn"] == arn_of("FileScanKey")
    assert function["Role"] == arn_of("ScanFunctionRole")
    image = function["Code"]["ImageUri"]["Fn::If"]
    assert image[0] == "HasScanFunctionImage" and image[1] == ref("ScanFunctionImageUri")
    module, handler = function["ImageConfig"]["Command"][0].rsplit(".", 1)
    source = (REPO / "scanner_job" / (module.replace(".", "/") + ".py")).read_text()
    assert f"def {handler}(" in source
    environment = function["Environment"]["Variables"]
    assert environment["FILESCAN_WORK_DIR"].startswith("/tmp/")  # Lambda's only writable path
    # An image function gets no SAM Globals: every variable its settings require is set here.
    required = {name.upper() for name, field in FastScanSettings.model_fields.items() if field.is_required()}
    assert required <= set(environment)


def test_given_the_fast_scan_queue_when_messages_fail_then_they_redrive_to_the_batch_fallback(
    templates: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cfn = templates[1]
    resources = cfn["Resources"]
    queue = resources["FastScanQueue"]["Properties"]
    dlq = resources["FastScanDLQ"]["Properties"]
    mappings = of_type(cfn, "AWS::Lambda::EventSourceMapping")

    assert queue["VisibilityTimeout"] >= 6 * FUNCTION_TIMEOUT_SECONDS
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == arn_of("FastScanDLQ")
    assert dlq["RedrivePolicy"]["deadLetterTargetArn"] == arn_of("FastFallbackDLQ")
    for logical in ("FastScanQueue", "FastScanDLQ", "FastFallbackDLQ"):
        assert resources[logical]["Properties"]["KmsMasterKeyId"] == ref("FileScanKey")
    scan = mappings["ScanFunctionEventSourceMapping"]
    assert (scan["EventSourceArn"], scan["FunctionName"]) == (arn_of("FastScanQueue"), ref("ScanFunction"))
    assert scan["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert scan["ScalingConfig"] == {"MaximumConcurrency": ref("FastScanMaxConcurrency")}
    fallback = mappings["FastFallbackEventSourceMapping"]
    assert (fallback["EventSourceArn"], fallback["FunctionName"]) == (
        arn_of("FastScanDLQ"),
        ref("FastFallbackFunction"),
    )
    assert fallback["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_given_the_scan_function_role_when_expanded_then_it_names_each_resource_it_touches(
    templates: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    cfn = templates[1]
    statements = {statement["Sid"]: statement for statement in role_statements(cfn, "ScanFunctionRole")}

    assert statements["ReadUploadsUnderScanPrefix"]["Resource"] == {
        "Fn::Sub": "${UploadsBucket.Arn}/${ScanPrefix}*"
    }
    assert statements["WriteAndReadReports"]["Resource"] == {"Fn::Sub": "${ReportsBucket.Arn}/reports/*"}
    assert statements["RecordScans"]["Resource"] == arn_of("ScansTable")
    assert statements["PublishOutcomes"]["Resource"] == arn_of("FileScanEventBus")
    assert statements["HandToBatchFallback"]["Resource"] == arn_of("FastScanDLQ")
    assert statements["ConsumeFastScanQueue"]["Resource"] == arn_of("FastScanQueue")
    assert "batch:SubmitJob" not in str(statements)  # only the fallback submits jobs


def test_given_the_dockerfile_when_read_then_its_lambda_target_adds_the_runtime_client() -> None:
    dockerfile = (REPO / "scanner_job" / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.MULTILINE)
    requirements = (REPO / "scanner_job" / "requirements-lambda.txt").read_text()

    assert "lambda" in stages and stages[-1] == "job"
    assert 'ENTRYPOINT ["python", "-m", "awslambdaric"]' in dockerfile
    assert re.search(r"^awslambdaric==\d", requirements, flags=re.MULTILINE)
