"""``python -m filescan_local.sam_local``: ``sam local invoke`` of every function with its events.

Every function's built artefact runs in the Lambda runtime container with every event file that
belongs to it, against a running local stack; then ``sam local start-api`` serves the API and a
few requests go through it.

The event files in ``events/`` are written for AWS (bucket ``filescan-uploads``, scan id
``0123...``). Here they are replayed against one real upload: the object is put in the stack's
uploads bucket, the stack's own pipeline scans it (in containers when docker mode is on), and
every event is rewritten to that object's bucket, version and scan id. So the enqueue event is a
duplicate of the real delivery, the status and analysis events arrive late and out of order, and
the API events read the real record: the checks are that each invocation answers as the handler
must (no error, the right status codes), and that the scan's record in the table stays where the
pipeline left it (state only moves forward, nothing is lost).

Which function an event belongs to comes from its file name: ``<function prefix>_*.json``.
SAM CLI passes a function only the variables its template declares, with values from the
``--env-vars`` file the stack writes (``sam-env-vars.json`` in its data directory); the template
declares the endpoint variables empty for that reason (botocore ignores an empty endpoint).

Networking: SAM CLI (1.170) runs the function on Docker's default bridge whatever
``--docker-network host`` says (it only ever connects *other* networks) and reaches the runtime
emulator through a published port. A container on the bridge reaches the host at the bridge's
gateway address, where the stack's loopback-only servers do not listen: while it runs, this module
forwards the gateway address's moto and Batch ports to 127.0.0.1 (only containers and the host are
on that interface) and hands the functions those URLs.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from filescan_local.observe import Upload, scan_records, upload, wait_terminal
from filescan_local.stack import CREDENTIALS, LocalStack, StackConfig

ROOT = Path(__file__).resolve().parents[2]
EVENT_FUNCTIONS = {
    "enqueue": "EnqueueFunction",
    "status": "StatusFunction",
    "analysis": "AnalysisFunction",
    "api": "ApiFunction",
    "sweeper": "SweeperFunction",
}
EVENT_SCAN_ID = "0123456789abcdef0123456789abcdef"
EVENT_KEY = "uploads/reports/q3 summary+final.pdf"
EVENT_VERSION = "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
API_STATUS = {"api_rescan.json": 202, "api_bulk_rescan.json": 202}
Check = Callable[[dict[str, Any]], str | None]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bridge_gateway() -> str:
    """The address containers on Docker's default bridge reach the host at.

    The gateway Docker reports, else (the default bridge often reports none) the first host address
    of its subnet, which is where Docker puts the bridge's own address.
    """
    result = subprocess.run(
        ["docker", "network", "inspect", "bridge", "--format", "{{json .IPAM.Config}}"],  # noqa: S607
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(result.stdout)[0]
    return str(config.get("Gateway") or next(ipaddress.ip_network(config["Subnet"]).hosts()))


@contextlib.contextmanager
def forwarded(address: str, ports: list[int]) -> Iterator[None]:
    """Forward ``address:port`` to ``127.0.0.1:port`` for each port while the block runs.

    A few lines of sockets and threads rather than a system package (socat) for one dev command.
    """
    listeners = []
    for port in ports:
        listener = socket.create_server((address, port))
        listeners.append(listener)
        threading.Thread(target=_accept, args=(listener, port), daemon=True).start()
    try:
        yield
    finally:
        for listener in listeners:
            listener.close()


def _accept(listener: socket.socket, port: int) -> None:
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", port))
        for source, target in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pipe, args=(source, target), daemon=True).start()


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


class Runner:
    """Runs the invocations against one stack and one uploaded object, and records the outcomes."""

    def __init__(self, stack: LocalStack, sam: str, template: Path) -> None:
        self.stack = stack
        self.sam = sam
        self.template = template
        self.invoked = 0
        self.ok = 0
        assert stack.topology is not None
        self.bucket = stack.topology.bucket("UploadsBucket")
        self.table = stack.topology.template.physical_name("ScansTable")
        self.gateway = bridge_gateway()
        self.env_file = stack.data_dir / "sam-env-vars-bridge.json"
        self.env_file.write_text(
            (stack.data_dir / "sam-env-vars.json").read_text().replace("127.0.0.1", self.gateway)
        )
        self.process_env = {**os.environ, **CREDENTIALS, "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": "120"}
        self.upload: Upload | None = None

    # -- the object every event is rewritten to ---------------------------------------------------

    def seed(self) -> dict[str, Any]:
        """Upload the events' object and wait until the stack's pipeline has scanned it."""
        self.upload = upload(self.stack.client("s3"), self.bucket, EVENT_KEY, b"quarterly summary, final\n")
        records, finished = wait_terminal(
            self.stack.client("dynamodb"), self.table, [self.upload.scan_id], timeout=180
        )
        if self.upload.scan_id not in finished:
            raise SystemExit(f"the seeded upload did not reach a terminal state: {records}")
        return records[self.upload.scan_id]

    def record(self) -> dict[str, Any]:
        """The seeded scan's record as it is now."""
        assert self.upload is not None
        return scan_records(self.stack.client("dynamodb"), self.table, [self.upload.scan_id])[
            self.upload.scan_id
        ]

    def event(self, path: Path) -> Path:
        """The event file rewritten to the local bucket names and the seeded object."""
        assert self.upload is not None and self.stack.topology is not None
        text = path.read_text()
        for name, logical in (("filescan-uploads", "UploadsBucket"), ("filescan-reports", "ReportsBucket")):
            text = text.replace(f'"{name}"', json.dumps(self.stack.topology.bucket(logical)))
            text = text.replace(f"bucket={name}&", f"bucket={self.stack.topology.bucket(logical)}&")
        text = text.replace(EVENT_SCAN_ID, self.upload.scan_id)
        text = text.replace(EVENT_VERSION, self.upload.version_id or "")
        rewritten = self.stack.data_dir / "events" / path.name
        rewritten.parent.mkdir(parents=True, exist_ok=True)
        rewritten.write_text(text)
        return rewritten

    # -- invocations --------------------------------------------------------------------------------

    def invoke(self, function: str, event: Path, check: Check) -> None:
        """``sam local invoke`` one function with one event; print and count the outcome."""
        self.invoked += 1
        started = time.monotonic()
        result = subprocess.run(
            [
                self.sam, "local", "invoke", function,
                "--event", str(self.event(event)),
                "--template", str(self.template),
                "--env-vars", str(self.env_file),
                "--docker-network", "host",
                "--skip-pull-image",
            ],
            capture_output=True,
            text=True,
            env=self.process_env,
            timeout=300,
            check=False,
        )  # fmt: skip
        problem: str | None
        try:
            response = json.loads(result.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            response, problem = {}, f"no JSON response (exit {result.returncode}): {result.stderr[-800:]}"
        else:
            problem = "error response" if "errorType" in response else check(response)
        self._report(f"invoke {function} {event.name}", problem, time.monotonic() - started)

    def _report(self, what: str, problem: str | None, seconds: float) -> None:
        if problem is None:
            self.ok += 1
            print(f"ok    {what} ({seconds:.1f} s)", flush=True)
        else:
            print(f"FAIL  {what}: {problem}", flush=True)

    def state_unchanged(self, before: dict[str, Any], after_what: str) -> None:
        """The table check: the seeded scan's status and verdict are where the pipeline left them."""
        now = self.record()
        same = (now.get("status"), now.get("verdict")) == (before.get("status"), before.get("verdict"))
        problem = None if same else f"record moved: {before.get('status')} -> {now.get('status')}"
        print(f"{'ok' if same else 'FAIL'}    table after {after_what}: {now.get('status')}", flush=True)
        if problem:
            raise SystemExit(problem)

    # -- start-api ----------------------------------------------------------------------------------

    def start_api(self, requests: list[tuple[str, int]]) -> None:
        """Serve the API with ``sam local start-api`` and check a few requests (counted as invocations)."""
        port = _free_port()
        log = (self.stack.data_dir / "start-api.log").open("w")
        process = subprocess.Popen(
            [
                self.sam, "local", "start-api",
                "--template", str(self.template),
                "--env-vars", str(self.env_file),
                "--docker-network", "host",
                "--skip-pull-image",
                "--host", "127.0.0.1", "--port", str(port),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.process_env,
        )  # fmt: skip
        try:
            _wait_port(port, process, timeout=120)
            for path, expected in requests:
                self.invoked += 1
                started = time.monotonic()
                status = _get(f"http://127.0.0.1:{port}{path}")
                problem = None if status == expected else f"HTTP {status}, expected {expected}"
                self._report(f"start-api GET {path}", problem, time.monotonic() - started)
        finally:
            process.terminate()
            process.wait(timeout=60)
            log.close()


def _wait_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("sam local start-api exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("sam local start-api did not listen")


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310 - loopback URL we built
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def _sqs_ok(response: dict[str, Any]) -> str | None:
    return None if response.get("batchItemFailures") == [] else f"item failures: {response}"


def _no_error(response: dict[str, Any]) -> str | None:
    return None


def _api_check(name: str, scan_id: str) -> Check:
    expected = API_STATUS.get(name, 200)

    def check(response: dict[str, Any]) -> str | None:
        if response.get("statusCode") != expected:
            body = str(response.get("body"))[:300]
            return f"HTTP {response.get('statusCode')}, expected {expected}: {body}"
        if name == "api_get_scan.json" and json.loads(response["body"]).get("scan_id") != scan_id:
            return "GET /scans/{scan_id} answered another scan"
        return None

    return check


def run(stack: LocalStack, sam: str, template: Path, events_dir: Path) -> tuple[int, int]:
    """Every function with every event file that belongs to it, then start-api; (invoked, ok)."""
    runner = Runner(stack, sam, template)
    ports = [
        int(url.rsplit(":", 1)[1]) for url in (stack.moto_url, stack.control.url if stack.control else "")
    ]
    with forwarded(runner.gateway, ports):
        return _run(runner, events_dir)


def _run(runner: Runner, events_dir: Path) -> tuple[int, int]:
    before = runner.seed()
    assert runner.upload is not None
    print(f"seeded s3://{runner.bucket}/{EVENT_KEY}: scan {runner.upload.scan_id} {before.get('status')}")
    files = sorted(events_dir.glob("*.json"))
    for prefix, function in EVENT_FUNCTIONS.items():
        for event in (f for f in files if f.name.startswith(f"{prefix}_")):
            if prefix == "enqueue":
                check: Check = _sqs_ok
            elif prefix == "api":
                check = _api_check(event.name, runner.upload.scan_id)
            else:
                check = _no_error
            runner.invoke(function, event, check)
        runner.state_unchanged(before, f"{function} events")
    orphans = [f.name for f in files if not any(f.name.startswith(f"{p}_") for p in EVENT_FUNCTIONS)]
    if orphans:
        raise SystemExit(f"event files that belong to no function: {orphans}")
    scan = runner.upload.scan_id
    runner.start_api([("/openapi.json", 200), (f"/scans/{scan}", 200), ("/scans/" + "f" * 32, 404)])
    return runner.invoked, runner.ok


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints ``N invoked, N ok`` last and returns 0 when all passed."""
    parser = argparse.ArgumentParser(prog="python -m filescan_local.sam_local", description=__doc__)
    parser.add_argument("--sam", default="sam", help="the sam command (default: sam on PATH)")
    parser.add_argument("--template", type=Path, default=ROOT / ".aws-sam" / "build" / "template.yaml")
    parser.add_argument("--events", type=Path, default=ROOT / "events")
    args = parser.parse_args(argv)
    with LocalStack(StackConfig(api_port=0)) as stack:
        invoked, ok = run(stack, args.sam, args.template, args.events)
    print(f"{invoked} invoked, {ok} ok")
    return 0 if invoked == ok else 1


if __name__ == "__main__":
    sys.exit(main())
