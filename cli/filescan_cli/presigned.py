"""``filescan upload`` through the API: ``POST /uploads`` for a presigned PUT, then the PUT itself.

For a user who can reach the API (and its auth) but has no S3 endpoint or credentials of their own:
no bucket configured. The API chooses the key (``<ScanPrefix><date>/<uuid>/<safe basename>``, so
``--prefix`` cannot apply) and signs the file's SHA-256 into the URL (``x-amz-checksum-sha256``): S3
rejects a body that changed after it was hashed. One PUT per file, so at most the ticket's
``max_bytes`` (the deployment's ``MaxUploadBytes``, never above S3's 5 GiB single-PUT limit); larger
files need the direct multipart upload (``--bucket`` / ``--stack-name``).

Hand-written on ``urllib`` rather than boto3 because a presigned URL is a plain HTTP PUT, and the
point of this mode is that no AWS configuration is needed on the client.
"""

from __future__ import annotations

import hashlib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO

from filescan_cli.client import USER_AGENT, ApiClient, ApiError
from filescan_cli.progress import ProgressBar
from filescan_cli.upload import Uploaded
from filescan_shared.ids import derive_scan_id

SINGLE_PUT_MAX_BYTES = 5 * 1024**3
"""S3's limit for one PUT (https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html)."""
PUT_TIMEOUT_SECONDS = 120
_BINARY = "application/octet-stream"
"""Asked for (and so signed) explicitly: urllib would otherwise send a form content type."""
_S3_ERROR_CODE = re.compile(rb"<Code>([A-Za-z0-9.]{1,64})</Code>")


class _CountingReader:
    """A file's ``read`` that reports each chunk to the progress bar (http.client reads in blocks)."""

    def __init__(self, handle: BinaryIO, bar: ProgressBar) -> None:
        self._handle, self._bar = handle, bar

    def read(self, size: int = -1) -> bytes:
        """The next chunk of the file, counted."""
        chunk = self._handle.read(size)
        self._bar(len(chunk))
        return chunk


def sha256_hex(path: Path) -> str:
    """The file's SHA-256, read in blocks (memory stays flat whatever the size)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_sizes(paths: list[Path]) -> None:
    """Refuse, before hashing anything, a file that no single presigned PUT can carry."""
    for path in paths:
        if path.stat().st_size > SINGLE_PUT_MAX_BYTES:
            raise ApiError(
                0,
                "payload_too_large",
                f"{path} is over the 5 GiB limit of an upload through the API (one presigned PUT): "
                "pass --bucket or --stack-name to upload it directly to S3 (multipart)",
            )


def upload_presigned(paths: list[Path], client: ApiClient, *, progress: bool) -> list[Uploaded]:
    """For each file: hash it, ask the API for a presigned PUT, send the file, derive its scan id."""
    check_sizes(paths)
    results = []
    for path in paths:
        size = path.stat().st_size
        request = {"filename": path.name, "size": size, "sha256": sha256_hex(path), "content_type": _BINARY}
        ticket = client.post("/uploads", request)
        if urllib.parse.urlsplit(str(ticket.get("url", ""))).scheme not in {"http", "https"}:
            raise ApiError(0, "bad_link", "the API returned a non-HTTP upload link")
        bar = ProgressBar(path.name, size, sys.stderr, enabled=progress)
        version, etag = _put(ticket["url"], path, size, dict(ticket["headers"]), bar)
        bar.finish()
        bucket, key = str(ticket["bucket"]), str(ticket["key"])
        scan_id = derive_scan_id(bucket, key, version_id=version) if version else None
        results.append(Uploaded(str(path), bucket, key, version, etag, scan_id, size))
    return results


def _put(
    url: str, path: Path, size: int, headers: dict[str, str], bar: ProgressBar
) -> tuple[str | None, str | None]:
    """PUT the file with exactly the signed headers; the version id and ETag S3 answered."""
    headers = {**headers, "content-length": str(size), "user-agent": USER_AGENT}
    with path.open("rb") as handle:
        request = urllib.request.Request(  # noqa: S310 - http(s) checked by the caller
            url, data=_CountingReader(handle, bar), method="PUT", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=PUT_TIMEOUT_SECONDS) as response:  # noqa: S310
                return response.headers.get("x-amz-version-id"), _etag(response.headers.get("etag"))
        except urllib.error.HTTPError as error:
            found = _S3_ERROR_CODE.search(error.read(4096))
            code = found.group(1).decode() if found else "http_error"
            raise ApiError(error.code, code, f"S3 refused the upload of {path.name}") from None
        except urllib.error.URLError as error:
            raise ApiError(0, "unreachable", f"cannot reach the upload URL: {error.reason}") from None


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else None
