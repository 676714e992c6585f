"""The ``filescan`` command: upload files, follow scans, list, show, fetch reports and clean files, rescan.

Exit codes: 0 ok, 1 error (API, network, AWS), 2 usage, 3 a scan reached the ``--fail-on`` level.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from filescan_cli import commands
from filescan_cli.client import ApiError
from filescan_cli.output import FAIL_ON_CHOICES, emit_json, printable
from filescan_cli.target import TargetError, UsageError
from filescan_shared.ids import is_scan_id

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_VERDICT = 0, 1, 2, 3


def scan_id(value: str) -> str:
    """Argparse type of SCAN_ID: a malformed id is a usage error (exit 2) with the expected form."""
    if not is_scan_id(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a scan id (32 lower-case hex digits)")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "target (flags, else FILESCAN_API_URL / FILESCAN_BUCKET; upload: with a bucket straight to S3, "
        "else through the API's presigned uploads)"
    )
    group.add_argument("--stack-name", help="read the API URL and bucket from this CloudFormation stack")
    group.add_argument("--api-url", help="the results API base URL")
    group.add_argument("--bucket", help="the uploads bucket")
    group.add_argument("--region", help="AWS region (signing, stack lookup)")
    auth = group.add_mutually_exclusive_group()
    auth.add_argument("--no-sign", action="store_true", help="send unsigned requests (local stack)")
    auth.add_argument("--token", help="JWT bearer token (ApiAuth=JWT; or FILESCAN_TOKEN)")
    parser.add_argument("--json", action="store_true", help="print JSON only on stdout")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="filescan", description="filescan: upload files and read their scans."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    upload = sub.add_parser("upload", help="upload files to be scanned")
    upload.add_argument("paths", nargs="+", metavar="PATH")
    upload.add_argument(
        "--prefix",
        help="key prefix (default: the scan prefix, e.g. uploads/); direct S3 uploads only: "
        "through the API (no bucket) the server chooses the key",
    )
    upload.add_argument("--wait", action="store_true", help="wait for the verdicts")
    upload.add_argument("--fail-on", choices=FAIL_ON_CHOICES, help="exit 3 if a verdict is at least this")
    upload.add_argument("--timeout", type=float, default=3600, help="seconds to wait at most (--wait)")
    upload.add_argument("--quiet", action="store_true", help="no progress bar")

    status = sub.add_parser("status", help="a scan's state (--watch: until it finishes)")
    status.add_argument("scan_id", metavar="SCAN_ID", type=scan_id)
    status.add_argument("--watch", action="store_true", help="print transitions until the scan finishes")
    status.add_argument("--fail-on", choices=FAIL_ON_CHOICES, help="exit 3 if the verdict is at least this")
    status.add_argument("--timeout", type=float, default=3600, help="seconds to watch at most")

    ls = sub.add_parser("ls", help="list scans in one state, newest first")
    ls.add_argument("--status", default="COMPLETE", type=str.upper, help="state (default COMPLETE)")
    ls.add_argument("--limit", type=int, default=25, help="how many (1..1000; pages of 100)")
    ls.add_argument("--since", help="ISO time (default: 7 days ago)")
    ls.add_argument("--until", help="ISO time (default: now)")

    show = sub.add_parser("show", help="verdict, severity, top findings and summary of a scan")
    show.add_argument("scan_id", metavar="SCAN_ID", type=scan_id)
    show.add_argument("--fail-on", choices=FAIL_ON_CHOICES, help="exit 3 if the verdict is at least this")

    report = sub.add_parser("report", help="download a scan's JSON report")
    report.add_argument("scan_id", metavar="SCAN_ID", type=scan_id)
    report.add_argument("-o", "--output", default="-", help="file to write (default '-': stdout)")

    download = sub.add_parser("download", help="download a clean file (the exact version its scan released)")
    download.add_argument("scan_id", metavar="SCAN_ID", type=scan_id)
    download.add_argument("-o", "--output", required=True, help="file to write ('-': stdout)")

    rescan = sub.add_parser("rescan", help="scan one object version again, or everything under a prefix")
    rescan.add_argument("scan_id", nargs="?", metavar="SCAN_ID", type=scan_id)
    rescan.add_argument("--prefix", help="rescan every current object under this prefix (bulk)")
    rescan.add_argument("--idempotency-key", help="repeat-safe key: the same key returns the same rescan")

    for child in (upload, status, ls, show, report, download, rescan):
        _common(child)

    local = sub.add_parser("local", help="the local stack (filescan_local)", add_help=False)
    local.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["local"]:
        return commands.run_local(arguments[1:])
    parser = build_parser()
    args = parser.parse_args(arguments)
    if args.command == "rescan" and bool(args.scan_id) == bool(args.prefix):
        parser.error("rescan takes a SCAN_ID or --prefix (one of them)")
    if args.command == "ls" and not 1 <= args.limit <= 1000:
        parser.error("--limit must be 1..1000")
    try:
        failed = commands.COMMANDS[args.command](args)
    except UsageError as error:
        return _fail(args, error, EXIT_USAGE)
    except (ApiError, TargetError, OSError) as error:
        return _fail(args, error)
    except KeyboardInterrupt:
        return 130
    return EXIT_VERDICT if failed else EXIT_OK


def _fail(args: argparse.Namespace, error: Exception, exit_code: int = EXIT_ERROR) -> int:
    if args.json:
        code = error.code if isinstance(error, ApiError) else type(error).__name__
        status = error.status if isinstance(error, ApiError) else None
        emit_json({"error": {"code": code, "message": str(error), "status": status}})
    print(f"filescan: {printable(str(error))}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
