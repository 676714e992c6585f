"""Shared helpers of the local Batch tests: a boto3 client for the service and waiting for a job."""

from __future__ import annotations

import time
from typing import Any

import boto3


def batch_client(url: str) -> Any:
    """A boto3 Batch client for the local service at ``url``."""
    return boto3.client(
        "batch",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def wait_job(client: Any, job_id: str, timeout: float = 20) -> dict[str, Any]:
    """DescribeJobs until the job is terminal (or ``timeout`` passed): its last description."""
    deadline = time.monotonic() + timeout
    while True:
        job = client.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in {"SUCCEEDED", "FAILED"} or time.monotonic() > deadline:
            return job  # type: ignore[no-any-return]
        time.sleep(0.05)
