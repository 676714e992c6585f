"""Deterministic identifiers: the same object version always maps to the same scan."""

import hashlib
import re

ENGINE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
"""Engine names: lower-case letters, digits and hyphens, 2-32 characters (they end up in job names)."""

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
    """The scan id carried by a job name (a scan's or one of its engines'), or ``None`` if not ours."""
    return _split_job_name(job_name)[0]


def engine_from_job_name(job_name: str) -> str | None:
    """The engine a scan job's name names (``filescan`` for the plain name), or ``None`` if not ours."""
    return _split_job_name(job_name)[1]


def _split_job_name(job_name: str) -> tuple[str, str] | tuple[None, None]:
    prefix = batch_job_name("")
    if not job_name.startswith(prefix):
        return None, None
    scan_id = job_name[len(prefix) : len(prefix) + SCAN_ID_HEX_CHARS]
    rest = job_name[len(prefix) + SCAN_ID_HEX_CHARS :]
    if not is_scan_id(scan_id):
        return None, None
    if rest == "":
        return scan_id, "filescan"
    engine = rest[1:]
    if rest.startswith("-") and re.fullmatch(ENGINE_NAME_PATTERN, engine):
        return scan_id, engine
    return None, None


BULK_JOB_PREFIX = "filescan-bulk-"
"""Job-name prefix of bulk-rescan array jobs: ``filescan-bulk-<bulk_id>``."""


def is_scan_id(value: str) -> bool:
    """Whether ``value`` has the shape of a scan id (32 lower-case hex characters)."""
    return len(value) == SCAN_ID_HEX_CHARS and all(c in "0123456789abcdef" for c in value)


def bulk_job_name(bulk_id: str) -> str:
    """The Batch ``jobName`` of a bulk rescan's array job (every child carries the same name)."""
    return f"{BULK_JOB_PREFIX}{bulk_id}"


def bulk_child_scan_id(bulk_id: str, index: int) -> str:
    """The scan id of array child ``index`` of bulk rescan ``bulk_id``: derivable from the job event alone.

    A child job's state-change event carries the parent's job name and its own array index, so the
    status and analysis functions find the child's scan without any lookup.
    """
    if index < 0:
        raise ValueError("array index must not be negative")
    digest = hashlib.sha256(f"bulk1\x00{bulk_id}\x00{index}".encode()).hexdigest()
    return digest[:SCAN_ID_HEX_CHARS]


def bulk_id_from_job_name(job_name: str) -> str | None:
    """The bulk id carried by an array job's name, or ``None`` when it is not a bulk rescan job."""
    if not job_name.startswith(BULK_JOB_PREFIX):
        return None
    candidate = job_name[len(BULK_JOB_PREFIX) :]
    return candidate if is_scan_id(candidate) else None


def engine_job_name(scan_id: str, engine: str) -> str:
    """The Batch ``jobName`` of engine ``engine``'s job for a scan (``filescan-<scan_id>-<engine>``).

    filescan's own engine keeps the plain ``batch_job_name``, so single-engine deployments and jobs
    submitted before engines existed map back exactly as before.
    """
    if engine == "filescan":
        return batch_job_name(scan_id)
    return f"{batch_job_name(scan_id)}-{engine}"
