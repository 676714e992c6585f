"""Publishing steps repeated after a failure: no second quarantine copy, no harm from a failed rescan."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from filescan_shared.pipeline import publish
from filescan_shared.records import ScanRecord
from filescan_shared.states import ScanState
from tests.support.stack import StackNames
from tests.unit.pipeline.conftest import put_upload, verdict_tag

SCAN = "fedcba9876543210fedcba9876543210"
STAMP = "2026-01-01T00:00:00.000Z"


def _record(stack: StackNames, upload: dict[str, Any], **fields: Any) -> ScanRecord:
    return ScanRecord(
        scan_id=SCAN,
        bucket=stack.uploads_bucket,
        key=upload["key"],
        version_id=upload["version_id"],
        created_at=STAMP,
        updated_at=STAMP,
        **fields,
    )


class _DeleteFailsOnce:
    """An S3 client whose first DeleteObject fails (a crash between copy and delete)."""

    def __init__(self) -> None:
        self._client = boto3.client("s3")
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def delete_object(self, **kwargs: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise ClientError({"Error": {"Code": "InternalError", "Message": "boom"}}, "DeleteObject")
        return self._client.delete_object(**kwargs)


def test_given_a_move_interrupted_before_the_delete_when_retried_then_one_copy_and_the_original_gone(
    stack: StackNames,
) -> None:
    upload = put_upload(stack, "uploads/big bad.bin", b"M" * (9 * 1024 * 1024))
    record = _record(stack, upload, status=ScanState.COMPLETE, verdict="malicious")
    s3 = _DeleteFailsOnce()

    with pytest.raises(ClientError):
        publish.quarantine(s3, record, mode="move", prefix="quarantine/")  # type: ignore[arg-type]
    moved = publish.quarantine(s3, record, mode="move", prefix="quarantine/")  # type: ignore[arg-type]

    assert moved == f"quarantine/{SCAN}/{upload['key']}"
    listing = boto3.client("s3").list_object_versions(Bucket=stack.uploads_bucket)
    copies = [v for v in listing.get("Versions", []) if v["Key"] == moved]
    originals = [v for v in listing.get("Versions", []) if v["VersionId"] == upload["version_id"]]
    assert (len(copies), originals) == (1, [])


@pytest.mark.parametrize("failed_verdict", [None, "error"])
def test_given_a_clean_version_when_its_rescan_fails_then_the_version_keeps_its_clean_tag(
    stack: StackNames, failed_verdict: str | None
) -> None:
    upload = put_upload(stack, "uploads/fine.txt", b"fine")
    s3 = boto3.client("s3")
    original = _record(stack, upload, status=ScanState.COMPLETE, verdict="clean")
    publish.tag_object(s3, original)
    failed_rescan = original.model_copy(
        update={"scan_id": "0" * 32, "status": ScanState.FAILED, "verdict": failed_verdict, "rescan_of": SCAN}
    )

    publish.tag_object(s3, failed_rescan)

    assert verdict_tag(stack, upload) == "clean"


def test_given_a_failed_first_scan_when_published_then_the_version_is_tagged_error(stack: StackNames) -> None:
    upload = put_upload(stack, "uploads/broken.txt", b"broken")

    publish.tag_object(boto3.client("s3"), _record(stack, upload, status=ScanState.FAILED))

    assert verdict_tag(stack, upload) == "error"
