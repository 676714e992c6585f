"""Read an S3 object in place with ranged GETs: in order for the streaming pass, on demand for seeks.

No local copy: the streaming pass gets the object as a sequence of parts fetched by parallel ranged
GETs, and analyzers that need random access (a zip's central directory, a PDF's trailer) read ranges
through a seekable file object. Every GET is pinned to what ``HeadObject`` saw: the version id when the
bucket is versioned, and the ETag as ``IfMatch`` always, so an overwrite during the scan fails with
412 ``PreconditionFailed`` (transient: the retry scans the new object) instead of mixing two objects.

Why not the transfer manager's ``download_fileobj``: it hands its single writer thread pieces of
``io_chunksize`` (256 KiB), so every byte would be copied again under the GIL to rebuild the
analyzers' chunks (YARA-X only takes ``bytes``), and its errors only surface through the transfer
future after the writer returned. A window of whole-part GETs gives each part as the one ``bytes``
object the response read produced, with exactly ``window`` parts alive at once.

S3 guidance: byte-range requests of 8 or 16 MB on concurrent connections
(https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/use-byte-range-fetches.html).
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from filescan_scanner.source import SourceError, classify, head_object

PART_RETRIES = 3
"""Attempts per part when the body breaks off mid-read (botocore retries the request, not the body)."""
BLOCK_BYTES = 256 * 1024
"""Smallest ranged read of the seekable reader; sequential reads double it up to the part size."""
CACHED_BLOCKS = 4
"""Blocks the seekable reader keeps (a zip walk goes back and forth between a few places)."""


@dataclasses.dataclass(frozen=True)
class RemoteObject:
    """One S3 object version, read by ranged GETs pinned to its version id and ETag."""

    s3: Any
    bucket: str
    key: str
    size: int
    version_id: str | None
    etag: str | None
    part_bytes: int = 8 * 1024**2
    window: int = 6
    """Parts in flight or waiting for the reader: the read-ahead, and the memory, of ``parts``."""
    _whole: list[bytes] = dataclasses.field(default_factory=list, repr=False, compare=False)
    """An object of at most one part, once fetched: every analyzer's reads are served from it."""

    @classmethod
    def open_version(
        cls,
        s3: Any,
        bucket: str,
        key: str,
        version_id: str | None,
        *,
        part_bytes: int = 8 * 1024**2,
        window: int = 6,
    ) -> RemoteObject:
        """``HeadObject`` the object (``SourceError`` when it is missing or forbidden) and pin it."""
        head = head_object(s3, bucket, key, version_id)
        resolved = head.get("VersionId") or version_id or None
        return cls(
            s3,
            bucket,
            key,
            int(head.get("ContentLength", 0)),
            None if resolved == "null" else resolved,
            head.get("ETag"),
            part_bytes,
            max(1, window),
        )

    def get_range(self, start: int, length: int) -> bytes:
        """Bytes ``[start, start + length)`` (clipped to the object), retried if the body breaks off.

        An object no larger than one part is fetched once, whole, and kept: the streaming pass and
        each analyzer's seekable reader would otherwise send a GET each (seven for a 9-byte file),
        a request charge and ~10-20 ms apiece on the small-file fast path.
        """
        if self.size > self.part_bytes:
            return self._fetch(start, length)
        if not self._whole:
            self._whole.append(self._fetch(0, self.size))
        return self._whole[0][start : start + max(0, length)]

    def _fetch(self, start: int, length: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
        from s3transfer.utils import S3_RETRYABLE_DOWNLOAD_ERRORS  # noqa: PLC0415

        end = min(self.size, start + length) - 1
        if end < start:
            return b""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key, "Range": f"bytes={start}-{end}"}
        if self.version_id:
            args["VersionId"] = self.version_id
        if self.etag:
            args["IfMatch"] = self.etag
        for attempt in range(1, PART_RETRIES + 1):
            try:
                data: bytes = self.s3.get_object(**args)["Body"].read()
            except S3_RETRYABLE_DOWNLOAD_ERRORS as exc:
                if attempt == PART_RETRIES:
                    raise SourceError(f"GetObject: {type(exc).__name__}: {exc}", unscannable=False) from exc
                continue
            except (ClientError, BotoCoreError) as exc:
                raise classify(exc, "GetObject") from exc
            if len(data) != end - start + 1:
                raise SourceError(f"GetObject: got {len(data)} bytes for {args['Range']}", unscannable=False)
            return data
        raise AssertionError("unreachable")  # pragma: no cover

    def parts(self) -> Iterator[bytes]:
        """The whole object in order, ``part_bytes`` at a time, ``window`` ranged GETs ahead."""
        offsets = iter(range(0, self.size, self.part_bytes))
        with ThreadPoolExecutor(self.window, thread_name_prefix="ranged-get") as pool:
            pending: collections.deque[Future[bytes]] = collections.deque()
            try:
                for start in offsets:
                    pending.append(pool.submit(self.get_range, start, self.part_bytes))
                    if len(pending) >= self.window:
                        break
                while pending:
                    part = pending.popleft().result()
                    following = next(offsets, None)
                    if following is not None:
                        pending.append(pool.submit(self.get_range, following, self.part_bytes))
                    yield part
                    del part
            finally:
                for future in pending:
                    future.cancel()

    def open(self) -> RangedReader:
        """A seekable, read-only file object over the object (ranged GETs on demand)."""
        return RangedReader(self)

    def copy_to(self, directory: Path) -> Path:
        """Spill the object to a fresh file in ``directory`` (a random name, never the key)."""
        fd, name = tempfile.mkstemp(prefix="object-", suffix=".bin", dir=directory)
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in self.parts():
                    out.write(part)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path


class RangedReader(io.RawIOBase):
    """A seekable binary reader over a ``RemoteObject``; small reads are served from a few cached blocks.

    Each miss fetches one block at the position; a read that continues where the last one ended
    doubles the block (up to the part size), so a sequential walk (tar, a PDF's raw bytes) costs one
    GET per part, while seeks (a zip's members) fetch small blocks. Memory: ``CACHED_BLOCKS`` blocks.
    """

    def __init__(self, remote: RemoteObject) -> None:
        super().__init__()
        self._remote = remote
        self._pos = 0
        self._blocks: collections.OrderedDict[int, bytes] = collections.OrderedDict()
        self._next_end = -1
        self._block = BLOCK_BYTES

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (as ``io`` files do; past the end reads return nothing)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._remote.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current position; 0 at the end of the object."""
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._remote.size:
            start, data = self._block_at(self._pos)
            piece = data[self._pos - start : self._pos - start + len(view) - done]
            view[done : done + len(piece)] = piece
            done += len(piece)
            self._pos += len(piece)
        return done

    def _block_at(self, pos: int) -> tuple[int, bytes]:
        for start, data in self._blocks.items():
            if start <= pos < start + len(data):
                self._blocks.move_to_end(start)
                return start, data
        sequential = pos == self._next_end
        self._block = min(self._block * 2, self._remote.part_bytes) if sequential else BLOCK_BYTES
        data = self._remote.get_range(pos, self._block)
        self._next_end = pos + len(data)
        self._blocks[pos] = data
        while len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return pos, data
