"""IAM enforced in the local stack: the pipeline's paths under the template's own policies.

Each test here drives a path through the enforcing stack (every call a function or the scanner job
makes is checked against its role's policies and the bucket policies) and would fail with
AccessDenied (or S3's 403-instead-of-404) if a grant it needs were missing. The last test compares
what the roles were granted with what they used.
"""

from __future__ import annotations

import fnmatch
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from filescan_local.iam_policies import LOCAL_SECRET, Role, unused_grants
from filescan_local.observe import api_call, scan_records, wait_terminal
from filescan_local.samples import eicar
from filescan_local.template import TEMPLATE_PATH
from filescan_shared.ids import derive_scan_id
from tests.e2e.conftest import Pipeline, start_pipeline, wait_until

QUARANTINE = "quarantine/"
# Granted actions these paths cannot use locally, as "<role>:<action>" globs, each with the reason.
NOT_OBSERVABLE_LOCALLY = {
    "*:kms:*": "KMS encryption is not emulated (buckets, tables, queues and logs use the key on AWS)",
    "EnqueueFunctionRole:sqs:*": "the Lambda service polls the ingest queue with the function's role",
    "*:sqs:SendMessage@*": "the Lambda service dead-letters failed async events with the function's role",
    "ScannerExecutionRole:*": "the Fargate agent pulls the image and writes logs with the execution role",
    "EngineExecutionRole:*": "the Fargate agent pulls engine images and writes logs with this role",
    "EngineJobRole:*": "engine jobs run only when EnabledEngines names an engine besides filescan",
    "SweeperFunctionRole:*": "the sweeper acts only on scans past their deadline (sweeper unit tests)",
    "*:batch:ListJobs@*": "adopting a job only follows a crash between SubmitJob and recording it",
    "AnalysisFunctionRole:dynamodb:DeleteItem@*": "Powertools idempotency: only after a handler failure",
    "AnalysisFunctionRole:dynamodb:GetItem@IdempotencyRecords": "Powertools idempotency: a repeated event",
    "AnalysisFunctionRole:secretsmanager:GetSecretValue@*": "only with OpenAIApiKeySecretArn set",
    "AnalysisFunctionRole:s3:AbortMultipartUpload@*": "only when a multipart quarantine copy fails",
    "AnalysisFunctionRole:s3:*@statement*": "SAM's S3ReadPolicy (reports bucket) grants more than reads",
    "*:s3:PutObjectTagging@*": "objects named without a version (an event without version-id)",
    "*:s3:GetObjectTagging@*": "objects named without a version (an event without version-id)",
    "ScannerJobRole:s3:GetObject@*": "objects named without a version; bulk manifests (array jobs)",
    "AnalysisFunctionRole:s3:GetObject@QuarantineMove": "objects named without a version",
    "ApiFunctionRole:s3:PutObject@PresignUploads": "presigned uploads: the API role signs, clients send",
    "AnalysisFunctionRole:batch:SubmitJob@*": "Spot -> on-demand escalation needs a Spot interruption",
    "AnalysisFunctionRole:batch:TagResource@*": "Spot -> on-demand escalation needs a Spot interruption",
    "AnalysisFunctionRole:s3:PutObject@WriteCombinedEngineResults": (
        "scans with several engines only (tests/e2e/test_engines_local.py, IAM enforced there too)"
    ),
    "UploaderRole:*": "a test principal (an uploader with its own read grant), not a role of the stack",
}
# An uploader as a deployment might have one: it may write and tag objects and holds its own read
# grant on the bucket. Only the bucket policy stands between it and the files.
UPLOADER_ROLE = """
  UploaderRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - Effect: Allow
            Principal: { AWS: !Ref AWS::AccountId }
            Action: sts:AssumeRole
      Policies:
        - PolicyName: upload-tag-and-read
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: [s3:PutObject, s3:PutObjectTagging, s3:GetObject, s3:GetObjectVersion]
                Resource: !Sub "${UploadsBucket.Arn}/*"
"""


