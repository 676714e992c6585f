"""``filescan-scan``: scan one file (local path or S3 object) and write its JSON report."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from filescan_scanner import logs
from filescan_scanner.analyzers.yara_rules import RulesError, RuleSet, load_rules
from filescan_scanner.engine import ScanEngine, ScanOutcome
from filescan_scanner.manifest import ManifestError, read_entry
from filescan_scanner.remote import RemoteObject
from filescan_scanner.report import build_report, utc_now
from filescan_scanner.settings import ConfigurationError, ScannerSettings
from filescan_scanner.source import SourceError, display_name
from filescan_scanner.text import safe_excerpt
from filescan_shared.exit_codes import ExitCode

log = logging.getLogger("filescan.scanner")

EPILOG = f"""\
exit codes:
  {ExitCode.SCANNED}   scanned: the report holds the verdict, whatever it is
  {ExitCode.USAGE_ERROR}   usage error (bad arguments, malformed manifest): not retried
  {ExitCode.UNSCANNABLE}  unscannable input (missing object/version, access denied, unreadable file);
      a report with the reason is still written when possible: not retried
  {ExitCode.CONFIG_ERROR}  scanner configuration error (extra rules do not compile, a malformed FILESCAN_* variable)
  other transient failure (throttling, network, 5xx, out of memory...): retried by Batch

