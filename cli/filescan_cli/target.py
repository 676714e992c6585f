"""Which deployment to talk to: flags, environment, or a CloudFormation stack's outputs."""

from __future__ import annotations

import argparse
import dataclasses
import os
import urllib.parse

from filescan_cli.client import ApiClient


class TargetError(Exception):
    """The deployment could not be determined."""


class UsageError(TargetError):
    """The arguments cannot work together: a usage error (exit 2)."""


class TargetMissing(UsageError):
    """No deployment was named (no flag, no variable) or it is malformed: a usage error (exit 2)."""


@dataclasses.dataclass(frozen=True)
class Target:
    """The API and the uploads bucket of one deployment."""

    api_url: str | None
    bucket: str | None
    scan_prefix: str = "uploads/"

    def client(self, args: argparse.Namespace) -> ApiClient:
        """An API client with the authentication the flags ask for."""
        if not self.api_url:
            raise TargetMissing("no API: pass --stack-name, --api-url or set FILESCAN_API_URL")
        token = args.token or os.environ.get("FILESCAN_TOKEN")
        if token:
            return ApiClient(self.api_url, auth="token", token=token, region=args.region)
        if args.no_sign or os.environ.get("FILESCAN_NO_SIGN") == "1":
            return ApiClient(self.api_url, auth="none")
        return ApiClient(self.api_url, auth="sigv4", region=args.region)


def resolve(args: argparse.Namespace) -> Target:
    """The target from ``--stack-name``, else ``--api-url``/``--bucket``, else the environment."""
    if args.stack_name:
        return _from_stack(args.stack_name, args.region)
    api_url = args.api_url or os.environ.get("FILESCAN_API_URL")
    if api_url and urllib.parse.urlsplit(api_url).scheme not in {"http", "https"}:
        raise TargetMissing(f"API URL must be http(s): {api_url}")
    bucket = args.bucket or os.environ.get("FILESCAN_BUCKET")
    return Target(
        api_url=api_url, bucket=bucket, scan_prefix=os.environ.get("FILESCAN_SCAN_PREFIX", "uploads/")
    )


def _from_stack(stack_name: str, region: str | None) -> Target:
    import boto3  # noqa: PLC0415 - only stack lookups need it
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        client = boto3.session.Session(region_name=region).client("cloudformation")
        stacks = client.describe_stacks(StackName=stack_name)["Stacks"]
    except (BotoCoreError, ClientError) as error:
        raise TargetError(f"cannot read stack {stack_name}: {error}") from None
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
    return Target(
        api_url=outputs.get("HttpApiUrl"),
        bucket=outputs.get("UploadsBucketName"),
        scan_prefix=outputs.get("ScanPrefix", "uploads/"),
    )