@pytest.fixture(scope="module")
def iam_pipeline() -> Iterator[Pipeline]:
    """A stack with QuarantineMode=move (the move path runs under the analysis role) and an uploader."""
    text = TEMPLATE_PATH.read_text().replace("\nResources:\n", "\nResources:" + UPLOADER_ROLE, 1)
    yield from start_pipeline(parameters={"QuarantineMode": "move"}, template_text=text)


def _uploader_role(pipeline: Pipeline) -> Role:
    (role,) = [role for role in pipeline.stack.policies.roles.values() if role.logical_id == "UploaderRole"]
    return role


def _uploader(pipeline: Pipeline) -> Any:
    """An S3 client signing as the uploader role."""
    role = _uploader_role(pipeline)
    session = boto3.session.Session(
        aws_access_key_id=role.access_key, aws_secret_access_key=LOCAL_SECRET, region_name="us-east-1"
    )
    return session.client("s3", endpoint_url=pipeline.stack.moto_url)


def _ingest_event(pipeline: Pipeline, key: str, version_id: str | None, size: int) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": size}
    if version_id:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": f"manual-{key}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "detail": {"bucket": {"name": pipeline.bucket}, "object": obj},
    }


def _tag(pipeline: Pipeline, key: str, version_id: str | None) -> str | None:
    kwargs = {"Bucket": pipeline.bucket, "Key": key} | ({"VersionId": version_id} if version_id else {})
    tags = pipeline.stack.client("s3").get_object_tagging(**kwargs)["TagSet"]
    return next((tag["Value"] for tag in tags if tag["Key"] == "filescan-verdict"), None)


def _post(pipeline: Pipeline, path: str, body: Any = None) -> tuple[int, Any]:
    assert pipeline.stack.api is not None
    return api_call(pipeline.stack.api.url, "POST", path, body if body is not None else {})


def test_given_a_clean_scan_when_rescanned_through_the_api_then_it_completes_and_stays_clean(
    iam_pipeline: Pipeline,
) -> None:
    upload = iam_pipeline.put("uploads/rescan me.txt", b"nothing to see here\n")
    iam_pipeline.wait([upload])

    status, accepted = _post(iam_pipeline, f"/scans/{upload.scan_id}/rescan")

    assert status == 202, accepted
    records, _ = _wait_ids(iam_pipeline, [accepted["scan_id"]])
    assert records[accepted["scan_id"]]["status"] == "COMPLETE"
    assert _tag(iam_pipeline, upload.key, upload.version_id) == "clean"


def test_given_a_bulk_rescan_when_its_new_manifest_reads_as_not_found_then_every_scan_completes(
    iam_pipeline: Pipeline,
) -> None:
    uploads = [iam_pipeline.put(f"uploads/bulk/{n}.txt", f"file {n}\n".encode()) for n in range(2)]
    iam_pipeline.wait(uploads)

    status, accepted = _post(iam_pipeline, "/rescans", {"prefix": "uploads/bulk/"})

    assert status == 202, accepted
    records, _ = _wait_ids(iam_pipeline, accepted["scan_ids"])
    assert {record["status"] for record in records.values()} == {"COMPLETE"}


def test_given_an_object_gone_before_enqueue_when_ingested_then_it_is_skipped_with_no_report(
    iam_pipeline: Pipeline,
) -> None:
    key = "uploads/never uploaded.txt"
    iam_pipeline.resend_ingest(_ingest_event(iam_pipeline, key, None, 10))
    scan_id = derive_scan_id(iam_pipeline.bucket, key, version_id=None)

    records, _ = _wait_ids(iam_pipeline, [scan_id])

    assert records[scan_id]["status"] == "SKIPPED", records[scan_id]
    assert iam_pipeline.api(f"/scans/{scan_id}/report")[0] == 404
    assert iam_pipeline.queue_depth("IngestDLQ") == 0


def test_given_a_form_encoded_key_when_ingested_then_it_falls_back_to_its_decoded_spelling(
    iam_pipeline: Pipeline,
) -> None:
    upload = iam_pipeline.put("uploads/with space.txt", b"spaced out\n")
    iam_pipeline.wait([upload])
    encoded = "uploads/with+space.txt"
    iam_pipeline.resend_ingest(_ingest_event(iam_pipeline, encoded, upload.version_id, 11))
    scan_id = derive_scan_id(iam_pipeline.bucket, encoded, version_id=upload.version_id)

    records, _ = _wait_ids(iam_pipeline, [scan_id])

    assert records[scan_id]["status"] == "COMPLETE", records[scan_id]
    assert records[scan_id]["key"] == "uploads/with space.txt"


