"""``python -m filescan_local up|demo`` (and ``filescan local ...``): the local stack's commands."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from filescan_local import docker_runner
from filescan_local.batch_service import START_DELAY_VARIABLE, start_delay_from_environment
from filescan_local.demo import demo
from filescan_local.dispatcher import DispatchSettings
from filescan_local.faults import parse_fault_option
from filescan_local.stack import ENGINES_VARIABLE, LocalStack, StackConfig, engines_parameter


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = argparse.ArgumentParser(
        prog="filescan local",
        description="Run the filescan pipeline on 127.0.0.1 (no AWS account, no Docker).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "start everything in the foreground; Ctrl-C stops it"),
        ("demo", "start, scan generated samples, print the results from the API, stop"),
    ):
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("--api-port", type=int, default=3000, help="HTTP API port (default 3000)")
        command.add_argument("--moto-port", type=int, default=0, help="moto port (default: a free one)")
        command.add_argument(
            "--batch-port", type=int, default=0, help="Batch/Lambda endpoint port (default: free)"
        )
        command.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="logs and job output (default $FILESCAN_LOCAL_DATA or temp)",
        )
        command.add_argument(
            "--api-token",
            default=os.environ.get("FILESCAN_LOCAL_API_TOKEN"),
            help="require 'Authorization: Bearer TOKEN' on the API",
        )
        command.add_argument(
            "--parameter",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="template parameter override (repeatable), e.g. SpotMaxvCpus=4",
        )
        command.add_argument(
            "--sweep-seconds",
            type=float,
            default=None,
            help="sweeper interval (default: the template's schedule)",
        )
        command.add_argument(
            "--fault",
            action="append",
            default=[],
            metavar="GLOB=SPEC",
            help="test fault for jobs whose key matches GLOB: crash[:N], exit=CODE[:N], spot[:N]",
        )
        command.add_argument(
            "--docker",
            action=argparse.BooleanOptionalAction,
            default=docker_runner.mode_from_environment(),
            help="run Batch jobs in containers of the scanner image (default: when an engine answers "
            "and holds the image; FILESCAN_LOCAL_DOCKER=1/0 forces it)",
        )
        command.add_argument(
            "--start-delay",
            type=float,
            default=None,
            metavar="SECONDS",
            help="keep every Batch attempt STARTING this long before it runs, like Fargate provisioning "
            f"(~30 s on AWS; default ${START_DELAY_VARIABLE} or 0)",
        )
        command.add_argument(
            "--engines",
            default=None,
            metavar="NAMES",
            help="engines to run on every file, comma-separated catalogue names (the EnabledEngines "
            f"parameter; default ${ENGINES_VARIABLE} or the template's), e.g. filescan,clamav,yara-cli",
        )
        command.add_argument("--log-level", default="INFO" if name == "up" else "WARNING")
    return parser


def config_from_args(args: argparse.Namespace) -> StackConfig:
    """The stack configuration the arguments describe."""
    parameters = {**engines_parameter(args.engines), **dict(item.split("=", 1) for item in args.parameter)}
    return StackConfig(
        parameters=parameters,
        data_dir=args.data_dir,
        moto_port=args.moto_port,
        control_port=args.batch_port,
        api_port=args.api_port,
        api_token=args.api_token,
        dispatch=DispatchSettings(sweep_interval=args.sweep_seconds),
        use_docker=args.docker,
        faults=tuple(parse_fault_option(option) for option in args.fault),
        start_delay=start_delay_from_environment() if args.start_delay is None else args.start_delay,
        log_level=args.log_level.upper(),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``up`` or ``demo``; returns the exit status."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    if args.command == "demo":
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
        return demo(LocalStack(config))
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return _up(LocalStack(config))


def _up(stack: LocalStack) -> int:
    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start()
        assert stack.topology is not None and stack.api is not None
        template = stack.topology.template
        print(
            f"filescan local stack is up (Ctrl-C stops it)\n"
            f"  API         {stack.api.url}\n"
            f"  AWS (moto)  {stack.moto_url}   export AWS_ENDPOINT_URL={stack.moto_url}\n"
            f"  upload to   s3://{stack.topology.bucket('UploadsBucket')}/{template.parameters['ScanPrefix']}\n"
            f"  data dir    {stack.data_dir}",
            flush=True,
        )
        stopped.wait()
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
