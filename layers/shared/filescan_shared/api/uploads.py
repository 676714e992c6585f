"""Presigned uploads: a server-chosen key under the scan prefix and a checksum S3 verifies.

The key is ``<SCAN_PREFIX><YYYY-MM-DD>/<uuid>/<safe basename>``: the caller's filename is
reduced to a safe basename (no directories, ``..``, control or format characters; unicode kept), so
a client can neither escape the prefix nor overwrite another upload. The SHA-256 is signed into the
URL as ``x-amz-checksum-sha256``: S3 rejects a body whose digest differs, and the object carries a
full-object SHA-256, which the content cache uses.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from typing import TYPE_CHECKING

from filescan_shared.api.errors import ApiError
from filescan_shared.api.models import UploadRequest, UploadTicket
from filescan_shared.records import iso

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SINGLE_PUT_MAX_BYTES = 5 * 1024**3
"""S3's limit for one PUT (larger objects need a multipart upload, e.g. with the CLI)."""
MAX_NAME_BYTES = 200
_UNSAFE = set('/\\:*?"<>|#%{}^`[]~')


def safe_basename(filename: str) -> str:
    """``filename`` reduced to a safe last path segment (never empty, ``.`` or ``..``)."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    kept = []
    for char in name:
        category = unicodedata.category(char)
        if category[0] == "C" or category in {"Zl", "Zp"}:
            continue
        kept.append("_" if char in _UNSAFE or char.isspace() else char)
    name = "".join(kept).strip("._ ") or "file"
    while len(name.encode()) > MAX_NAME_BYTES:
        name = name[:-1]
    return name


def upload_key(scan_prefix: str, filename: str, now: dt.datetime) -> str:
    """A fresh object key for an upload of ``filename``."""
    return f"{scan_prefix}{now:%Y-%m-%d}/{uuid.uuid4().hex}/{safe_basename(filename)}"


def presign_upload(
    s3: S3Client,
    request: UploadRequest,
    *,
    bucket: str,
    scan_prefix: str,
    max_bytes: int,
    ttl_seconds: int,
    now: dt.datetime,
) -> UploadTicket:
    """A presigned PUT for ``request``; ``payload_too_large`` (413) over ``max_bytes`` or 5 GB."""
    limit = min(max_bytes, SINGLE_PUT_MAX_BYTES)
    if request.size > limit:
        raise ApiError("payload_too_large", f"size {request.size} is over the {limit}-byte upload limit")
    key = upload_key(scan_prefix, request.filename, now)
    params: dict[str, str | int] = {
        "Bucket": bucket,
        "Key": key,
        "ChecksumSHA256": request.sha256,
        "ChecksumAlgorithm": "SHA256",
        "ContentLength": request.size,
    }
    headers = {"x-amz-checksum-sha256": request.sha256, "x-amz-sdk-checksum-algorithm": "SHA256"}
    if request.content_type:
        params["ContentType"] = request.content_type
        headers["content-type"] = request.content_type
    url = s3.generate_presigned_url("put_object", Params=params, ExpiresIn=ttl_seconds)
    return UploadTicket(
        url=url,
        bucket=bucket,
        key=key,
        headers=headers,
        expires_at=iso(now + dt.timedelta(seconds=ttl_seconds)),
        max_bytes=limit,
    )
