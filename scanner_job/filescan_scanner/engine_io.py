"""``filescan-engine-io``: the helper containers of an engine's Batch job (docs/engines.md).

An engine other than filescan runs as one Batch job with several containers sharing ``/filescan``:

- ``fetch`` copies the exact object version to ``--dest`` (boto3's transfer manager: ranged, parallel
  GETs, so a 2 GB object is not one long request), or ``prepare`` only creates the directories when
  the engine reads S3 itself;
- the engine's own image runs its command and writes ``/filescan/output/result``;
- ``collect`` reads the engine container's exit code from the ECS task metadata endpoint v4, uploads
  the output (bounded: at most ``--max-output-bytes``, truncation recorded) and the result envelope
  to ``s3://$REPORTS_BUCKET/$REPORTS_PREFIX<scan_id>/engines/<engine>/``, then exits as the engine's
  exit code means: 0 ok, 65 unscannable (Batch does not retry), 1 anything else (Batch retries).

The task metadata endpoint (``$ECS_CONTAINER_METADATA_URI_V4/task``) lists every container of the
task with ``Name``, ``KnownStatus``, ``ExitCode`` (omitted until the container exited),
``StartedAt`` and ``FinishedAt``:
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v4-fargate-response.html
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from filescan_scanner import logs
from filescan_scanner.source import classify
from filescan_shared.exit_codes import ExitCode
from filescan_shared.ids import ENGINE_NAME_PATTERN, is_scan_id

log = logging.getLogger("filescan.engine_io")

ENGINE_CONTAINER = "engine"
FIRST_CONTAINERS = ("fetch", "prepare")
"""The container that runs before the engine (``fetch`` for ``input: path``, ``prepare`` for s3)."""
_NOT_RUN = -1
METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"
METADATA_ATTEMPTS = 5
PART_BYTES = 8 * 1024**2
CONCURRENCY = 6


class UsageError(Exception):
    """Bad arguments or environment: exit 2, not retried."""


# ------------------------------------------------------------------------------------------------
# fetch / prepare
# ------------------------------------------------------------------------------------------------
def prepare(root: Path) -> None:
    """Create ``<root>/input`` and ``<root>/output``; the output directory is writable by any user.

    The engine image may run as another (non-root) user than these helpers, so the output directory
    is world-writable with the sticky bit, like ``/tmp``.
    """
    (root / "input").mkdir(parents=True, exist_ok=True)
    output = root / "output"
    output.mkdir(parents=True, exist_ok=True)
    output.chmod(0o1777)


def fetch(s3: Any, *, bucket: str, key: str, version_id: str | None, dest: Path) -> ExitCode:
    """Download the exact version of ``s3://bucket/key`` to ``dest`` (readable by the engine's user).

    A missing object or version, or access denied, is unscannable (65, as ``filescan-scan``); any other
    failure is transient (1).
    """
    from boto3.s3.transfer import TransferConfig  # noqa: PLC0415 - boto3 is only needed here
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    prepare(dest.parent.parent)
    extra = {"VersionId": version_id} if version_id else None
    config = TransferConfig(multipart_chunksize=PART_BYTES, max_concurrency=CONCURRENCY)
    try:
        s3.download_file(bucket, key, str(dest), ExtraArgs=extra, Config=config)
    except (ClientError, BotoCoreError) as exc:
        error = classify(exc, "download")
        log.error("fetch failed", extra={"reason": error.reason, "unscannable": error.unscannable})
        return ExitCode.UNSCANNABLE if error.unscannable else ExitCode.TRANSIENT
    dest.chmod(0o644)
    log.info("fetched", extra={"bytes": dest.stat().st_size})
    return ExitCode.SCANNED


# ------------------------------------------------------------------------------------------------
# collect
# ------------------------------------------------------------------------------------------------
def task_containers(
    metadata_uri: str, *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, dict[str, Any]]:
    """The task's containers by name, from ``<metadata_uri>/task`` (retried: the agent may be slow)."""
    if not metadata_uri.startswith(("http://", "https://")):
        raise UsageError(f"{METADATA_ENV} is not an HTTP URL: {metadata_uri!r}")
    last: Exception | None = None
    for attempt in range(METADATA_ATTEMPTS):
        try:
            with urllib.request.urlopen(f"{metadata_uri}/task", timeout=5) as response:  # noqa: S310 - http(s) only
                document = json.loads(response.read(4 * 1024**2))
            return {str(c.get("Name")): c for c in document.get("Containers", []) if isinstance(c, dict)}
        except (OSError, ValueError, urllib.error.URLError) as exc:
            last = exc
            sleep(0.5 * 2**attempt)
    raise RuntimeError(f"task metadata endpoint unavailable: {last}")


