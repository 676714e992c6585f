"""The subcommands. Each takes the parsed arguments and returns whether ``--fail-on`` was reached."""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filescan_cli import output
from filescan_cli.client import ApiClient, ApiError
from filescan_cli.target import Target, TargetError, TargetMissing, UsageError, resolve

if TYPE_CHECKING:
    from filescan_cli.upload import Uploaded

POLL_FIRST_SECONDS = 1.0
POLL_MAX_SECONDS = 15.0


def _info(args: argparse.Namespace, message: str) -> None:
    """Human-readable output: stdout normally, stderr under ``--json`` (stdout is JSON only)."""
    print(message, file=sys.stderr if args.json else sys.stdout)


def _scan_path(scan_id: str) -> str:
    return f"/scans/{urllib.parse.quote(scan_id, safe='')}"


def watch(
    client: ApiClient, scan_id: str, timeout: float, *, sleep: Callable[[float], None] = time.sleep
) -> Iterator[dict[str, Any]]:
    """Yield the scan each time its state changes, until it is terminal (polling with backoff)."""
    deadline = time.monotonic() + timeout
    delay, last = POLL_FIRST_SECONDS, None
    while True:
        try:
            scan = client.get(_scan_path(scan_id))
        except ApiError as error:
            if error.status != 404 or time.monotonic() > deadline:  # a fresh upload: not recorded yet
                raise
            scan = None
        if scan is not None and scan["status"] != last:
            last = scan["status"]
            yield scan
            delay = POLL_FIRST_SECONDS
        if scan is not None and scan["status"] in output.TERMINAL_STATES:
            return
        if time.monotonic() > deadline:
            raise ApiError(0, "timeout", f"scan {scan_id} did not finish within {timeout:.0f} s")
        sleep(delay)
        delay = min(delay * 1.5, POLL_MAX_SECONDS)


def cmd_upload(args: argparse.Namespace) -> bool:
    """Upload files, print their scan ids; with ``--wait``, wait for the verdicts."""
    target = resolve(args)
    uploaded = _upload(target, [Path(path) for path in args.paths], args)
    results = [dataclasses.asdict(item) for item in uploaded]
    if args.wait:
        client = target.client(args)
        for result in results:
            if result["scan_id"]:
                for scan in watch(client, result["scan_id"], args.timeout):
                    _info(args, f"{result['scan_id']}  {scan['status']}")
                result["scan"] = scan
    if args.json:
        output.emit_json(results)
    else:
        for result in results:
            verdict = (result.get("scan") or {}).get("verdict")
            suffix = f"  {verdict}" if verdict else ""
            location = output.printable(f"s3://{result['bucket']}/{result['key']}")
            print(f"{result['scan_id'] or '-'}  {location}{suffix}")
    return output.fails([result["scan"] for result in results if "scan" in result], args.fail_on)


def _upload(target: Target, paths: list[Path], args: argparse.Namespace) -> list[Uploaded]:
    """Upload ``paths``: straight to S3 when a bucket is configured, else through the API.

    Straight to S3: multipart, the caller's AWS credentials. Through the API: a presigned PUT per file
    from ``POST /uploads`` (``filescan_cli.presigned``), for callers with only the API and its auth.
    """
    if not target.bucket and not target.api_url:
        raise TargetMissing(
            "no target: pass --stack-name, --bucket (direct S3 upload) or --api-url (upload through the "
            "API), or set FILESCAN_BUCKET / FILESCAN_API_URL"
        )
    if not target.bucket and args.prefix is not None:
        raise UsageError(
            "--prefix needs a bucket (direct S3 upload): through the API the server chooses the key "
            "under the scan prefix; pass --bucket or --stack-name to choose it"
        )
    for path in paths:
        if not path.is_file():
            raise TargetError(f"not a file: {path}")
    if not target.bucket:
        from filescan_cli.presigned import upload_presigned  # noqa: PLC0415

        return upload_presigned(paths, target.client(args), progress=not args.quiet)
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from filescan_cli.upload import upload_files  # noqa: PLC0415

    prefix = target.scan_prefix if args.prefix is None else args.prefix
    try:
        return upload_files(paths, bucket=target.bucket, prefix=prefix, progress=not args.quiet)
    except (BotoCoreError, ClientError) as error:
        raise ApiError(0, "upload_failed", f"upload failed: {error}") from None


def cmd_status(args: argparse.Namespace) -> bool:
    """Print a scan's state; with ``--watch``, every transition until it finishes."""
    client = resolve(args).client(args)
    if not args.watch:
        scan = client.get(_scan_path(args.scan_id))
        output.emit_json(scan) if args.json else print(
            f"{scan['scan_id']}  {scan['status']}  {scan.get('verdict') or ''}".rstrip()
        )
        return output.fails([scan], args.fail_on) if scan["status"] in output.TERMINAL_STATES else False
    seen = []
    for scan in watch(client, args.scan_id, args.timeout):
        seen.append(scan)
        if not args.json:
            print(
                f"{time.strftime('%H:%M:%S')}  {scan['status']}  {scan.get('verdict') or ''}".rstrip(),
                flush=True,
            )
    final = seen[-1]
    if args.json:
        output.emit_json({"scan": final, "transitions": [scan["status"] for scan in seen]})
    return output.fails([final], args.fail_on)


