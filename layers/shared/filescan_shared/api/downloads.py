"""Downloads of clean files: a presigned GET of the exact version a COMPLETE, clean scan released.

Files under the scan prefix are read through the API, not by their tag alone (docs/security.md):
AWS documents ``s3:RequestObjectTagKeys`` for PutObject, PutObjectTagging and POST uploads, not
for the ``x-amz-tagging`` header of CreateMultipartUpload, so the verdict tag of an object might
have been set by its uploader. The scan record, in a table uploaders cannot write, decides; the
bucket policy then checks the tag once more for the API role (the presigned URL is signed by it).
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from filescan_shared.api.errors import ApiError, NotFound, s3_error
from filescan_shared.api.models import DownloadLink
from filescan_shared.api.uploads import safe_basename
from filescan_shared.aws_errors import is_missing_object
from filescan_shared.records import ScanRecord, iso
from filescan_shared.states import ScanState

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

CLEAN = "clean"


def refusal(record: ScanRecord, latest: ScanRecord | None, bucket: str, scan_prefix: str) -> str | None:
    """Why ``record`` does not release its object version (``None``: it does).

    Released only by a COMPLETE scan with verdict ``clean`` of a version in the scan area, and only
    while the latest scan of that version (``latest``) says the same: a rescan that is running or
    found something withholds the file.
    """
    if record.status is not ScanState.COMPLETE:
        return f"the scan is {record.status.value}: only a COMPLETE scan with verdict clean releases a file"
    if record.verdict != CLEAN:
        return f"the verdict is {record.verdict}: only a clean file is released"
    if record.bucket != bucket or not record.key.startswith(scan_prefix) or not record.version_id:
        return "the scan names no object version in the scan area"
    newer = latest if latest is not None and latest.scan_id != record.scan_id else None
    if newer is not None and (newer.status is not ScanState.COMPLETE or newer.verdict != CLEAN):
        return f"a later scan of this version ({newer.scan_id}) is {newer.status.value}"
    return None


def presign_download(
    s3: S3Client, presigner: S3Client, record: ScanRecord, *, ttl_seconds: int, now: dt.datetime
) -> DownloadLink:
    """A presigned GET of ``record``'s object version, after checking that the API role may read it.

    The HeadObject runs under the same bucket policy as the URL: a version that is not tagged clean
    (or is gone: without ``s3:ListBucket`` S3 answers 403 for both) is ``not_released`` (409); a
    version S3 reports missing is 404.
    """
    assert record.version_id is not None  # refusal() admits only scans of a version
    bucket, key, version = record.bucket, record.key, record.version_id
    try:
        head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
    except ClientError as error:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if is_missing_object(error):
            raise NotFound("the scanned version no longer exists") from None
        if status == 403:
            message = "the version is not tagged clean (yet: retry if the scan just completed), or is gone"
            raise ApiError("not_released", message) from None
        raise s3_error(error) from None
    except BotoCoreError as error:
        raise s3_error(error) from None
    name = urllib.parse.quote(safe_basename(record.key), safe="")
    url = presigner.generate_presigned_url(
        "get_object",
        # An attachment, never rendered inline by a browser from the bucket's origin.
        Params={
            "Bucket": bucket,
            "Key": key,
            "VersionId": version,
            "ResponseContentDisposition": f"attachment; filename*=UTF-8''{name}",
        },
        ExpiresIn=ttl_seconds,
    )
    return DownloadLink(
        scan_id=record.scan_id,
        bucket=record.bucket,
        key=record.key,
        version_id=version,
        size=head.get("ContentLength"),
        url=url,
        expires_at=iso(now + dt.timedelta(seconds=ttl_seconds)),
        expires_in=ttl_seconds,
    )
