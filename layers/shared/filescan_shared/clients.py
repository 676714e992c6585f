"""boto3 clients from cached factories.

One client per service per process, created on first use so warm invocations reuse connections.
Endpoints come from the standard boto3 configuration (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_BATCH``...), which is how the local stack and the tests point the very same code
at local servers. ``reset_clients()`` drops the cache (tests that change the environment call it).
"""

import functools
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_batch import BatchClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@functools.cache
def _client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def s3() -> "S3Client":
    """The shared S3 client."""
    return _client("s3")  # type: ignore[no-any-return]


@functools.cache
def s3_presigner() -> "S3Client":
    """An S3 client for presigned URLs: always SigV4 (SSE-KMS objects and signed checksum headers need it)."""
    config = _CONFIG.merge(Config(signature_version="s3v4"))
    return boto3.session.Session().client("s3", config=config)


def dynamodb() -> "DynamoDBClient":
    """The shared DynamoDB (low-level) client."""
    return _client("dynamodb")  # type: ignore[no-any-return]


def batch() -> "BatchClient":
    """The shared AWS Batch client."""
    return _client("batch")  # type: ignore[no-any-return]


def events() -> "EventBridgeClient":
    """The shared EventBridge client."""
    return _client("events")  # type: ignore[no-any-return]


def lambda_() -> "LambdaClient":
    """The shared Lambda client (the sweeper hands scans over to analysis with it)."""
    return _client("lambda")  # type: ignore[no-any-return]


def sqs() -> "SQSClient":
    """The shared SQS client (enqueue routes small files to the fast scan queue with it)."""
    return _client("sqs")  # type: ignore[no-any-return]


def reset_clients() -> None:
    """Forget every cached client, e.g. after the endpoint environment changed."""
    _client.cache_clear()
    s3_presigner.cache_clear()
