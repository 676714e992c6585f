"""``filescan upload``: multipart uploads with SHA-256 checksums, and the scan id each one gets."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

from filescan_cli.progress import ProgressBar
from filescan_shared.ids import derive_scan_id


@dataclasses.dataclass(frozen=True)
class Uploaded:
    """One uploaded file and the scan it will get."""

    path: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    scan_id: str | None
    size: int


class _VersionCatcher:
    """Remembers the VersionId/ETag of the last PutObject or CompleteMultipartUpload answer.

    The transfer manager does not return them, and the read gate forbids a HeadObject afterwards.
    """

    def __init__(self) -> None:
        self.version_id: str | None = None
        self.etag: str | None = None

    def __call__(self, parsed: dict[str, Any] | None = None, **_: Any) -> None:
        if parsed and "ETag" in parsed:
            self.version_id = parsed.get("VersionId") or None
            self.etag = str(parsed["ETag"]).strip('"')


def object_key(prefix: str, path: Path) -> str:
    """``prefix`` + the file's name (a ``/`` is added between when missing)."""
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"{prefix}{path.name}"


def upload_files(paths: list[Path], *, bucket: str, prefix: str, progress: bool) -> list[Uploaded]:
    """Upload each file (multipart when large, SHA-256 checksums) and derive its scan id."""
    import boto3  # noqa: PLC0415 - keeps `filescan --help` fast
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415

    client = boto3.session.Session().client("s3")
    catcher = _VersionCatcher()
    for operation in ("PutObject", "CompleteMultipartUpload"):
        client.meta.events.register(f"after-call.s3.{operation}", catcher)
    config = TransferConfig(multipart_threshold=16 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)
    results = []
    for path in paths:
        size = path.stat().st_size
        key = object_key(prefix, path)
        bar = ProgressBar(path.name, size, sys.stderr, enabled=progress)
        catcher.version_id = catcher.etag = None
        client.upload_file(
            str(path), bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Callback=bar, Config=config
        )
        bar.finish()
        version = catcher.version_id
        scan_id = derive_scan_id(bucket, key, version_id=version) if version else None
        results.append(Uploaded(str(path), bucket, key, version, catcher.etag, scan_id, size))
    return results
