"""``make deploy``: filescan from zero to a working stack, with no manual ECR step.

1. ``sam build``.
2. First deployment only (the stack has no ``ScannerRepositoryUri`` output yet): ``sam deploy`` with
   an empty ``ScannerImageUri``. The stack creates its own ECR repository, and the job definition
   points at ``<repository>:<ScannerVersion>`` until step 5 pins it.
3. ``docker build --platform linux/amd64`` (the job definition is X86_64) tagged
   ``<ScannerVersion>-<git commit>``: the repository's tags are immutable, so a tag names one image.
   A tag already in the repository is not built or pushed again (a dirty work tree gets a
   timestamped tag instead, so local changes are never mistaken for the committed image).
4. ``docker login`` to the registry with an ECR authorisation token (password on stdin), then
   ``docker push``.
5. Steps 3-4 again for the image's Lambda target (``--target lambda``, tag ``<tag>-lambda``): the
   small-file fast path's ``ScanFunction``.
6. ``sam deploy`` with ``ScannerImageUri=<repository>@<digest>`` and ``ScanFunctionImageUri`` (the
   Lambda target's digest): the job definition and the function run exactly the pushed images, and
   the ECR lifecycle rule (untagged images only) never expires them. The first deployment (step 2)
   passes ``FastPathMaxBytes=0``: Lambda refuses a function whose image is not pushed yet.

Engines (docs/engines.md): every engine named in samconfig's ``EnabledEngines`` whose image is built
from this repository (``image: {build: DIR}``) is built from ``DIR/Dockerfile`` (context ``DIR``) with
the same tag and pushed to the stack's ``Engine<Name>RepositoryUri`` (a ``sam deploy`` creates a
missing repository first), and the last ``sam deploy`` passes ``Engine<Name>ImageTag=<tag>``.

``sam deploy --parameter-overrides`` replaces samconfig.toml's list instead of merging it, so every
deploy passes samconfig's overrides for the chosen environment plus the image.
``--dry-run`` prints each command instead of running it (AWS is still asked for the stack's state).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import re
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from deploy.engine_resources import engine_resources_prefix
from filescan_shared.engines.catalogue import FILESCAN_ENGINE, Catalogue, bundled_catalogue

REPO = Path(__file__).resolve().parents[1]
SAMCONFIG = REPO / "samconfig.toml"
DOCKERFILE = "scanner_job/Dockerfile"
PLATFORM = "linux/amd64"
REPOSITORY_OUTPUT = "ScannerRepositoryUri"
IMAGE_PARAMETER = "ScannerImageUri"
LAMBDA_IMAGE_PARAMETER = "ScanFunctionImageUri"
LAMBDA_TARGET = "lambda"
FAST_PATH_PARAMETER = "FastPathMaxBytes"
VERSION_PARAMETER = "ScannerVersion"
DEFAULT_VERSION = "0.1.0"
ENABLED_PARAMETER = "EnabledEngines"

Runner = Callable[[Sequence[str], str | None], None]
"""Runs one command (with optional stdin text); raises when it fails."""


class AwsView(Protocol):
    """What the deploy needs to know from AWS."""

    def repository_uri(self, stack_name: str) -> str | None:
        """The stack's ``ScannerRepositoryUri`` output, or ``None`` before the first deploy."""

    def stack_output(self, stack_name: str, key: str) -> str | None:
        """One output of the stack, or ``None`` when the stack or the output does not exist."""

    def image_digest(self, repository_uri: str, tag: str) -> str | None:
        """The digest of ``tag`` in the repository, or ``None`` when the tag is not there."""

    def registry_password(self) -> str:
        """A ``docker login`` password for the account's registry (ECR authorisation token)."""


@dataclasses.dataclass(frozen=True)
class DeployConfig:
    """One samconfig.toml environment: stack, region and its parameter overrides."""

    config_env: str
    stack_name: str
    region: str
    overrides: dict[str, str]

    @classmethod
    def load(cls, config_env: str, path: Path = SAMCONFIG) -> DeployConfig:
        """Read ``config_env`` from samconfig.toml."""
        document = tomllib.loads(path.read_text())
        environment = document[config_env]
        deploy = environment.get("deploy", {}).get("parameters", {})
        common = environment.get("global", {}).get("parameters", {})
        raw = deploy.get("parameter_overrides", [])
        items = shlex.split(raw) if isinstance(raw, str) else list(raw)
        overrides = dict(item.split("=", 1) for item in items)
        stack = deploy.get("stack_name") or common.get("stack_name")
        region = deploy.get("region") or common.get("region")
        if not stack or not region:
            raise SystemExit(f"samconfig.toml [{config_env}] needs stack_name and region")
        return cls(config_env=config_env, stack_name=stack, region=region, overrides=overrides)

    @property
    def scanner_version(self) -> str:
        """The ``ScannerVersion`` the stack is deployed with (the content-cache key)."""
        return self.overrides.get(VERSION_PARAMETER, DEFAULT_VERSION)

    @property
    def enabled_engines(self) -> list[str]:
        """The ``EnabledEngines`` the stack is deployed with (the template's default: filescan)."""
        raw = self.overrides.get(ENABLED_PARAMETER, FILESCAN_ENGINE)
        return [name.strip() for name in raw.split(",") if name.strip()]