def test_given_a_malicious_9_mib_file_when_scanned_then_it_is_moved_to_quarantine_once(
    iam_pipeline: Pipeline,
) -> None:
    body = eicar() + b"\n" + b"\0" * (9 * 1024 * 1024)
    upload = iam_pipeline.put("uploads/large bad.bin", body)

    iam_pipeline.wait([upload])
    record = _published(iam_pipeline, upload.scan_id)

    assert (record["status"], record["verdict"]) == ("COMPLETE", "malicious"), record
    destination = f"{QUARANTINE}{upload.scan_id}/{upload.key}"
    assert record.get("quarantine_key") == destination
    versions = iam_pipeline.stack.client("s3").list_object_versions(Bucket=iam_pipeline.bucket)
    copies = [v for v in versions.get("Versions", []) if v["Key"] == destination]
    originals = [v for v in versions.get("Versions", []) if v["VersionId"] == upload.version_id]
    assert (len(copies), originals) == (1, [])


def test_given_the_same_content_again_when_uploaded_then_it_is_a_cache_hit_tagged_by_enqueue(
    iam_pipeline: Pipeline,
) -> None:
    s3, body = iam_pipeline.stack.client("s3"), b"cached content\n"
    keys = ["uploads/cache/one.txt", "uploads/cache/two.txt"]
    versions = []
    for key in keys:
        response = s3.put_object(Bucket=iam_pipeline.bucket, Key=key, Body=body, ChecksumAlgorithm="SHA256")
        versions.append(response["VersionId"])
        scan_id = derive_scan_id(iam_pipeline.bucket, key, version_id=response["VersionId"])
        _wait_ids(iam_pipeline, [scan_id])
    second = derive_scan_id(iam_pipeline.bucket, keys[1], version_id=versions[1])

    record = _published(iam_pipeline, second)

    assert record.get("cached_from"), record
    assert _tag(iam_pipeline, keys[1], versions[1]) == "clean"


def test_given_a_self_tagged_multipart_upload_when_read_then_only_the_api_serves_it_if_clean(
    iam_pipeline: Pipeline,
) -> None:
    uploader, bucket, key = _uploader(iam_pipeline), iam_pipeline.bucket, "uploads/self tagged clean.txt"
    parts = [b"harmless line\n" * (5 * 1024 * 1024 // 14 + 1), b"the end\n"]
    # The uploader tags its own multipart upload clean: nothing documented stops that tag.
    upload_id = uploader.create_multipart_upload(Bucket=bucket, Key=key, Tagging="filescan-verdict=clean")[
        "UploadId"
    ]
    etags = [
        uploader.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=part)["ETag"]
        for n, part in enumerate(parts, start=1)
    ]
    completed = uploader.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"ETag": e, "PartNumber": n} for n, e in enumerate(etags, start=1)]},
    )
    version = completed["VersionId"]
    scan_id = derive_scan_id(bucket, key, version_id=version)
    assert _tag(iam_pipeline, key, version) == "clean"

    def direct_read() -> str:
        try:
            uploader.get_object(Bucket=bucket, Key=key, VersionId=version)
        except ClientError as error:
            return str(error.response["Error"]["Code"])
        return "read"

    assert direct_read() == "AccessDenied"
    assert iam_pipeline.api(f"/scans/{scan_id}/download")[0] in {404, 409}  # no verdict yet

    records, _ = _wait_ids(iam_pipeline, [scan_id])
    assert (records[scan_id]["status"], records[scan_id]["verdict"]) == ("COMPLETE", "clean")
    _published(iam_pipeline, scan_id)

    assert direct_read() == "AccessDenied"
    status, link = iam_pipeline.api(f"/scans/{scan_id}/download")
    assert status == 200, link
    with urllib.request.urlopen(link["url"], timeout=30) as response:
        assert response.read() == b"".join(parts)