def cmd_ls(args: argparse.Namespace) -> bool:
    """A table of scans in one state, newest first."""
    client = resolve(args).client(args)
    items: list[dict[str, Any]] = []
    query: dict[str, str] = {"status": args.status, "limit": str(min(args.limit, 100))}
    if args.since:
        query["since"] = args.since
    if args.until:
        query["until"] = args.until
    while len(items) < args.limit:
        page = client.get("/scans", query)
        items.extend(page["items"])
        if not page.get("next_cursor"):
            break
        query = {
            "status": args.status,
            "limit": str(min(args.limit - len(items), 100)),
            "cursor": page["next_cursor"],
        }
    items = items[: args.limit]
    if args.json:
        output.emit_json(items)
    else:
        rows = [
            (s["scan_id"], s["status"], s.get("verdict"), s.get("severity"), s["updated_at"], s["key"])
            for s in items
        ]
        print(output.table(rows, ("scan", "status", "verdict", "severity", "updated", "key")))
    return False


def cmd_show(args: argparse.Namespace) -> bool:
    """Verdict, severity, top findings and summary of one scan."""
    scan = resolve(args).client(args).get(_scan_path(args.scan_id))
    output.emit_json(scan) if args.json else print(output.describe_scan(scan))
    return output.fails([scan], args.fail_on) if scan["status"] in output.TERMINAL_STATES else False


def _open_link(url: str) -> Any:
    """The response of a presigned GET the API handed out (only http(s) is followed)."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise ApiError(0, "bad_link", "the API returned a non-HTTP link")
    return urllib.request.urlopen(url, timeout=60)  # noqa: S310 - checked above


def cmd_report(args: argparse.Namespace) -> bool:
    """Download the scan's report through its presigned URL."""
    link = resolve(args).client(args).get(_scan_path(args.scan_id) + "/report")
    with _open_link(link["url"]) as response:
        data = response.read()
    if args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return False
    Path(args.output).write_bytes(data)
    if args.json:
        output.emit_json({"scan_id": args.scan_id, "path": args.output, "bytes": len(data)})
    else:
        print(f"wrote {len(data)} bytes to {args.output}")
    return False


def cmd_download(args: argparse.Namespace) -> bool:
    """Download a clean file, the exact version scanned, through the API's presigned link.

    Streamed to ``FILE.part`` and renamed once complete (and of the size the API named), so a
    failed transfer never leaves a truncated ``FILE``.
    """
    link = resolve(args).client(args).get(_scan_path(args.scan_id) + "/download")
    with _open_link(link["url"]) as response:
        if args.output == "-":
            shutil.copyfileobj(response, sys.stdout.buffer)
            sys.stdout.flush()
            return False
        target = Path(args.output)
        partial = target.with_name(target.name + ".part")
        with partial.open("wb") as sink:
            shutil.copyfileobj(response, sink)
    size = partial.stat().st_size
    if link.get("size") is not None and size != link["size"]:
        partial.unlink()
        raise ApiError(0, "short_download", f"got {size} of {link['size']} bytes; nothing written")
    partial.replace(target)
    if args.json:
        fields = {name: link[name] for name in ("scan_id", "key", "version_id")}
        output.emit_json({**fields, "path": args.output, "bytes": size})
    else:
        print(f"wrote {size} bytes of {output.printable(link['key'])} to {output.printable(args.output)}")
    return False


def cmd_rescan(args: argparse.Namespace) -> bool:
    """POST a single rescan or a bulk rescan of a prefix."""
    client = resolve(args).client(args)
    headers = {"idempotency-key": args.idempotency_key} if args.idempotency_key else None
    if args.prefix:
        result = client.post("/rescans", {"prefix": args.prefix}, headers=headers)
        message = f"bulk {result['bulk_id']}: {result['count']} scans, job {result['job_id']}"
    else:
        result = client.post(_scan_path(args.scan_id) + "/rescan", headers=headers)
        message = f"{result['scan_id']}  {result['status']}  (rescan of {result['rescan_of']})"
    output.emit_json(result) if args.json else print(message)
    return False


def run_local(argv: list[str]) -> int:
    """``filescan local ...``: hand over to the local stack's CLI (``filescan_local``)."""
    try:
        from filescan_local.cli import main as local_main  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    except ImportError:
        print("filescan: the local stack (package filescan_local) is not installed here", file=sys.stderr)
        return 1
    return int(local_main(argv) or 0)


COMMANDS: dict[str, Callable[[argparse.Namespace], bool]] = {
    "upload": cmd_upload,
    "status": cmd_status,
    "ls": cmd_ls,
    "show": cmd_show,
    "report": cmd_report,
    "download": cmd_download,
    "rescan": cmd_rescan,
}
