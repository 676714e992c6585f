"""`make engines`: the catalogue is validated, catalogue.json and the template's engine section follow it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from deploy import engine_resources
from deploy import engines as generator
from filescan_shared.engines.catalogue import BUNDLED_CATALOGUE, parse_catalogue

FILESCAN = {
    "name": "filescan",
    "image": {"build": "scanner_job"},
    "input": "s3",
    "output": "filescan-report",
    "command": ["filescan-scan", "--bucket", "{bucket}", "--key", "{key}", "--scan-id", "{scan_id}"],
    "exit_codes": {"ok": [0], "unscannable": [65]},
}
PATH_ENGINE = {
    "name": "clamav",
    "image": {"build": "engines/clamav"},
    "input": "path",
    "output": "text",
    "command": ["sh", "-c", "clamscan {input} > {output}"],
    "vcpu": 2,
    "memory_mib": 4096,
    "timeout_seconds": 7200,
    "attempts": 2,
    "exit_codes": {"ok": [0, 1], "unscannable": [3]},
    "max_output_bytes": 65536,
}
S3_JSON_ENGINE = {
    "name": "vendor-x",
    "image": {"uri": "111122223333.dkr.ecr.eu-west-1.amazonaws.com/vendor/x:7"},
    "input": "s3",
    "output": "json",
    "command": ["vendor-scan", "--bucket", "{bucket}", "--key", "{key}", "--out", "{output}"],
}
SECOND_SCANNER = {
    **FILESCAN,
    "name": "filescan-next",
    "image": {"build": "scanner_job"},
    "exit_codes": {"ok": [0], "unscannable": [65, 66]},
}


def write_catalogue(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump({"engines": list(entries)}), encoding="utf-8")
    return path


def copies(tmp_path: Path) -> tuple[Path, Path]:
    template, catalogue_json = tmp_path / "template.yaml", tmp_path / "catalogue.json"
    shutil.copy(generator.TEMPLATE, template)
    shutil.copy(BUNDLED_CATALOGUE, catalogue_json)
    return template, catalogue_json


def run(tmp_path: Path, catalogue: Path, *extra: str) -> int:
    template, catalogue_json = tmp_path / "template.yaml", tmp_path / "catalogue.json"
    args = ["--catalogue", str(catalogue), "--template", str(template), "--json", str(catalogue_json)]
    return generator.main([*args, *extra])


def generated(*entries: dict[str, Any]) -> dict[str, Any]:
    return engine_resources.resources(parse_catalogue({"engines": list(entries)}))


# ------------------------------------------------------------------------------------------------
# the files in the repository
# ------------------------------------------------------------------------------------------------
def test_given_the_repository_when_checked_then_catalogue_json_and_template_are_up_to_date() -> None:
    assert generator.main(["--check"]) == 0


def test_given_the_catalogue_json_when_read_then_it_is_the_sorted_dump_of_the_yaml() -> None:
    catalogue = generator.load_catalogue()
    text = BUNDLED_CATALOGUE.read_text(encoding="utf-8")
    assert text == generator.catalogue_json(catalogue)
    assert json.loads(text) == json.loads(json.dumps(json.loads(text), sort_keys=True))
    assert parse_catalogue(json.loads(text)) == catalogue


def test_given_the_makefile_when_read_then_lint_runs_the_check_and_engines_regenerates() -> None:
    makefile = (generator.REPO / "Makefile").read_text(encoding="utf-8")
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "-m deploy.engines --check" in lint
    assert "\nengines:" in makefile


# ------------------------------------------------------------------------------------------------
# check mode and writing
# ------------------------------------------------------------------------------------------------
def test_given_a_new_engine_when_checked_then_both_files_are_stale_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, catalogue_json = copies(tmp_path)
    before = template.read_text(), catalogue_json.read_text()

    code = run(tmp_path, write_catalogue(tmp_path, FILESCAN, PATH_ENGINE), "--check")

    assert code == 1
    err = capsys.readouterr().err
    assert "template.yaml is stale: run `make engines`" in err
    assert "catalogue.json is stale" in err
    assert (template.read_text(), catalogue_json.read_text()) == before


def test_given_a_new_engine_when_generated_twice_then_the_second_run_changes_nothing(tmp_path: Path) -> None:
    template, catalogue_json = copies(tmp_path)
    catalogue = write_catalogue(tmp_path, PATH_ENGINE, FILESCAN)

    assert run(tmp_path, catalogue) == 0
    first = template.read_text(), catalogue_json.read_text()
    assert run(tmp_path, catalogue) == 0
    assert run(tmp_path, catalogue, "--check") == 0

    assert (template.read_text(), catalogue_json.read_text()) == first
    assert "EngineClamavJobDefinition:" in first[0]
    assert [e["name"] for e in json.loads(first[1])["engines"]] == ["clamav", "filescan"]
    # Only the marked blocks changed: the hand-written template around them is byte-identical.
    outside = [line for line in first[0].splitlines() if "Clamav" in line or "clamav" in line]
    assert outside, "the engine appears in the generated blocks"
    original = generator.TEMPLATE.read_text()
    assert (
        first[0].split("# BEGIN GENERATED ENGINES: parameters")[0]
        == original.split("# BEGIN GENERATED ENGINES: parameters")[0]
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"vcpu": 99}, "engine 'clamav' (entry 2), field vcpu: Input should be less than or equal to 16"),
        ({"exit_codes": {"ok": [0], "unscannable": [0]}}, "engine 'clamav' (entry 2), field exit_codes"),
        ({"command": ["clamscan", "{nope}"]}, "unknown placeholder(s) ['nope']"),
        ({"colour": "red"}, "engine 'clamav' (entry 2), field colour: Extra inputs are not permitted"),
        ({"vcpu": 1, "memory_mib": 16384}, "engine 'clamav', field vcpu/memory_mib: 1 vCPU with 16384 MiB"),
        ({"vcpu": 0.5, "memory_mib": 1024}, "needs at least 1 vCPU and 2048 MiB"),
        (
            {"command": ["scan", "s3://{bucket}/{key}", "{output}"]},
            "Batch substitutes a parameter only as a whole",
        ),
    ],
)
def test_given_an_invalid_engine_when_generated_then_the_error_names_engine_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], expected: str
) -> None:
    copies(tmp_path)
    catalogue = write_catalogue(tmp_path, FILESCAN, {**PATH_ENGINE, **change})

    assert run(tmp_path, catalogue) == 2
    assert expected in capsys.readouterr().err


def test_given_a_template_without_markers_when_generated_then_it_says_which_marker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template, _ = copies(tmp_path)
    template.write_text(template.read_text().replace("# END GENERATED ENGINES: outputs\n", ""))

    assert run(tmp_path, write_catalogue(tmp_path, FILESCAN)) == 2
    assert (
        "'# BEGIN GENERATED ENGINES: outputs' ... '# END GENERATED ENGINES: outputs'"
        in capsys.readouterr().err
    )


# ------------------------------------------------------------------------------------------------
# the generated resources
# ------------------------------------------------------------------------------------------------
def test_given_only_filescan_when_generated_then_only_the_engine_role_and_an_empty_definition_map() -> None:
    catalogue = parse_catalogue({"engines": [FILESCAN]})
    # The role stays: the uploads bucket policy names it in its read-gate exemptions.
    assert list(engine_resources.resources(catalogue)) == ["EngineJobRole"]
    assert engine_resources.environment(catalogue)["ENGINE_JOB_DEFINITIONS"] == "{}"
    assert engine_resources.parameters(catalogue)["EnabledEngines"]["AllowedValues"] == ["filescan"]


def test_given_a_path_engine_when_generated_then_fetch_engine_collect_share_the_volume_in_order() -> None:
    properties = generated(FILESCAN, PATH_ENGINE)["EngineClamavJobDefinition"]["Properties"]
    task = properties["EcsProperties"]["TaskProperties"][0]
    fetch, engine, collect = task["Containers"]

    assert [c["Name"] for c in task["Containers"]] == ["fetch", "engine", "collect"]
    assert [c["Essential"] for c in task["Containers"]] == [False, False, True]
    assert engine["DependsOn"] == [{"ContainerName": "fetch", "Condition": "COMPLETE"}]
    assert collect["DependsOn"] == [{"ContainerName": "engine", "Condition": "COMPLETE"}]
    assert task["Volumes"] == [{"Name": "filescan"}]
    for container in task["Containers"]:
        assert container["MountPoints"] == [
            {"SourceVolume": "filescan", "ContainerPath": "/filescan", "ReadOnly": False}
        ]
    assert fetch["Command"] == [
        "filescan-engine-io", "fetch", "--bucket", "Ref::bucket", "--key", "Ref::key",
        "--version-id", "Ref::version_id", "--dest", "/filescan/input/object",
    ]  # fmt: skip
    assert engine["Command"] == ["sh", "-c", "clamscan /filescan/input/object > /filescan/output/result"]
    assert collect["Command"] == [
        "filescan-engine-io", "collect", "--engine", "clamav", "--scan-id", "Ref::scan_id",
        "--output", "/filescan/output/result", "--ok", "0,1", "--unscannable", "3",
        "--max-output-bytes", "65536",
    ]  # fmt: skip
    # The task's size is the spec's: the helpers take their share out of it.
    vcpu = sum(
        float(r["Value"])
        for c in task["Containers"]
        for r in c["ResourceRequirements"]
        if r["Type"] == "VCPU"
    )
    memory = sum(
        int(r["Value"])
        for c in task["Containers"]
        for r in c["ResourceRequirements"]
        if r["Type"] == "MEMORY"
    )
    assert (vcpu, memory) == (2.0, 4096)
    assert properties["Timeout"] == {"AttemptDurationSeconds": 7200}
    assert properties["PlatformCapabilities"] == ["FARGATE"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "X86_64", "OperatingSystemFamily": "LINUX"}
    assert task["TaskRoleArn"] == {"Fn::GetAtt": ["EngineJobRole", "Arn"]}
    assert task["ExecutionRoleArn"] == {"Fn::GetAtt": ["EngineExecutionRole", "Arn"]}
    assert set(properties["Parameters"]) == {"bucket", "key", "version_id", "scan_id"}
    assert properties["Tags"] == {"filescan:engine": "clamav"}


def test_given_an_engine_when_generated_then_its_retry_strategy_exits_on_deterministic_codes() -> None:
    properties = generated(FILESCAN, PATH_ENGINE)["EngineClamavJobDefinition"]["Properties"]
    assert properties["RetryStrategy"] == {
        "Attempts": 2,
        "EvaluateOnExit": [
            {"OnExitCode": "2", "Action": "EXIT"},
            {"OnExitCode": "65", "Action": "EXIT"},
            {"OnStatusReason": "Your Spot Task was interrupted*", "Action": "RETRY"},
            {"OnReason": "ResourceInitializationError*", "Action": "RETRY"},
            {"OnExitCode": "*", "Action": "RETRY"},
        ],
    }


def test_given_an_s3_engine_with_its_own_output_when_generated_then_prepare_replaces_fetch() -> None:
    resources = generated(FILESCAN, S3_JSON_ENGINE)
    task = resources["EngineVendorXJobDefinition"]["Properties"]["EcsProperties"]["TaskProperties"][0]
    first, engine, _ = task["Containers"]

    assert first["Command"] == ["filescan-engine-io", "prepare", "--dir", "/filescan"]
    assert engine["Image"] == S3_JSON_ENGINE["image"]["uri"]  # type: ignore[index]
    assert engine["Command"] == [
        "vendor-scan",
        "--bucket",
        "Ref::bucket",
        "--key",
        "Ref::key",
        "--out",
        "/filescan/output/result",
    ]
    assert "EngineVendorXRepository" not in resources
    pulls = resources["EngineExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][1]
    assert pulls["Resource"][1] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecr:eu-west-1:111122223333:repository/vendor/x"
    }


def test_given_a_filescan_report_engine_on_s3_when_generated_then_it_is_one_container() -> None:
    resources = generated(FILESCAN, SECOND_SCANNER)
    properties = resources["EngineFilescanNextJobDefinition"]["Properties"]

    assert "EcsProperties" not in properties
    container = properties["ContainerProperties"]
    assert container["Command"][:3] == ["filescan-scan", "--bucket", "Ref::bucket"]
    assert container["JobRoleArn"] == {"Fn::GetAtt": ["EngineJobRole", "Arn"]}
    exits = [
        rule["OnExitCode"]
        for rule in properties["RetryStrategy"]["EvaluateOnExit"]
        if rule["Action"] == "EXIT"
    ]
    assert exits == ["2", "65", "66"]
    sids = [
        s["Sid"]
        for s in resources["EngineJobRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    ]
    assert "WriteEngineReports" in sids


def test_given_a_built_engine_when_generated_then_its_image_is_the_tag_parameter_or_the_scanner_version() -> (
    None
):
    catalogue = parse_catalogue({"engines": [FILESCAN, PATH_ENGINE]})
    task = engine_resources.resources(catalogue)["EngineClamavJobDefinition"]["Properties"]["EcsProperties"]
    engine = task["TaskProperties"][0]["Containers"][1]

    assert engine["Image"] == {
        "Fn::If": [
            "EngineClamavHasImageTag",
            {"Fn::Sub": "${EngineClamavRepository.RepositoryUri}:${EngineClamavImageTag}"},
            {"Fn::Sub": "${EngineClamavRepository.RepositoryUri}:${ScannerVersion}"},
        ]
    }
    assert engine_resources.parameters(catalogue)["EngineClamavImageTag"]["Default"] == ""
    assert "EngineClamavHasImageTag" in engine_resources.conditions(catalogue)
    assert engine_resources.environment(catalogue)["ENGINE_JOB_DEFINITIONS"] == {
        "Fn::Sub": '{"clamav": "${EngineClamavJobDefinition}"}'
    }
    assert set(engine_resources.outputs(catalogue)) == {
        "EngineClamavRepositoryUri",
        "EngineClamavJobDefinitionArn",
    }


def test_given_engine_names_when_turned_into_logical_ids_then_they_are_camel_case() -> None:
    assert engine_resources.logical_name("yara-cli") == "YaraCli"
    assert engine_resources.logical_name("clamav") == "Clamav"
    assert engine_resources.logical_name("a1-b2-c3") == "A1B2C3"