def test_given_a_malicious_file_when_downloaded_then_it_is_not_released(iam_pipeline: Pipeline) -> None:
    upload = iam_pipeline.put("uploads/bad.txt", eicar())
    iam_pipeline.wait([upload])

    status, body = iam_pipeline.api(f"/scans/{upload.scan_id}/download")

    assert (status, body["error"]["code"]) == (409, "not_released"), body


def test_given_the_pipeline_when_the_sweeper_runs_then_it_reports_what_it_examined(
    iam_pipeline: Pipeline,
) -> None:
    assert iam_pipeline.stack.dispatcher is not None
    event = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}

    result = iam_pipeline.stack.dispatcher.invoke("SweeperFunction", event)

    assert result["examined"] >= 0


def test_given_a_scanned_upload_when_the_api_lists_scans_or_looks_up_its_object_then_it_is_found(
    iam_pipeline: Pipeline,
) -> None:
    upload = iam_pipeline.put("uploads/listed.txt", b"list me\n")
    iam_pipeline.wait([upload])

    listed = iam_pipeline.api("/scans?limit=5")
    by_object = iam_pipeline.api(f"/objects/scan?bucket={iam_pipeline.bucket}&key=uploads/listed.txt")

    assert listed[0] == 200, listed
    assert (by_object[0], by_object[1]["scan_id"]) == (200, upload.scan_id)


def test_given_a_template_without_the_submit_grant_when_uploading_then_access_denied_stops_it() -> None:
    text = TEMPLATE_PATH.read_text()
    start = text.index("            - Sid: SubmitScannerJobs")
    end = text.index("            # HeadObject (authorised as GetObject)", start)
    stack = start_pipeline(template_text=text[:start] + text[end:])
    pipeline = next(stack)
    try:
        upload = pipeline.put("uploads/denied.txt", b"never scanned\n")

        def denied() -> list[dict[str, Any]]:
            return [d for d in pipeline.stack.iam_decisions() if not d["allowed"]]

        wait_until(lambda: bool(denied()), timeout=60)

        assert {(d["role"].rsplit("/", 1)[-1], d["action"]) for d in denied()} == {
            ("filescan-EnqueueFunctionRole", "batch:SubmitJob")
        }
        record = scan_records(pipeline.stack.client("dynamodb"), pipeline.table, [upload.scan_id])
        assert record[upload.scan_id]["status"] == "QUEUED"
    finally:
        stack.close()


def test_given_the_paths_run_above_when_decisions_are_checked_then_each_grant_is_used_or_explained(
    iam_pipeline: Pipeline,
) -> None:
    """Runs last: the decisions of this module's paths against every role's grants."""
    decisions = iam_pipeline.stack.iam_decisions()
    # The uploader's denials are the point of its test; every role of the stack got what it asked.
    denied = [d for d in decisions if not d["allowed"] and d["role"] != _uploader_role(iam_pipeline).arn]
    assert not denied, denied[:5]

    unused = unused_grants(iam_pipeline.stack.policies, decisions)

    unexplained = {
        f"{role}:{action}"
        for role, actions in unused.items()
        for action in actions
        if not any(fnmatch.fnmatchcase(f"{role}:{action}", glob) for glob in NOT_OBSERVABLE_LOCALLY)
    }
    assert not unexplained, sorted(unexplained)


def _published(pipeline: Pipeline, scan_id: str) -> dict[str, Any]:
    """The record once analysis published it (tag, quarantine, event come after the terminal write)."""
    dynamodb, found = pipeline.stack.client("dynamodb"), {}

    def published() -> bool:
        found.update(scan_records(dynamodb, pipeline.table, [scan_id]).get(scan_id, {}))
        return "published_at" in found

    wait_until(published, timeout=60)
    return found


def _wait_ids(pipeline: Pipeline, scan_ids: list[str], timeout: float = 120) -> tuple[dict[str, Any], None]:
    records, finished = wait_terminal(
        pipeline.stack.client("dynamodb"), pipeline.table, scan_ids, timeout=timeout
    )
    assert set(finished) == set(scan_ids), {s: records.get(s, {}).get("status") for s in scan_ids}
    return records, None
