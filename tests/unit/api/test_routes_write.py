"""The write routes: presigned uploads, single and bulk rescans; and the error contract."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request

import boto3
import pytest
from openapi_spec_validator import validate

from filescan_shared.api.rescan import bulk_id_for
from filescan_shared.api.routes import route_table
from filescan_shared.ids import bulk_child_scan_id
from filescan_shared.pipeline import rescan
from filescan_shared.records import ScanRecord, iso, utc_now
from filescan_shared.repository import ScanRepository
from filescan_shared.states import ScanState
from tests.unit.pipeline.conftest import seed_scan

SCAN_ID = "0123456789abcdef0123456789abcdef"


def _upload_request(content: bytes, filename: str = "report.pdf", **extra):
    return {
        "filename": filename,
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        **extra,
    }


def _put(ticket: dict, body: bytes) -> int:
    request = urllib.request.Request(ticket["url"], data=body, method="PUT", headers=ticket["headers"])
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_given_upload_request_when_presigned_then_put_lands_under_the_prefix_with_its_checksum(call, stack):
    content = b"%PDF-1.7 hello"

    status, ticket, _ = call(
        "POST", "/uploads", body=_upload_request(content, content_type="application/pdf")
    )

    assert status == 200, ticket
    assert ticket["method"] == "PUT"
    assert ticket["bucket"] == stack.uploads_bucket
    assert ticket["key"].startswith("uploads/")
    assert not ticket["key"].startswith("uploads/uploads/")
    assert ticket["key"].endswith("/report.pdf")
    assert (
        ticket["headers"]["x-amz-checksum-sha256"]
        == base64.b64encode(hashlib.sha256(content).digest()).decode()
    )
    # Signed (so the client cannot drop or change it) and verified by S3 against the body.
    assert "x-amz-checksum-sha256" in ticket["url"]
    assert _put(ticket, content) == 200
    head = boto3.client("s3").head_object(
        Bucket=stack.uploads_bucket, Key=ticket["key"], ChecksumMode="ENABLED"
    )
    assert head["ChecksumSHA256"] == ticket["headers"]["x-amz-checksum-sha256"]


def test_given_base64_digest_when_presigned_then_accepted(call, stack):
    content = b"abc"
    digest = base64.b64encode(hashlib.sha256(content).digest()).decode()

    status, ticket, _ = call("POST", "/uploads", body={"filename": "a.txt", "size": 3, "sha256": digest})

    assert status == 200
    assert ticket["headers"]["x-amz-checksum-sha256"] == digest


@pytest.mark.parametrize(
    ("filename", "basename"),
    [
        ("../../etc/passwd", "passwd"),
        ("/abs/path/x.txt", "x.txt"),
        ("C:\\Users\\me\\évaluation 2026.xlsx", "évaluation_2026.xlsx"),
        ("bad\x00\x1fname\u202e.exe", "badname.exe"),
        ("..", "file"),
        ("...", "file"),
        ("报告.pdf", "报告.pdf"),
    ],
)
def test_given_hostile_filename_when_presigned_then_key_is_a_safe_basename_under_the_prefix(
    call, stack, filename, basename
):
    status, ticket, _ = call("POST", "/uploads", body=_upload_request(b"x", filename=filename))

    assert status == 200
    prefix, date, unique, name = ticket["key"].rsplit("/", 3)
    assert prefix == "uploads"
    assert len(unique) == 32
    assert len(date) == 10
    assert name == basename


def test_given_oversized_upload_when_presigning_then_413(call, stack):
    body = {"filename": "big.iso", "size": 5 * 1024**3 + 1, "sha256": "a" * 64}

    status, error, _ = call("POST", "/uploads", body=body)

    assert status == 413
    assert error["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "body",
    [
        {"filename": "a", "size": 1},
        {"filename": "a", "size": 1, "sha256": "zz" * 32},
        {"filename": "a", "size": 1, "sha256": base64.b64encode(b"short").decode()},
        {"filename": "", "size": 1, "sha256": "a" * 64},
        {"filename": "a", "size": -1, "sha256": "a" * 64},
        {"filename": "a", "size": "big", "sha256": "a" * 64},
        {"filename": "a", "size": 1, "sha256": "a" * 64, "extra": True},
        {"filename": "a", "size": 1, "sha256": "a" * 64, "content_type": "text/plain\r\nx-evil: 1"},
    ],
)
def test_given_bad_upload_body_when_presigning_then_400(call, stack, body):
    status, error, _ = call("POST", "/uploads", body=body)

    assert status == 400
    assert error["error"]["code"] == "bad_request"


def test_given_non_json_body_when_presigning_then_400(call, stack):
    status, error, _ = call("POST", "/uploads", body=b"\xff\xfenot json")

    assert status == 400
    assert error["error"]["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/uploads", "/rescans"])
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "multipart/form-data", "multipart/form-data; boundary=", "x"],
)
def test_given_non_json_content_type_when_posting_then_415(call, stack, path, content_type):
    body = _upload_request(b"x") if path == "/uploads" else {"prefix": "uploads/"}

    status, error, _ = call("POST", path, body=json.dumps(body), headers={"Content-Type": content_type})

    assert status == 415, error
    assert error["error"]["code"] == "unsupported_media_type"
    assert error["error"]["request_id"]


def test_given_deeply_nested_json_body_when_presigning_then_400(call, stack):
    status, error, _ = call("POST", "/uploads", body="[" * 10_000 + "]" * 10_000)

    assert status == 400, error
    assert error["error"]["code"] == "bad_request"


def _batch_jobs(stack) -> list[dict]:
    batch = boto3.client("batch")
    jobs = []
    for state in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"):
        jobs.extend(batch.list_jobs(jobQueue=stack.job_queue_standard, jobStatus=state)["jobSummaryList"])
    return jobs


def test_given_scanned_version_when_rescanned_then_new_scan_submitted_once(call, stack):
    seed_scan(stack, SCAN_ID, "COMPLETE", version_id="v-1", key="uploads/a.txt")

    status, body, _ = call("POST", f"/scans/{SCAN_ID}/rescan")

    assert status == 202, body
    assert body["rescan_of"] == SCAN_ID
    assert body["scan_id"] != SCAN_ID
    assert body["status"] == "SUBMITTED"
    status, scan, _ = call("GET", f"/scans/{body['scan_id']}")
    assert scan["status"] == "SUBMITTED"
    assert scan["version_id"] == "v-1"
    assert scan["rescan_of"] == SCAN_ID
    assert scan["job_id"] == body["job_id"]
    names = [job["jobName"] for job in _batch_jobs(stack)]
    assert names == [f"filescan-{body['scan_id']}"]


def test_given_idempotency_key_when_rescan_is_repeated_then_one_scan_and_one_job(call, stack):
    seed_scan(stack, SCAN_ID, "COMPLETE", version_id="v-1", key="uploads/a.txt")
    headers = {"Idempotency-Key": "retry-1"}

    first = call("POST", f"/scans/{SCAN_ID}/rescan", headers=headers)
    second = call("POST", f"/scans/{SCAN_ID}/rescan", headers=headers)
    third = call("POST", f"/scans/{SCAN_ID}/rescan")

    assert first[0] == second[0] == third[0] == 202
    assert first[1]["scan_id"] == second[1]["scan_id"] != third[1]["scan_id"]
    assert len(_batch_jobs(stack)) == 2


def test_given_unknown_or_unpinned_scan_when_rescanned_then_404_or_409(call, stack):
    status, body, _ = call("POST", f"/scans/{SCAN_ID}/rescan")
    assert status == 404

    seed_scan(stack, SCAN_ID, "COMPLETE", version_id=None)
    status, body, _ = call("POST", f"/scans/{SCAN_ID}/rescan")
    assert status == 409
    assert body["error"]["code"] == "conflict"

    status, body, _ = call("POST", "/scans/not-a-scan/rescan")
    assert status == 400


def _put_objects(stack, keys: list[str]) -> dict[str, str]:
    s3 = boto3.client("s3")
    return {
        key: s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=key.encode())["VersionId"]
        for key in keys
    }


def test_given_prefix_when_bulk_rescanned_then_manifest_records_and_one_array_job(call, stack):

    versions = _put_objects(stack, [f"uploads/bulk/{name}" for name in ("a.txt", "b.bin", "c d.pdf")])
    _put_objects(stack, ["uploads/bulk/a.txt"])  # a newer version: only the current one is rescanned
    versions["uploads/bulk/a.txt"] = boto3.client("s3").list_object_versions(
        Bucket=stack.uploads_bucket, Prefix="uploads/bulk/a.txt"
    )["Versions"][0]["VersionId"]
    _put_objects(stack, ["uploads/other/x.txt"])

    status, body, _ = call("POST", "/rescans", body={"prefix": "uploads/bulk/"})

    assert status == 202, body
    bulk_id = body["bulk_id"]
    assert body["count"] == 3
    assert body["job_name"] == f"filescan-bulk-{bulk_id}"
    assert body["manifest"] == f"s3://{stack.reports_bucket}/manifests/{bulk_id}.jsonl"
    assert body["scan_ids"] == [bulk_child_scan_id(bulk_id, index) for index in range(3)]
    manifest = boto3.client("s3").get_object(Bucket=stack.reports_bucket, Key=f"manifests/{bulk_id}.jsonl")
    lines = [json.loads(line) for line in manifest["Body"].read().decode().splitlines()]
    assert [(line["key"], line["version_id"], line["scan_id"]) for line in lines] == [
        (key, versions[key], scan_id) for key, scan_id in zip(sorted(versions), body["scan_ids"], strict=True)
    ]
    job = boto3.client("batch").describe_jobs(jobs=[body["job_id"]])["jobs"][0]
    assert job["jobName"] == f"filescan-bulk-{bulk_id}"
    assert job["arrayProperties"]["size"] == 3
    assert job["container"]["command"] == ["filescan-scan", "--manifest", body["manifest"]]
    for index, scan_id in enumerate(body["scan_ids"]):
        status, scan, _ = call("GET", f"/scans/{scan_id}")
        assert scan["status"] == "SUBMITTED"
        assert scan["bulk_id"] == bulk_id
        assert scan["job_id"] == f"{body['job_id']}:{index}"


def test_given_one_object_when_bulk_rescanned_then_an_ordinary_job(call, stack):
    _put_objects(stack, ["uploads/one/a.txt"])

    status, body, _ = call("POST", "/rescans", body={"prefix": "uploads/one/"})

    assert status == 202
    assert body["count"] == 1
    (scan_id,) = body["scan_ids"]
    assert body["job_name"] == f"filescan-{scan_id}"
    assert [job["jobName"] for job in _batch_jobs(stack)] == [f"filescan-{scan_id}"]


def test_given_idempotency_key_when_bulk_rescan_is_repeated_then_the_same_bulk(call, stack):
    _put_objects(stack, ["uploads/rep/a.txt", "uploads/rep/b.txt"])
    headers = {"Idempotency-Key": "nightly-2026-11-25"}

    first = call("POST", "/rescans", body={"prefix": "uploads/rep/"}, headers=headers)
    _put_objects(stack, ["uploads/rep/c.txt"])
    second = call("POST", "/rescans", body={"prefix": "uploads/rep/"}, headers=headers)

    assert first[0] == second[0] == 202
    assert first[1] == second[1]
    parents = {job["jobId"] for job in _batch_jobs(stack) if ":" not in job["jobId"]}
    assert parents == {first[1]["job_id"]}


def test_given_a_concurrent_bulk_rescan_holding_the_claim_when_repeated_then_409_and_no_job(call, stack):
    _put_objects(stack, ["uploads/race/a.txt", "uploads/race/b.txt"])
    bulk_id = bulk_id_for("race-1")
    stamp = iso(utc_now())
    # Another request with the same key has just created the first child and holds its claim.
    in_flight = ScanRecord(
        scan_id=bulk_child_scan_id(bulk_id, 0),
        status=ScanState.QUEUED,
        bucket=stack.uploads_bucket,
        key="uploads/race/a.txt",
        created_at=stamp,
        updated_at=stamp,
        bulk_id=bulk_id,
    )
    assert ScanRepository(boto3.client("dynamodb"), stack.scans_table).create(
        in_flight, claim="the-other-request"
    )

    status, body, _ = call(
        "POST", "/rescans", body={"prefix": "uploads/race/"}, headers={"Idempotency-Key": "race-1"}
    )

    assert (status, body["error"]["code"]) == (409, "conflict"), body
    assert _batch_jobs(stack) == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"prefix": "elsewhere/"}, 400, "bad_request"),
        ({"prefix": "uploads/", "bucket": "someone-elses"}, 400, "bad_request"),
        ({"prefix": "uploads/nothing-here/"}, 404, "not_found"),
        ({"prefix": ""}, 400, "bad_request"),
        ({}, 400, "bad_request"),
    ],
)
def test_given_bad_bulk_request_when_posted_then_error(call, stack, body, status, code):
    got, error, _ = call("POST", "/rescans", body=body)

    assert got == status
    assert error["error"]["code"] == code


def test_given_prefix_over_the_bound_when_bulk_rescanned_then_400(call, stack, monkeypatch):

    monkeypatch.setattr(rescan, "MAX_BULK_OBJECTS", 2)
    _put_objects(stack, [f"uploads/many/{n}.txt" for n in range(3)])

    status, error, _ = call("POST", "/rescans", body={"prefix": "uploads/many/"})

    assert status == 400
    assert error["error"]["code"] == "too_many_objects"


def test_given_unexpected_failure_when_handling_then_500_without_internals(call, stack, monkeypatch):

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail /var/task/app.py")

    monkeypatch.setattr(ScanRepository, "get", explode)

    status, body, _ = call("GET", f"/scans/{SCAN_ID}")

    assert status == 500
    assert body == {
        "error": {
            "code": "internal_error",
            "message": "internal error",
            "request_id": body["error"]["request_id"],
        }
    }


def test_given_known_path_with_other_method_when_called_then_405_with_allow(call, stack):
    status, body, headers = call("POST", f"/scans/{SCAN_ID}")

    assert status == 405
    assert headers["Allow"] == "GET"
    assert body["error"]["code"] == "method_not_allowed"
    status, body, _ = call("GET", "/nowhere")
    assert status == 404


def test_given_openapi_route_when_fetched_then_a_valid_document_of_every_route(call, stack):

    status, document, _ = call("GET", "/openapi.json")

    assert status == 200
    validate(document)
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert operations == {
        ("GET", "/scans/{scan_id}"),
        ("GET", "/scans"),
        ("GET", "/objects/scan"),
        ("GET", "/scans/{scan_id}/report"),
        ("GET", "/scans/{scan_id}/download"),
        ("POST", "/uploads"),
        ("POST", "/scans/{scan_id}/rescan"),
        ("POST", "/rescans"),
    }
    # The resolver's route table (405 answers, the template check) is the same set, plus this document.
    table = {(route.method, route.path) for route in route_table()}
    assert table == operations | {("GET", "/openapi.json")}
    assert document["security"] == [{"aws": []}]


@pytest.mark.parametrize("route", route_table(), ids=lambda route: f"{route.method} {route.path}")
def test_given_each_registered_route_when_called_with_another_method_then_405_names_it(call, stack, route):
    path = route.path.replace("{scan_id}", SCAN_ID)
    other = "DELETE"

    status, body, headers = call(other, path)

    assert status == 405, body
    assert route.method in headers["Allow"].split(", ")
    assert body["error"]["code"] == "method_not_allowed"
