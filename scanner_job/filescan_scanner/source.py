"""Fetch the S3 object to scan into the work dir, under a name we choose.

The local name is random (``mkstemp``): the key is never used as a path, so ``../../etc/passwd``,
unicode or 1,000-character keys cannot escape or break the work dir. Errors are split into
*unscannable* (missing object/version/bucket, access denied, archived storage class: retrying cannot
help) and *transient* (everything else: throttling, 5xx, network, a concurrent overwrite).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from pathlib import Path, PurePosixPath
from typing import Any

UNSCANNABLE_CODES = frozenset(
    {
        "404",
        "403",
        "NoSuchKey",
        "NoSuchVersion",
        "NoSuchBucket",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidObjectState",
        "InvalidArgument",
        "InvalidBucketName",
        "MethodNotAllowed",
        "400",
        "405",
    }
)


class SourceError(Exception):
    """The object could not be fetched. ``unscannable`` says whether a retry could help."""

    def __init__(self, reason: str, *, unscannable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unscannable = unscannable


@dataclasses.dataclass(frozen=True)
class FetchedObject:
    """A downloaded object: where it is locally and what S3 said about it."""

    path: Path
    size: int
    version_id: str | None
    etag: str | None
    seconds: float


def display_name(key: str) -> str:
    """The last path segment of a key: used for extension checks and reports, never as a path."""
    return PurePosixPath(key).name or key


def _classify(exc: Exception, what: str) -> SourceError:
    from botocore.exceptions import ClientError  # noqa: PLC0415 - boto is only imported in S3 mode

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        unscannable = code in UNSCANNABLE_CODES or status in {"403", "404"}
        return SourceError(
            f"{what}: {code or status} {error.get('Message', '')}".strip(), unscannable=unscannable
        )
    return SourceError(f"{what}: {type(exc).__name__}: {exc}", unscannable=False)


def fetch_object(
    s3: Any,
    bucket: str,
    key: str,
    version_id: str | None,
    work_dir: Path,
    *,
    concurrency: int = 8,
    part_bytes: int = 16 * 1024**2,
) -> FetchedObject:
    """Download ``s3://bucket/key`` (at ``version_id`` when given) to a fresh file in ``work_dir``.

    The download is pinned to what ``HeadObject`` saw: the version id when there is one, else the
    ETag (``IfMatch``), so a concurrent overwrite fails (transient) instead of mixing versions.
    """
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415 - boto is only imported in S3 mode
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    started = time.perf_counter()
    version = version_id or None
    head_args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version:
        head_args["VersionId"] = version
    try:
        head = s3.head_object(**head_args)
    except (ClientError, BotoCoreError) as exc:
        raise _classify(exc, "HeadObject") from exc
    size = int(head.get("ContentLength", 0))
    if head.get("DeleteMarker"):
        raise SourceError("HeadObject: the version is a delete marker", unscannable=True)
    free = shutil.disk_usage(work_dir).free
    if size > free:
        raise SourceError(
            f"object of {size} bytes does not fit in the work dir ({free} free)", unscannable=True
        )
    resolved_version = head.get("VersionId") or version
    etag = head.get("ETag")
    extra: dict[str, Any] = {}
    if resolved_version and resolved_version != "null":
        extra["VersionId"] = resolved_version
    elif etag:
        extra["IfMatch"] = etag
    fd, name = tempfile.mkstemp(prefix="object-", suffix=".bin", dir=work_dir)
    os.close(fd)
    path = Path(name)
    config = TransferConfig(
        multipart_threshold=part_bytes,
        multipart_chunksize=part_bytes,
        max_concurrency=concurrency,
        use_threads=True,
    )
    try:
        s3.download_file(bucket, key, str(path), ExtraArgs=extra, Config=config)
    except (ClientError, BotoCoreError) as exc:
        path.unlink(missing_ok=True)
        raise _classify(exc, "GetObject") from exc
    got = path.stat().st_size
    if got != size:
        path.unlink(missing_ok=True)
        raise SourceError(f"downloaded {got} bytes, expected {size}", unscannable=False)
    return FetchedObject(path, size, resolved_version, etag, time.perf_counter() - started)