def read_bounded(path: Path, limit: int) -> tuple[bytes | None, bool]:
    """At most ``limit`` bytes of ``path`` and whether it was longer; ``None`` when there is no file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None, False
    return data[:limit], len(data) > limit


def outcome(
    exit_code: int | None, *, ok: set[int], unscannable: set[int], fetch_code: int | None
) -> ExitCode:
    """The exit code collect ends with: what Batch's retry strategy acts on.

    The engine starts once the fetch *completed* (the job definition's ``COMPLETE`` dependency, so
    that this container always runs), so a failed fetch decides the outcome whatever the engine did
    with the missing file: 65 when the object is gone, else a transient failure. ``fetch_code`` is
    ``None`` when the job has no helper before the engine.
    """
    if fetch_code is not None and fetch_code != ExitCode.SCANNED:
        return ExitCode.UNSCANNABLE if fetch_code == ExitCode.UNSCANNABLE else ExitCode.TRANSIENT
    if exit_code is None:
        return ExitCode.TRANSIENT  # the engine never ran or never stopped: the task is broken
    if exit_code in ok:
        return ExitCode.SCANNED
    if exit_code in unscannable:
        return ExitCode.UNSCANNABLE
    return ExitCode.TRANSIENT


def collect(
    s3: Any,
    *,
    engine: str,
    scan_id: str,
    output: Path,
    ok: set[int],
    unscannable: set[int],
    max_output_bytes: int,
    containers: dict[str, dict[str, Any]],
    bucket: str,
    prefix: str,
) -> ExitCode:
    """Store the engine's output and result envelope; return the exit code Batch should see."""
    container = containers.get(ENGINE_CONTAINER, {})
    raw_code = container.get("ExitCode")
    exit_code = int(raw_code) if isinstance(raw_code, int) else None
    first = next((containers[name] for name in FIRST_CONTAINERS if name in containers), None)
    fetch_code = None
    if first is not None:
        fetch_raw = first.get("ExitCode")
        fetch_code = int(fetch_raw) if isinstance(fetch_raw, int) else _NOT_RUN
    base = f"{prefix}{scan_id}/engines/{engine}/"
    data, truncated = read_bounded(output, max_output_bytes)
    output_key = None
    if data is not None:
        output_key = base + "output"
        s3.put_object(Bucket=bucket, Key=output_key, Body=data, ContentType="application/octet-stream")
    envelope = {
        "engine": engine,
        "scan_id": scan_id,
        "exit_code": exit_code,
        "output_key": output_key,
        "output_bytes": len(data) if data is not None else 0,
        "output_truncated": truncated,
        "started_at": container.get("StartedAt"),
        "finished_at": container.get("FinishedAt"),
    }
    s3.put_object(
        Bucket=bucket,
        Key=base + "result.json",
        Body=json.dumps(envelope, sort_keys=True).encode(),
        ContentType="application/json",
    )
    result = outcome(exit_code, ok=ok, unscannable=unscannable, fetch_code=fetch_code)
    log.info("collected", extra={**envelope, "exit": int(result)})
    return result


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------
def _codes(text: str) -> set[int]:
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of exit codes: {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """``fetch``, ``prepare`` and ``collect`` subcommands."""
    parser = argparse.ArgumentParser(prog="filescan-engine-io", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fetch_ = commands.add_parser("fetch", help="download the object version to --dest")
    fetch_.add_argument("--bucket", required=True)
    fetch_.add_argument("--key", required=True)
    fetch_.add_argument("--version-id", default="", help='"" means the latest version')
    fetch_.add_argument("--dest", type=Path, required=True)
    prepare_ = commands.add_parser("prepare", help="create the input/output directories under --dir")
    prepare_.add_argument("--dir", type=Path, required=True)
    collect_ = commands.add_parser("collect", help="store the engine's output and result; exit by its code")
    collect_.add_argument("--engine", required=True)
    collect_.add_argument("--scan-id", required=True)
    collect_.add_argument("--output", type=Path, required=True)
    collect_.add_argument("--ok", type=_codes, default={0})
    collect_.add_argument("--unscannable", type=_codes, default=set())
    collect_.add_argument("--max-output-bytes", type=int, default=8 * 1024**2)
    return parser


def _s3() -> Any:
    import boto3  # noqa: PLC0415 - prepare needs no AWS client

    return boto3.client("s3")


def run(args: argparse.Namespace, s3_factory: Callable[[], Any] = _s3) -> ExitCode:
    """Run the parsed subcommand."""
    if args.command == "prepare":
        prepare(args.dir)
        return ExitCode.SCANNED
    if args.command == "fetch":
        return fetch(
            s3_factory(), bucket=args.bucket, key=args.key, version_id=args.version_id or None, dest=args.dest
        )
    if not re.fullmatch(ENGINE_NAME_PATTERN, args.engine) or not is_scan_id(args.scan_id):
        raise UsageError(f"bad engine name or scan id: {args.engine!r} {args.scan_id!r}")
    bucket = os.environ.get("REPORTS_BUCKET", "")
    metadata_uri = os.environ.get(METADATA_ENV, "")
    if not bucket or not metadata_uri:
        raise UsageError(f"REPORTS_BUCKET and {METADATA_ENV} must be set")
    return collect(
        s3_factory(),
        engine=args.engine,
        scan_id=args.scan_id,
        output=args.output,
        ok=args.ok,
        unscannable=args.unscannable,
        max_output_bytes=max(0, args.max_output_bytes),
        containers=task_containers(metadata_uri),
        bucket=bucket,
        prefix=os.environ.get("REPORTS_PREFIX", "reports/"),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``filescan-engine-io``."""
    logs.configure()
    try:
        args = build_parser().parse_args(argv)
        return int(run(args))
    except UsageError as error:
        log.error("usage error", extra={"reason": str(error)})
        return int(ExitCode.USAGE_ERROR)
    except Exception:
        log.exception("engine io failed")
        return int(ExitCode.TRANSIENT)


if __name__ == "__main__":
    sys.exit(main())
