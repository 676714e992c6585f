"""Deterministic identifiers: the same object version always maps to the same scan."""

import hashlib

SCAN_ID_HEX_CHARS = 32
"""128 bits of SHA-256: collision-free in practice, short enough for Batch job names (<= 128 chars)."""


def object_ref(bucket: str, key: str, version_id: str | None) -> str:
    """A stable string naming one object version (the ``ByObject`` index key).

    Fields are joined with NUL, which S3 bucket names cannot contain, so no two distinct triples collide.
    """
    return "\x00".join((bucket, key, version_id or ""))


def derive_scan_id(
    bucket: str,
    key: str,
    *,
    version_id: str | None,
    etag: str | None = None,
    sequencer: str | None = None,
    rescan_nonce: str | None = None,
) -> str:
    """The scan id of one upload.

    Versioned buckets: (bucket, key, version id). Unversioned: (bucket, key, etag, sequencer), because the
    same key can be overwritten. ``rescan_nonce`` makes a deliberate re-scan of the same version distinct.
    """
    parts: tuple[str, ...]
    if version_id:
        parts = ("v1", bucket, key, version_id)
    else:
        parts = ("u1", bucket, key, (etag or "").strip('"'), sequencer or "")
    if rescan_nonce:
        parts = (*parts, "rescan", rescan_nonce)
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return digest[:SCAN_ID_HEX_CHARS]


def batch_job_name(scan_id: str) -> str:
    """The Batch ``jobName`` for a scan: it carries the scan id, so job events map back to the scan."""
    return f"filescan-{scan_id}"


def scan_id_from_job_name(job_name: str) -> str | None:
    """The scan id carried by a job name, or ``None`` when the job is not one of ours."""
    prefix = "filescan-"
    if not job_name.startswith(prefix):
        return None
    candidate = job_name[len(prefix) :]
    if len(candidate) != SCAN_ID_HEX_CHARS or any(c not in "0123456789abcdef" for c in candidate):
        return None
    return candidate