@dataclasses.dataclass(frozen=True)
class EngineImage:
    """An enabled engine whose image this deploy builds: where from and where to."""

    name: str
    directory: str
    """The build context, with the Dockerfile (``engines/clamav``)."""

    @property
    def repository_output(self) -> str:
        """The stack output naming the engine's repository."""
        return f"{engine_resources_prefix(self.name)}RepositoryUri"

    @property
    def tag_parameter(self) -> str:
        """The template parameter the job definition takes the image tag from."""
        return f"{engine_resources_prefix(self.name)}ImageTag"


def engine_images(config: DeployConfig, catalogue: Catalogue) -> list[EngineImage]:
    """The enabled engines built from this repository (filescan is the scanner image itself)."""
    return [
        EngineImage(spec.name, spec.image.build)
        for spec in catalogue.enabled(config.enabled_engines)
        if spec.name != FILESCAN_ENGINE and spec.image.build is not None
    ]


def image_tag(
    version: str, commit: str, *, dirty: bool, now: dt.datetime, build_args: Sequence[str] = ()
) -> str:
    """An immutable tag for this build: ``<version>-<commit>``, timestamped for a dirty tree.

    Build arguments (e.g. ``WITH_CLAMAV=true``) change the image, so they add a short hash of
    themselves: two variants of one commit never share a tag.
    """
    tag = f"{version}-{commit}"
    if build_args:
        tag += "-b" + hashlib.sha256("\n".join(sorted(build_args)).encode()).hexdigest()[:8]
    if dirty:
        tag += f"-dirty-{now:%Y%m%d%H%M%S}"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", tag)[:128]


def registry_of(repository_uri: str) -> str:
    """The registry host of an ECR repository URI."""
    return repository_uri.split("/", 1)[0]


@dataclasses.dataclass
class Deployer:
    """Runs the deploy steps through ``run`` against what ``aws`` reports."""

    config: DeployConfig
    aws: AwsView
    run: Runner
    sam: str = "sam"
    build_args: Sequence[str] = ()
    dry_run: bool = False
    """Placeholders stand in for what only the skipped commands would have created."""
    engines: Sequence[EngineImage] = ()

    def _created(self, value: str | None, what: str) -> str:
        if value is not None:
            return value
        if self.dry_run:
            return f"<{what}>"
        raise SystemExit(f"{what} is missing after the command that creates it")

    def sam_deploy(
        self, image_uri: str, extra: dict[str, str] | None = None, lambda_image_uri: str = ""
    ) -> list[str]:
        """``sam deploy`` for the environment with samconfig's overrides, the two images and ``extra``.

        Without a Lambda image the fast path is off (``FastPathMaxBytes=0``): no function needs it.
        """
        overrides = {
            **self.config.overrides,
            IMAGE_PARAMETER: image_uri,
            LAMBDA_IMAGE_PARAMETER: lambda_image_uri,
            **(extra or {}),
        }
        if not lambda_image_uri:
            overrides[FAST_PATH_PARAMETER] = "0"
        pairs = [f"{name}={value}" for name, value in overrides.items()]
        return [self.sam, "deploy", "--config-env", self.config.config_env, "--parameter-overrides", *pairs]

    def deploy(self, tag: str) -> str:
        """Build, push and deploy; return the image URI the stack now runs."""
        self.run([self.sam, "build"], None)
        repository = self.aws.repository_uri(self.config.stack_name)
        if repository is None:
            self.run(self.sam_deploy(""), None)  # first deploy: creates the repository
            found = self.aws.repository_uri(self.config.stack_name)
            repository = self._created(found, f"{self.config.stack_name} output {REPOSITORY_OUTPUT}")
        image_uri = f"{repository}@{self.push(repository, tag, DOCKERFILE, '.', self.build_args)}"
        lambda_tag = f"{tag}-{LAMBDA_TARGET}"
        lambda_digest = self.push(
            repository, lambda_tag, DOCKERFILE, ".", self.build_args, target=LAMBDA_TARGET
        )
        tags = self.push_engines(tag, image_uri)
        self.run(self.sam_deploy(image_uri, tags, f"{repository}@{lambda_digest}"), None)
        return image_uri

    def push(
        self,
        repository: str,
        tag: str,
        dockerfile: str,
        context: str,
        build_args: Sequence[str],
        *,
        target: str | None = None,
    ) -> str:
        """Build and push ``repository:tag`` (a Dockerfile ``target``) unless the tag is there; its digest."""
        digest = self.aws.image_digest(repository, tag)
        if digest is not None:
            return digest
        image = f"{repository}:{tag}"
        extra = [part for arg in build_args for part in ("--build-arg", arg)]
        if target:
            extra += ["--target", target]
        build = ["docker", "build", "--platform", PLATFORM, "-f", dockerfile, *extra, "-t", image, context]
        self.run(build, None)
        login = ["docker", "login", "--username", "AWS", "--password-stdin", registry_of(repository)]
        self.run(login, self.aws.registry_password())
        self.run(["docker", "push", image], None)
        return self._created(self.aws.image_digest(repository, tag), f"digest of {image}")

    def push_engines(self, tag: str, image_uri: str) -> dict[str, str]:
        """Push every enabled engine's image; the ``Engine<Name>ImageTag`` overrides to deploy with."""
        stack = self.config.stack_name
        repositories = {
            engine: self.aws.stack_output(stack, engine.repository_output) for engine in self.engines
        }
        missing = {engine.name for engine, uri in repositories.items() if uri is None}
        if missing:
            # An engine added since the last deploy: its repository comes with this deploy, which
            # does not enable it yet (its image is not there before the push below).
            enabled = [name for name in self.config.enabled_engines if name not in missing]
            self.run(self.sam_deploy(image_uri, {ENABLED_PARAMETER: ",".join(enabled)}), None)
            repositories = {
                engine: self.aws.stack_output(stack, engine.repository_output) for engine in self.engines
            }
        tags = {}
        for engine, found in repositories.items():
            repository = self._created(found, f"{stack} output {engine.repository_output}")
            self.push(repository, tag, f"{engine.directory}/Dockerfile", engine.directory, ())
            tags[engine.tag_parameter] = tag
        return tags


