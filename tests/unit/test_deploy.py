"""The first deploy works from zero: `make deploy`'s steps, and README / samconfig in step with the template.

The deploy itself needs AWS and Docker, so its orchestration runs here against a recording runner
and a fake view of AWS that changes the way AWS would (the stack's repository appears after the
first `sam deploy`, the digest after the push).
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Sequence
from typing import Any

import pytest
from cfn_flip import load_yaml

from deploy.filescan_deploy import (
    FAST_PATH_PARAMETER,
    IMAGE_PARAMETER,
    LAMBDA_IMAGE_PARAMETER,
    PLATFORM,
    REPOSITORY_OUTPUT,
    SAMCONFIG,
    DeployConfig,
    Deployer,
    EngineImage,
    engine_images,
    image_tag,
)
from filescan_shared.engines.catalogue import bundled_catalogue
from tests.unit.test_template import REPO, TEMPLATE

REPOSITORY = "111122223333.dkr.ecr.us-east-1.amazonaws.com/filescan-dev-scannerrepository-abc123"
DIGEST = "sha256:" + "ab" * 32
LAMBDA_DIGEST = "sha256:" + "cd" * 32
TAG = "0.1.0-0123456789ab"


class _Aws:
    """AWS as the deploy sees it, changing as the recorded commands would change it."""

    def __init__(self, *, stack_exists: bool, pushed: bool) -> None:
        self.stack_exists = stack_exists
        self.pushed = {TAG, f"{TAG}-lambda"} if pushed else set()

        self.pushed_to: set[str] = set()
        """Engine repositories the tag was pushed to."""
        self.engine_repositories: dict[str, str] = {}
        """Engine repository outputs (by output key) the stack has once deployed."""
        self.deployed_engine_repositories: dict[str, str] = {}

    def repository_uri(self, stack_name: str) -> str | None:
        return REPOSITORY if self.stack_exists else None

    def stack_output(self, stack_name: str, key: str) -> str | None:
        return self.engine_repositories.get(key)

    def image_digest(self, repository_uri: str, tag: str) -> str | None:
        assert tag in {TAG, f"{TAG}-lambda"}
        if repository_uri != REPOSITORY:
            return DIGEST if repository_uri in self.pushed_to else None
        return (DIGEST if tag == TAG else LAMBDA_DIGEST) if tag in self.pushed else None

    def registry_password(self) -> str:
        return "ecr-token-password"


class _Recorder:
    def __init__(self, aws: _Aws) -> None:
        self.aws = aws
        self.commands: list[tuple[list[str], str | None]] = []

    def __call__(self, command: Sequence[str], stdin: str | None) -> None:
        self.commands.append((list(command), stdin))
        if command[:2] == ["sam", "deploy"]:
            self.aws.stack_exists = True
            self.aws.engine_repositories.update(self.aws.deployed_engine_repositories)
        if command[:2] == ["docker", "push"]:
            repository, tag = command[2].rsplit(":", 1)
            if repository == REPOSITORY:
                self.aws.pushed.add(tag)
            self.aws.pushed_to.add(repository)


def _overrides(command: list[str]) -> dict[str, str]:
    pairs = command[command.index("--parameter-overrides") + 1 :]
    return dict(pair.split("=", 1) for pair in pairs)


@pytest.fixture
def config() -> DeployConfig:
    return DeployConfig.load("default")


def test_given_no_stack_when_deployed_then_the_repo_is_created_the_image_pushed_and_pinned(config):
    aws = _Aws(stack_exists=False, pushed=False)
    run = _Recorder(aws)

    image_uri = Deployer(config, aws, run).deploy(TAG)

    steps = [command[:2] for command, _ in run.commands]
    assert steps == [
        ["sam", "build"],
        ["sam", "deploy"],
        ["docker", "build"],
        ["docker", "login"],
        ["docker", "push"],
        ["docker", "build"],
        ["docker", "login"],
        ["docker", "push"],
        ["sam", "deploy"],
    ]
    first, build, login, push, lambda_build, _, lambda_push, last = (
        command for command, _ in run.commands[1:]
    )
    assert _overrides(first)[IMAGE_PARAMETER] == ""
    assert build[build.index("--platform") + 1] == PLATFORM == "linux/amd64"
    assert f"{REPOSITORY}:{TAG}" in build and push == ["docker", "push", f"{REPOSITORY}:{TAG}"]
    assert login[-1] == REPOSITORY.split("/", maxsplit=1)[0] and "--password-stdin" in login
    assert run.commands[3][1] == "ecr-token-password"  # on stdin, never on the command line
    assert image_uri == f"{REPOSITORY}@{DIGEST}"
    assert lambda_build[lambda_build.index("--target") + 1] == "lambda" and "--target" not in build
    assert lambda_push == ["docker", "push", f"{REPOSITORY}:{TAG}-lambda"]
    lambda_uri = f"{REPOSITORY}@{LAMBDA_DIGEST}"
    assert _overrides(last) == {
        **config.overrides,
        IMAGE_PARAMETER: image_uri,
        LAMBDA_IMAGE_PARAMETER: lambda_uri,
    }
    # The first deploy has no Lambda image yet: the fast path (the only thing that needs it) is off.
    assert _overrides(first) == {
        **config.overrides,
        IMAGE_PARAMETER: "",
        LAMBDA_IMAGE_PARAMETER: "",
        FAST_PATH_PARAMETER: "0",
    }


def test_given_a_deployed_stack_and_a_pushed_tag_when_deployed_then_nothing_is_rebuilt(config):
    aws = _Aws(stack_exists=True, pushed=True)
    run = _Recorder(aws)

    image_uri = Deployer(config, aws, run).deploy(TAG)

    assert [command[:2] for command, _ in run.commands] == [["sam", "build"], ["sam", "deploy"]]
    assert _overrides(run.commands[-1][0])[IMAGE_PARAMETER] == image_uri == f"{REPOSITORY}@{DIGEST}"


def test_given_a_dry_run_from_zero_when_planned_then_placeholders_stand_for_what_is_not_created(config):
    aws = _Aws(stack_exists=False, pushed=False)
    commands: list[list[str]] = []

    image_uri = Deployer(config, aws, lambda command, _: commands.append(list(command)), dry_run=True).deploy(
        TAG
    )

    assert REPOSITORY_OUTPUT in image_uri
    assert [command[:2] for command in commands][-1] == ["sam", "deploy"]


CLAMAV_REPOSITORY = "111122223333.dkr.ecr.us-east-1.amazonaws.com/filescan-dev-engineclamavrepository-x1"


def _with_engines(config: DeployConfig, engines: str) -> DeployConfig:
    return DeployConfig(
        config.config_env, config.stack_name, config.region, {**config.overrides, "EnabledEngines": engines}
    )


def test_given_enabled_engines_when_listed_then_only_those_built_here_besides_filescan_are_built(config):
    catalogue = bundled_catalogue()

    assert engine_images(config, catalogue) == []  # the template's default: filescan only
    assert engine_images(_with_engines(config, "filescan, clamav,yara-cli"), catalogue) == [
        EngineImage("clamav", "engines/clamav"),
        EngineImage("yara-cli", "engines/yara-cli"),
    ]
    with pytest.raises(KeyError):
        engine_images(_with_engines(config, "filescan,nosuch"), catalogue)


def test_given_an_enabled_engine_when_deployed_then_its_image_is_built_pushed_and_its_tag_deployed(config):
    aws = _Aws(stack_exists=True, pushed=False)
    aws.engine_repositories = {"EngineClamavRepositoryUri": CLAMAV_REPOSITORY}
    run = _Recorder(aws)
    config = _with_engines(config, "filescan,clamav")

    image_uri = Deployer(config, aws, run, engines=engine_images(config, bundled_catalogue())).deploy(TAG)

    builds = [command for command, _ in run.commands if command[:2] == ["docker", "build"]]
    pushes = [command[-1] for command, _ in run.commands if command[:2] == ["docker", "push"]]
    engine_build = builds[2]  # after the scanner's job and Lambda targets
    assert engine_build[engine_build.index("-f") + 1] == "engines/clamav/Dockerfile"
    assert engine_build[-1] == "engines/clamav"  # the engine's directory is its build context
    assert engine_build[engine_build.index("--platform") + 1] == PLATFORM
    assert pushes == [f"{REPOSITORY}:{TAG}", f"{REPOSITORY}:{TAG}-lambda", f"{CLAMAV_REPOSITORY}:{TAG}"]
    last = _overrides(run.commands[-1][0])
    assert last == {
        **config.overrides,
        IMAGE_PARAMETER: image_uri,
        LAMBDA_IMAGE_PARAMETER: f"{REPOSITORY}@{LAMBDA_DIGEST}",
        "EngineClamavImageTag": TAG,
    }
    assert [command[:2] for command, _ in run.commands].count(["sam", "deploy"]) == 1


def test_given_an_engine_added_since_the_last_deploy_when_deployed_then_its_repository_is_created_first(
    config,
):
    aws = _Aws(stack_exists=True, pushed=True)
    aws.deployed_engine_repositories = {"EngineClamavRepositoryUri": CLAMAV_REPOSITORY}
    aws.pushed_to = {CLAMAV_REPOSITORY}
    run = _Recorder(aws)
    config = _with_engines(config, "filescan,clamav")

    Deployer(config, aws, run, engines=engine_images(config, bundled_catalogue())).deploy(TAG)

    steps = [command[:2] for command, _ in run.commands]
    assert steps == [["sam", "build"], ["sam", "deploy"], ["sam", "deploy"]]  # the tag was already pushed
    first, last = (_overrides(command) for command, _ in run.commands[1:])
    assert "EngineClamavImageTag" not in first and first[IMAGE_PARAMETER] == f"{REPOSITORY}@{DIGEST}"
    assert first["EnabledEngines"] == "filescan"  # not enabled before its image is pushed
    assert last["EnabledEngines"] == "filescan,clamav"
    assert last["EngineClamavImageTag"] == TAG


def test_given_builds_when_tagged_then_tags_are_unique_per_content_and_valid_for_ecr():
    now = dt.datetime(2026, 12, 1, 4, 30, tzinfo=dt.UTC)

    clean = image_tag("0.1.0", "0123456789ab", dirty=False, now=now)
    dirty = image_tag("0.1.0", "0123456789ab", dirty=True, now=now)
    clamav = image_tag("0.1.0", "0123456789ab", dirty=False, now=now, build_args=["WITH_CLAMAV=true"])
    odd = image_tag("1.0+local", "0123456789ab", dirty=False, now=now)

    assert clean == TAG
    assert dirty == f"{TAG}-dirty-20261201043000"
    assert clamav.startswith(f"{TAG}-b") and clamav != clean
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", odd)


# ------------------------------------------------------------------------------------------------
# README and samconfig.toml in step with the template
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_yaml(TEMPLATE.read_text(encoding="utf-8"))


def _deploy_section() -> str:
    readme = (REPO / "README.md").read_text()
    return readme[readme.index("## Deploying") : readme.index("### Architecture")]


def _samconfig_envs() -> list[str]:
    return [name for name, env in tomllib.loads(SAMCONFIG.read_text()).items() if isinstance(env, dict)]


def _required(template: dict[str, Any]) -> set[str]:
    """Parameters without a default, and those a template Rule requires (existing network)."""
    required = {name for name, spec in template["Parameters"].items() if "Default" not in spec}
    for rule in template.get("Rules", {}).values():
        for assertion in rule["Assertions"]:
            required |= set(re.findall(r"'Ref': '(\w+)'", str(assertion["Assert"])))
    return required - {"ApiAuth", "JwtIssuer", "JwtAudience"}


@pytest.mark.parametrize("env", _samconfig_envs())
def test_given_samconfig_when_read_then_it_sets_only_template_parameters_and_every_required_one(
    env, template
):
    config = DeployConfig.load(env)
    creates_network = config.overrides.get("CreateNetwork") == "true"
    required = _required(template) - ({"SubnetIds", "SecurityGroupIds"} if creates_network else set())

    assert set(config.overrides) <= set(template["Parameters"])
    assert required <= set(config.overrides)
    assert IMAGE_PARAMETER not in config.overrides  # make deploy pins the pushed image


def test_given_the_readme_deploy_section_when_read_then_it_matches_what_the_template_requires(template):
    section = _deploy_section()
    pull = template["Resources"]["ScannerExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (pull_statement,) = [item for item in pull["Statement"] if item["Sid"] == "PullScannerImage"]

    assert REPOSITORY_OUTPUT in template["Outputs"] and REPOSITORY_OUTPUT in section
    assert IMAGE_PARAMETER in template["Parameters"] and IMAGE_PARAMETER in section
    assert pull_statement["Resource"] == {"Fn::GetAtt": ["ScannerRepository", "Arn"]}
    assert all(name in section for name in _required(template))
    for step in ("make deploy", "--platform linux/amd64", "docker login", "@sha256:"):
        assert step in section
    # The one repository the execution role may pull from is the stack's own, never a fixed name.
    assert "filescan-scanner" not in section
    assert "filescan-scanner" not in SAMCONFIG.read_text()


def test_given_the_makefile_when_read_then_deploy_runs_the_deploy_script():
    makefile = (REPO / "Makefile").read_text()
    (recipe,) = re.findall(r"^deploy:.*?\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)

    assert "-m deploy.filescan_deploy" in recipe  # a module: it imports deploy.engines
