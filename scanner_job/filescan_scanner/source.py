"""What the scanner knows about its S3 source: the display name, ``HeadObject`` and error classes.

The key is never used as a local path (``display_name`` is for reports and extension checks only), so
``../../etc/passwd``, unicode or 1,000-character keys cannot escape or break the work dir. Errors are
split into *unscannable* (missing object/version/bucket, access denied, archived storage class:
retrying cannot help) and *transient* (everything else: throttling, 5xx, network, a concurrent
overwrite answered with 412 ``PreconditionFailed``). ``remote.py`` reads the object itself.
"""

from __future__ import annotations

from pathlib import PurePosixPath
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


def display_name(key: str) -> str:
    """The last path segment of a key: used for extension checks and reports, never as a path."""
    return PurePosixPath(key).name or key


def classify(exc: Exception, what: str) -> SourceError:
    """The ``SourceError`` for a botocore error: unscannable when retrying cannot help."""
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


def head_object(s3: Any, bucket: str, key: str, version_id: str | None) -> dict[str, Any]:
    """``HeadObject`` (at ``version_id`` when given); ``SourceError`` classified as for any read."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    args: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        args["VersionId"] = version_id
    try:
        head: dict[str, Any] = s3.head_object(**args)
    except (ClientError, BotoCoreError) as exc:
        raise classify(exc, "HeadObject") from exc
    if head.get("DeleteMarker"):
        raise SourceError("HeadObject: the version is a delete marker", unscannable=True)
    return head