class Boto3Aws:
    """``AwsView`` over boto3 (CloudFormation outputs, ECR)."""

    def __init__(self, region: str) -> None:
        import boto3  # noqa: PLC0415 - only a real deploy needs AWS

        self._cloudformation = boto3.client("cloudformation", region_name=region)
        self._ecr = boto3.client("ecr", region_name=region)

    def repository_uri(self, stack_name: str) -> str | None:
        """The repository output, or ``None`` when the stack (or the output) does not exist yet."""
        return self.stack_output(stack_name, REPOSITORY_OUTPUT)

    def stack_output(self, stack_name: str, key: str) -> str | None:
        """One output, or ``None`` when the stack (or the output) does not exist yet."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            stacks = self._cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return None
            raise
        outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
        return outputs.get(key)

    def image_digest(self, repository_uri: str, tag: str) -> str | None:
        """The digest of ``tag``, or ``None`` when ECR has no such tag."""
        name = repository_uri.split("/", 1)[1]
        try:
            images = self._ecr.describe_images(repositoryName=name, imageIds=[{"imageTag": tag}])
        except self._ecr.exceptions.ImageNotFoundException:
            return None
        details: list[Any] = images.get("imageDetails", [])
        return str(details[0]["imageDigest"]) if details else None

    def registry_password(self) -> str:
        """The password half of an ECR authorisation token."""
        token = self._ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        return base64.b64decode(token).decode().split(":", 1)[1]


def run_command(command: Sequence[str], stdin: str | None) -> None:
    """Run ``command`` in the repository, failing the deploy when it fails."""
    print("+", shlex.join(command), flush=True)
    subprocess.run(list(command), cwd=REPO, input=stdin, text=True, check=True)


def print_command(command: Sequence[str], stdin: str | None) -> None:
    """``--dry-run``: show the command (never the password on stdin)."""
    print("would run:", shlex.join(command), "(password on stdin)" if stdin else "")


def _git(*args: str) -> str:
    # git from PATH, as make and sam are.
    command = ["git", *args]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``make deploy`` calls this."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config-env", default="default", help="samconfig.toml environment (default, prod)")
    parser.add_argument("--sam", default="sam", help="the SAM CLI executable")
    parser.add_argument("--dry-run", action="store_true", help="print the commands instead of running them")
    parser.add_argument("--build-arg", action="append", default=[], help="docker build argument NAME=VALUE")
    args = parser.parse_args(argv)
    config = DeployConfig.load(args.config_env)
    tag = image_tag(
        config.scanner_version,
        _git("rev-parse", "--short=12", "HEAD"),
        dirty=bool(_git("status", "--porcelain")),
        now=dt.datetime.now(dt.UTC),
        build_args=args.build_arg,
    )
    runner = print_command if args.dry_run else run_command
    deployer = Deployer(
        config,
        Boto3Aws(config.region),
        runner,
        sam=args.sam,
        build_args=args.build_arg,
        dry_run=args.dry_run,
        engines=engine_images(config, bundled_catalogue()),
    )
    print(deployer.deploy(tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
