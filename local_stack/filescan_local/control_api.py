"""The HTTP face of the local Batch service (and of Lambda's Invoke), for boto3 clients.

``AWS_ENDPOINT_URL_BATCH`` and ``AWS_ENDPOINT_URL_LAMBDA`` point here: the Batch REST-JSON routes
(``POST /v1/submitjob`` ...) and ``POST /2015-03-31/functions/<name>/invocations`` (the sweeper hands
scans over to analysis with an asynchronous invoke) share one loopback server.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from filescan_local.batch_service import BatchError, BatchService
from filescan_local.iam_requests import caller, control_checks
from filescan_local.iam_server import Enforcer, denial_message
from filescan_local.loopback import LoopbackServer

log = logging.getLogger("filescan.local.control")
Invoker = Callable[[str, bytes, bool], tuple[int, bytes, bool]]
"""(function name, payload, asynchronous) -> (HTTP status, response payload, function error)."""
_INVOKE = re.compile(r"^/2015-03-31/functions/([^/]+)/invocations$")
_TASK_METADATA = re.compile(r"^/v4/([A-Za-z0-9-]+)/task$")


class ControlServer(LoopbackServer):
    """A loopback HTTP server for the Batch API subset and Lambda Invoke.

    With an ``enforcer``, a call signed with a role's key is checked against that role's policies
    first (``iam_requests.control_checks``) and refused like AWS (``403 AccessDeniedException``).
    """

    def __init__(
        self,
        batch: BatchService,
        invoke: Invoker,
        port: int = 0,
        enforcer: Enforcer | None = None,
        function_arn: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__(_handler_class(batch, invoke, enforcer, function_arn), port, "control-api")


def _handler_class(
    batch: BatchService,
    invoke: Invoker,
    enforcer: Enforcer | None,
    function_arn: Callable[[str], str] | None,
) -> type[BaseHTTPRequestHandler]:
    batch_routes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "/v1/submitjob": batch.submit_job,
        "/v1/describejobs": lambda body: batch.describe_jobs(list(body.get("jobs", []))),
        "/v1/listjobs": batch.list_jobs,
        "/v1/canceljob": lambda body: _call(batch.cancel_job, body),
        "/v1/terminatejob": lambda body: _call(batch.terminate_job, body),
    }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

        def do_GET(self) -> None:
            """The task metadata endpoint v4 of running multi-container attempts (no signature, as on ECS)."""
            match = _TASK_METADATA.match(urllib.parse.urlsplit(self.path).path)
            metadata = batch.task_metadata(match.group(1)) if match else None
            if metadata is None:
                self._error(404, "NotFound", "no such task")
                return
            self._reply(200, json.dumps(metadata).encode())

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = urllib.parse.urlsplit(self.path).path
            if self._denied(path, raw):
                return
            match = _INVOKE.match(path)
            if match:
                asynchronous = self.headers.get("X-Amz-Invocation-Type", "RequestResponse") == "Event"
                name = urllib.parse.unquote(match.group(1)).rsplit(":", 1)[-1]
                status, payload, failed = invoke(name, raw, asynchronous)
                extra = {"X-Amz-Function-Error": "Unhandled"} if failed else {}
                self._reply(status, payload, extra)
                return
            route = batch_routes.get(path)
            if route is None:
                self._error(404, "ClientException", f"unknown route {path}")
                return
            try:
                result = route(json.loads(raw or b"{}"))
            except (BatchError, KeyError, ValueError) as error:
                self._error(400, "ClientException", str(error))
                return
            self._reply(200, json.dumps(result).encode())

        def _denied(self, path: str, raw: bytes) -> bool:
            """Refuse a role's call its policies do not allow (``True`` when refused)."""
            if enforcer is None:
                return False
            signer = caller({"authorization": self.headers.get("Authorization", "")}, {})
            role = enforcer.role(signer.access_key if signer else None)
            if role is None:
                return False
            checks = control_checks(path, raw, function_arn or (lambda name: name))
            denial = enforcer.first_denial(role, checks)
            if denial is None:
                return False
            self._error(403, "AccessDeniedException", denial_message(role, *denial))
            return True

        def _error(self, status: int, kind: str, message: str) -> None:
            body = json.dumps({"__type": kind, "message": message}).encode()
            self._reply(status, body, {"x-amzn-ErrorType": kind})

        def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _call(action: Callable[[str, str], None], body: dict[str, Any]) -> dict[str, Any]:
    """CancelJob / TerminateJob: act on ``jobId`` with ``reason``; the response is empty."""
    action(str(body["jobId"]), str(body.get("reason", "")))
    return {}