environment:
  REPORTS_BUCKET, REPORTS_PREFIX (default "reports/"): where S3-mode reports go
      (s3://$REPORTS_BUCKET/$REPORTS_PREFIX<scan_id>.json)
  FILESCAN_WORK_DIR: scratch directory; EXTRA_RULES_DIR / EXTRA_RULES_S3_URI: extra *.yar rules
  FILESCAN_RULES_CACHE_DIR: compiled-rules cache (default ~/.cache/filescan/rules; empty: off)
  FILESCAN_CHUNK_BYTES, FILESCAN_MAX_DEPTH, FILESCAN_MAX_MEMBERS, ...: scan limits
  FILESCAN_STREAM_LANES: worker threads of the streaming pass (default: one per CPU, at least 2)
  FILESCAN_DOWNLOAD_PART_BYTES (8 MiB), FILESCAN_DOWNLOAD_CONCURRENCY (6): S3 mode reads the object
      in place with ranged GETs of this size, this many ahead (no local copy)
  AWS_BATCH_JOB_ARRAY_INDEX: the manifest line to scan in bulk mode (default 0)
"""  # noqa: E501 - help text: one line per exit code


class UsageError(Exception):
    """Bad command-line arguments."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (``--help`` documents every option and the exit codes)."""
    parser = argparse.ArgumentParser(
        prog="filescan-scan",
        description="Scan one file (a local path or an S3 object) and write a JSON report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", nargs="?", type=Path, help="local file to scan (local mode)")
    parser.add_argument("--bucket", help="S3 bucket of the object to scan (S3 mode)")
    parser.add_argument("--key", help="S3 key of the object to scan (S3 mode)")
    parser.add_argument(
        "--version-id", default=None, help='S3 version id; "" or absent means the latest version'
    )
    parser.add_argument("--scan-id", help="scan id: names the report (required in S3 mode)")
    parser.add_argument(
        "--manifest",
        help="bulk mode: JSON-lines manifest (local path or s3://bucket/key) of "
        '{"bucket","key","version_id"?,"scan_id"}; scans line $AWS_BATCH_JOB_ARRAY_INDEX',
    )
    parser.add_argument(
        "--report",
        help='where to write the report: a local path, "-" for stdout, or s3://bucket/key '
        "(default in S3 mode: s3://$REPORTS_BUCKET/$REPORTS_PREFIX<scan_id>.json)",
    )
    parser.add_argument(
        "--log-level", default=os.environ.get("LOG_LEVEL", "INFO"), help="log level (default INFO)"
    )
    return parser


def _warm_up() -> threading.Thread:
    """Import what only the end of a scan needs on a side thread, while the file is being scanned.

    pydantic and the report model's validators (~100 ms of CPU), ``importlib.metadata`` for the
    engine versions and ``ssl`` for OpenSSL's: done serially they would delay the first byte read (or
    the report); during the streaming pass they only borrow a little of the cores. A failure here is
    ignored: the same calls are made again where they are needed and raise there.
    """

    def warm() -> None:
        try:
            from filescan_scanner.analyzers.hashes import openssl_version  # noqa: PLC0415
            from filescan_scanner.analyzers.yara_rules import yara_x_version  # noqa: PLC0415
            from filescan_scanner.report import scanner_version  # noqa: PLC0415
            from filescan_shared.report.validate import prepare  # noqa: PLC0415

            prepare()
            openssl_version()
            yara_x_version()
            scanner_version()
        except Exception:  # noqa: S110 - repeated, and reported, where it is needed
            pass

    thread = threading.Thread(target=warm, name="warm-up", daemon=True)
    thread.start()
    return thread


def _keep_chunk_memory() -> None:
    """Let glibc reuse the streaming pass's freed chunk buffers instead of returning them to the OS.

    By default glibc trims the heap (and may ``mmap`` each 16 MiB chunk) so every chunk read lands in
    fresh pages the kernel must fault in and zero: ~0.05 s of CPU per GiB. A fixed mmap threshold of
    32 MiB and a large trim threshold keep the few chunk-sized blocks in the heap and recycle them; the
    peak resident size is unchanged (the same chunks are alive at once). Two arenas at most: in S3 mode
    each ranged-GET thread would otherwise allocate its parts in an arena of its own and every arena
    keeps its high-water mark (measured on a 256 MiB object, 8 parts in flight: 187 MiB peak RSS with
    the default arenas, 147 MiB with two). glibc only; a no-op elsewhere.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes  # noqa: PLC0415

        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
        libc.mallopt(m_mmap_threshold, 32 * 1024**2)
        libc.mallopt(m_trim_threshold, 512 * 1024**2)
        libc.mallopt(m_arena_max, 2)
    except (OSError, AttributeError):
        pass


def _s3() -> Any:
    import boto3  # noqa: PLC0415 - local mode does not need boto3 at all

    return boto3.client("s3")


def _write_report(report: dict[str, Any], destination: str, s3: Any | None) -> None:
    body = json.dumps(report, indent=None, separators=(",", ":"), sort_keys=False).encode()
    if destination == "-":
        sys.stdout.write(body.decode() + "\n")
        sys.stdout.flush()
    elif destination.startswith("s3://"):
        parsed = urlparse(destination)
        client = s3 or _s3()
        client.put_object(
            Bucket=parsed.netloc, Key=parsed.path.lstrip("/"), Body=body, ContentType="application/json"
        )
    else:
        out = Path(destination)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_bytes(body)
        tmp.replace(out)
    log.info("report written", extra={"destination": destination if destination != "-" else "stdout"})


def _extra_rules(settings: ScannerSettings, work_dir: Path, s3: Any | None) -> Path | None:
    if settings.extra_rules_dir is not None:
        return settings.extra_rules_dir
    if not settings.extra_rules_s3_uri:
        return None
    parsed = urlparse(settings.extra_rules_s3_uri)
    client = s3 or _s3()
    target = work_dir / "extra-rules"
    target.mkdir()
    paginator = client.get_paginator("list_objects_v2")
    count = 0
    for page in paginator.paginate(Bucket=parsed.netloc, Prefix=parsed.path.lstrip("/")):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith(".yar"):
                continue
            suffix = ".head.yar" if key.endswith(".head.yar") else ".yar"
            client.download_file(parsed.netloc, key, str(target / f"rules-{count:05d}{suffix}"))
            count += 1
    return target


@dataclasses.dataclass(frozen=True)
class _Job:
    """What one run scans (a local path, or an S3 object) and where its report goes."""

    scan_id: str | None
    destination: str
    path: Path | None = None
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None


def _job(args: argparse.Namespace, settings: ScannerSettings, s3: Any | None) -> _Job:
    """The job from the arguments, or from the manifest line of this array child."""
    bucket, key, version_id, scan_id = args.bucket, args.key, args.version_id or None, args.scan_id
    if args.manifest:
        index = int(os.environ.get("AWS_BATCH_JOB_ARRAY_INDEX", "0") or "0")
        entry = read_entry(args.manifest, index, s3)
        bucket, key, version_id, scan_id = entry.bucket, entry.key, entry.version_id, entry.scan_id
    destination = args.report
    if bucket is not None and destination is None:
        if not settings.reports_bucket:
            raise UsageError("REPORTS_BUCKET is not set and no --report was given")
        destination = f"s3://{settings.reports_bucket}/{settings.reports_prefix}{scan_id}.json"
    if destination is None:
        raise UsageError("local mode needs --report (a path, or - for stdout)")
    path = None if bucket is not None else args.path
    return _Job(scan_id, destination, path, bucket, key, version_id)


def _identity(job: _Job) -> dict[str, Any]:
    """The report's ``object`` section before the source is opened (S3 fills in version and ETag)."""
    if job.path is not None:
        return {
            "source": "local",
            "path": safe_excerpt(str(job.path), 4200),
            "display_name": safe_excerpt(job.path.name, 1000),
        }
    assert job.key is not None
    return {
        "source": "s3",
        "bucket": job.bucket,
        "key": job.key,  # exactly the S3 key (JSON escapes what needs it): it names the object
        "version_id": job.version_id,
        "etag": None,
        "display_name": safe_excerpt(display_name(job.key), 1000),
    }


def _open_source(
    job: _Job, settings: ScannerSettings, s3: Any | None, identity: dict[str, Any]
) -> tuple[Path | RemoteObject, str]:
    """The file to scan and its display name: a checked local path, or the S3 object pinned in place.

    ``SourceError`` says why not (``unscannable`` when a retry cannot help); ``OSError`` for a local
    file that cannot be opened.
    """
    if job.path is None:
        assert job.bucket is not None and job.key is not None
        remote = RemoteObject.open_version(
            s3,
            job.bucket,
            job.key,
            job.version_id,
            part_bytes=settings.download_part_bytes,
            window=settings.download_concurrency,
        )
        identity["version_id"], identity["etag"] = remote.version_id, remote.etag
        log.info("reading in place", extra={"bytes": remote.size, "parts_in_flight": remote.window})
        return remote, display_name(job.key)
    with job.path.open("rb"):
        pass
    if not job.path.is_file():
        raise SourceError(f"{safe_excerpt(str(job.path), 300)} is not a regular file", unscannable=True)
    return job.path, job.path.name


def _scan(args: argparse.Namespace, settings: ScannerSettings) -> int:
    """Resolve the job, scan it in a fresh work dir, and always remove that dir."""
    s3 = _s3() if args.manifest or args.bucket is not None else None
    job = _job(args, settings, s3)
    logging.getLogger().handlers[0].setFormatter(logs.JsonFormatter({"scan_id": job.scan_id}))
    return _in_work_dir(job, settings, s3)


def _in_work_dir(job: _Job, settings: ScannerSettings, s3: Any | None) -> int:
    settings.work_dir.mkdir(parents=True, exist_ok=True)
    work_dir = Path(tempfile.mkdtemp(prefix="scan-", dir=settings.work_dir))
    try:
        return _run(job, settings, work_dir, s3)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def scan_object(bucket: str, key: str, version_id: str | None, scan_id: str, *, s3: Any) -> int:
    """Scan one S3 object exactly as ``filescan-scan --bucket --key --version-id --scan-id`` does.

    The report goes to the same place (``s3://$REPORTS_BUCKET/$REPORTS_PREFIX<scan_id>.json``); the
    return value is the command's exit code. The Lambda fast path calls this; configuration errors
    raise ``ConfigurationError``, anything unexpected propagates (the caller retries).
    """
    settings = ScannerSettings.from_env()
    if not settings.reports_bucket:
        raise ConfigurationError("REPORTS_BUCKET is not set")
    destination = f"s3://{settings.reports_bucket}/{settings.reports_prefix}{scan_id}.json"
    job = _Job(scan_id, destination, bucket=bucket, key=key, version_id=version_id or None)
    return _in_work_dir(job, settings, s3)


def _run(job: _Job, settings: ScannerSettings, work_dir: Path, s3: Any | None) -> int:
    """Load the rules, open the source, scan, write the report; map failures to exit codes."""
    started = utc_now()
    identity = _identity(job)
    try:
        rules = load_rules(_extra_rules(settings, work_dir, s3), cache_dir=settings.rules_cache_dir)
    except RulesError as exc:
        log.error("rules do not compile", extra={"error": str(exc)})
        return ExitCode.CONFIG_ERROR
    try:
        source, name = _open_source(job, settings, s3, identity)
        outcome = _scan_source(source, name, rules, settings, work_dir)
    except SourceError as exc:
        if not exc.unscannable:
            log.error("transient failure reading the object", extra={"reason": exc.reason})
            return ExitCode.TRANSIENT
        return _unscannable(job, identity, started, rules.version, exc.reason, s3)
    except OSError as exc:
        reason = f"cannot read {safe_excerpt(str(job.path), 300)}: {exc.strerror}"
        return _unscannable(job, identity, started, rules.version, reason, s3)
    report = build_report(
        scan_id=job.scan_id,
        identity=identity,
        outcome=outcome,
        started_at=started,
        rules_version=rules.version,
    )
    _write_report(report, job.destination, s3)
    _log_scanned(report)
    return ExitCode.SCANNED


def _scan_source(
    source: Path | RemoteObject, name: str, rules: RuleSet, settings: ScannerSettings, work_dir: Path
) -> ScanOutcome:
    """Run the engine over ``source`` while the end-of-scan imports warm up on a side thread."""
    engine = ScanEngine(
        rules,
        settings.limits(),
        work_dir,
        overlap=settings.yara_overlap_bytes,
        head_bytes=settings.head_rules_bytes,
        stream_lanes=settings.stream_lanes,
    )
    warming = _warm_up()
    try:
        return engine.scan(source, name)
    finally:
        warming.join()


def _log_scanned(report: dict[str, Any]) -> None:
    log.info(
        "scanned",
        extra={
            "verdict": report["verdict"]["verdict"],
            "severity": report["verdict"]["severity"],
            "findings": report["stats"]["findings_total"],
            "bytes": report["stats"]["bytes"],
            "mib_per_s": report["stats"]["mib_per_s"],
            "peak_rss_bytes": report["stats"]["peak_rss_bytes"],
        },
    )


def _unscannable(  # noqa: PLR0917
    job: _Job,
    identity: dict[str, Any],
    started: Any,
    rules_version: str,
    reason: str,
    s3: Any | None,
) -> int:
    log.warning("unscannable input", extra={"reason": reason})
    report = build_report(
        scan_id=job.scan_id,
        identity=identity,
        outcome=None,
        started_at=started,
        rules_version=rules_version,
        unscannable_reasons=[reason],
    )
    try:
        _write_report(report, job.destination, s3)
    except Exception:
        log.exception("could not write the unscannable report")
    return ExitCode.UNSCANNABLE


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``filescan-scan`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logs.configure(args.log_level.upper())
    modes = sum(
        [args.path is not None, args.bucket is not None or args.key is not None, args.manifest is not None]
    )
    try:
        if modes != 1:
            raise UsageError("give exactly one of: PATH, --bucket/--key, --manifest")
        if (args.bucket is None) != (args.key is None):
            raise UsageError("--bucket and --key go together")
        if args.bucket is not None and not args.scan_id:
            raise UsageError("S3 mode needs --scan-id")
        settings = ScannerSettings.from_env()
        _keep_chunk_memory()
        return _scan(args, settings)
    except ConfigurationError as exc:
        log.error("scanner configuration error", extra={"error": str(exc)})
        sys.stderr.write(f"filescan-scan: {exc}\n")
        return ExitCode.CONFIG_ERROR
    except (UsageError, ManifestError) as exc:
        log.error("usage error", extra={"error": str(exc)})
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"filescan-scan: error: {exc}\n")
        return ExitCode.USAGE_ERROR
    except SourceError as exc:
        if exc.unscannable:
            log.error("manifest unavailable", extra={"reason": exc.reason})
            return ExitCode.USAGE_ERROR
        log.error("transient failure", extra={"reason": exc.reason})
        return ExitCode.TRANSIENT
    except Exception:
        log.exception("scan failed (transient)")
        return ExitCode.TRANSIENT


if __name__ == "__main__":
    sys.exit(main())
