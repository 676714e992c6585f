"""GET /scans/{scan_id}/download: the scan record releases a file, never its tag alone."""

from __future__ import annotations

import urllib.parse
import urllib.request

import boto3
import pytest

from tests.unit.pipeline.conftest import seed_scan

SCAN_ID = "0123456789abcdef0123456789abcdef"
RESCAN_ID = "fedcba9876543210fedcba9876543210"
KEY = "uploads/2026-12-01/q3 report+final ü.txt"
BODY = b"nothing to see here\n"


def _upload(stack, key: str = KEY) -> str:
    response = boto3.client("s3").put_object(Bucket=stack.uploads_bucket, Key=key, Body=BODY)
    return str(response["VersionId"])


def test_given_a_complete_clean_scan_when_downloading_then_a_link_to_that_exact_version(call, stack):
    version = _upload(stack)
    seed_scan(stack, SCAN_ID, "COMPLETE", key=KEY, version_id=version, verdict="clean")
    boto3.client("s3").put_object(Bucket=stack.uploads_bucket, Key=KEY, Body=b"a newer upload, unscanned")

    status, body, _ = call("GET", f"/scans/{SCAN_ID}/download")

    assert status == 200, body
    assert (body["key"], body["version_id"], body["size"]) == (KEY, version, len(BODY))
    assert body["expires_in"] == 300
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(body["url"]).query)
    assert query["versionId"] == [version]
    assert query["response-content-disposition"] == [
        "attachment; filename*=UTF-8''q3_report%2Bfinal_%C3%BC.txt"
    ]
    with urllib.request.urlopen(body["url"], timeout=10) as response:  # the moto server
        assert response.read() == BODY


@pytest.mark.parametrize(
    ("state", "fields", "reason"),
    [
        ("QUEUED", {}, "the scan is QUEUED"),
        ("RUNNING", {}, "the scan is RUNNING"),
        ("COMPLETE", {"verdict": "malicious"}, "the verdict is malicious"),
        ("COMPLETE", {"verdict": "suspicious"}, "the verdict is suspicious"),
        ("FAILED", {"failure_reason": "job failed"}, "the scan is FAILED"),
        ("SKIPPED", {"skip_reason": "too large"}, "the scan is SKIPPED"),
    ],
)
def test_given_a_scan_that_is_not_complete_and_clean_when_downloading_then_409_not_released(
    call, stack, state, fields, reason
):
    version = _upload(stack)
    seed_scan(stack, SCAN_ID, state, key=KEY, version_id=version, **fields)

    status, body, _ = call("GET", f"/scans/{SCAN_ID}/download")

    assert status == 409, body
    assert body["error"]["code"] == "not_released"
    assert body["error"]["message"].startswith(reason)


def test_given_a_later_scan_of_the_version_that_is_not_clean_when_downloading_then_409(call, stack):
    version = _upload(stack)
    seed_scan(stack, SCAN_ID, "COMPLETE", key=KEY, version_id=version, verdict="clean")
    seed_scan(stack, RESCAN_ID, "COMPLETE", key=KEY, version_id=version, verdict="malicious")

    status, body, _ = call("GET", f"/scans/{SCAN_ID}/download")

    assert status == 409, body
    assert RESCAN_ID in body["error"]["message"]


def test_given_a_clean_scan_outside_the_scan_area_or_without_a_version_when_downloading_then_409(call, stack):
    seed_scan(stack, SCAN_ID, "COMPLETE", key="elsewhere/a.txt", version_id="v1", verdict="clean")
    seed_scan(stack, RESCAN_ID, "COMPLETE", key=KEY, version_id=None, verdict="clean")

    for scan_id in (SCAN_ID, RESCAN_ID):
        status, body, _ = call("GET", f"/scans/{scan_id}/download")
        assert (status, body["error"]["code"]) == (409, "not_released"), body


def test_given_no_scan_or_a_deleted_version_when_downloading_then_404(call, stack):
    status, body, _ = call("GET", f"/scans/{SCAN_ID}/download")
    assert (status, body["error"]["code"]) == (404, "not_found")

    version = _upload(stack)
    seed_scan(stack, SCAN_ID, "COMPLETE", key=KEY, version_id=version, verdict="clean")
    boto3.client("s3").delete_object(Bucket=stack.uploads_bucket, Key=KEY, VersionId=version)

    status, body, _ = call("GET", f"/scans/{SCAN_ID}/download")
    assert (status, body["error"]["code"]) == (404, "not_found"), body
