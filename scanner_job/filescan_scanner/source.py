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


IO_CHUNK_BYTES = 256 * 1024
"""Size of the pieces the transfer manager reads from a response and queues for the file writer."""
IO_QUEUE_CHUNKS = 8
"""Pieces waiting for the single writer thread (boto3's default is 100).

Each download thread allocates its pieces in its own glibc arena, and an arena keeps its high-water
mark (``_keep_chunk_memory`` turns trimming off for the streaming pass). With 100 queued pieces of
256 KiB, each of 8 threads' arenas could grow to ~25 MiB: +200 MiB of RSS on a 1 GiB object, and
held through the scan. Eight pieces bound every arena to ~2 MiB; the writer (a ``pwrite`` into the
page cache) drains far faster than the network fills, so throughput does not change.
"""


class _Known:
    """Transfer subscriber: hands the manager the size and ETag our ``HeadObject`` already saw.

    s3transfer calls the ``on_*`` hooks a subscriber has. With both known the manager skips its own
    ``HeadObject`` and sends this ETag as ``IfMatch`` on each GET (boto3's ``download_file`` refuses
    ``IfMatch`` in its extra arguments: a ValueError, which left unversioned buckets unscannable).
    """

    def __init__(self, size: int, etag: str | None) -> None:
        self.size, self.etag = size, etag

    def on_queued(self, future: Any, **_: Any) -> None:
        """Called by the transfer manager before it submits the download."""
        future.meta.provide_transfer_size(self.size)
        future.meta.provide_object_etag(self.etag)


def _download(  # noqa: PLR0917
    s3: Any,
    bucket: str,
    key: str,
    path: Path,
    extra: dict[str, Any],
    known: _Known,
    concurrency: int,
    part_bytes: int,
) -> None:
    """Download with the boto3 transfer manager, its buffers bounded (``IO_QUEUE_CHUNKS``)."""
    from boto3.s3.transfer import TransferConfig, create_transfer_manager  # noqa: PLC0415

    config = TransferConfig(
        multipart_threshold=part_bytes,
        multipart_chunksize=part_bytes,
        max_concurrency=concurrency,
        max_io_queue=IO_QUEUE_CHUNKS,
        io_chunksize=IO_CHUNK_BYTES,
        use_threads=True,
        # The classic manager, whose buffers the settings above bound (not the CRT client's).
        preferred_transfer_client="classic",
    )
    subscribers: list[Any] = [known]  # duck-typed: s3transfer calls the on_* hooks a subscriber has
    with create_transfer_manager(s3, config) as manager:
        manager.download(bucket, key, str(path), extra, subscribers).result()


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

    The download is pinned to what ``HeadObject`` saw: the version id when there is one, and the ETag
    (the transfer manager sends it as ``IfMatch`` on every ranged GET), so a concurrent overwrite
    fails (transient) instead of mixing versions.
    """
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
    fd, name = tempfile.mkstemp(prefix="object-", suffix=".bin", dir=work_dir)
    os.close(fd)
    path = Path(name)
    try:
        _download(s3, bucket, key, path, extra, _Known(size, etag), concurrency, part_bytes)
    except (ClientError, BotoCoreError) as exc:
        path.unlink(missing_ok=True)
        raise _classify(exc, "GetObject") from exc
    got = path.stat().st_size
    if got != size:
        path.unlink(missing_ok=True)
        raise SourceError(f"downloaded {got} bytes, expected {size}", unscannable=False)
    return FetchedObject(path, size, resolved_version, etag, time.perf_counter() - started)
