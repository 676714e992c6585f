"""The HTTP API on 127.0.0.1: requests -> API Gateway HTTP API (payload 2.0) events -> the api handler.

Routes come from the ``HttpApi`` events of the template's functions; an unknown route answers 404
like API Gateway. Callers are treated as IAM-authorised (``requestContext.authorizer.iam`` names a
local identity) unless a bearer token is required: then no ``Authorization`` header is 401 and a wrong
token is 403. A handler exception becomes a 500 JSON error, with no stack trace.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hmac
import json
import logging
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from filescan_local.loopback import LoopbackServer
from filescan_local.template import ACCOUNT, Template

log = logging.getLogger("filescan.local.api")
Handler = Callable[[dict[str, Any]], Any]
LOCAL_IDENTITY = {
    "accessKey": "ASIALOCALFILESCAN",
    "accountId": ACCOUNT,
    "callerId": "AROALOCALFILESCAN:local",
    "principalOrgId": None,
    "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/filescan-local/local",
    "userId": "AROALOCALFILESCAN:local",
    "cognitoIdentity": None,
}


@dataclasses.dataclass(frozen=True)
class Route:
    """One route key (``GET /scans/{scan_id}``) and its path matcher."""

    key: str
    method: str
    pattern: re.Pattern[str]


def routes_from_template(template: Template) -> list[Route]:
    """The template's HTTP API routes, most specific (fewest parameters) first."""
    found = []
    for logical in template.of_type("AWS::Serverless::Function"):
        events = (template.properties(logical).get("Events") or {}).values()
        for event in (e for e in events if e.get("Type") == "HttpApi"):
            found.append(_route(str(event["Properties"]["Method"]).upper(), str(event["Properties"]["Path"])))
    return sorted(found, key=lambda route: (route.key.count("{"), route.key))


def _route(method: str, path: str) -> Route:
    key = f"{method} {path}"
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return Route(key, method, re.compile(f"^{regex}$"))


def build_event(  # noqa: PLR0917 - mirrors one HTTP request
    route: Route, params: dict[str, str], method: str, target: str, headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    """An HTTP API payload-2.0 event for one request."""
    split = urllib.parse.urlsplit(target)
    query: dict[str, list[str]] = {}
    for name, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
        query.setdefault(name, []).append(value)
    lowered = {name.lower(): value for name, value in headers.items()}
    now = dt.datetime.now(dt.UTC)
    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode()
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.key,
        "rawPath": split.path,
        "rawQueryString": split.query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "local",
            "authorizer": {"iam": dict(LOCAL_IDENTITY)},
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": split.path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route.key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if query:
        event["queryStringParameters"] = {name: ",".join(values) for name, values in query.items()}
    if params:
        event["pathParameters"] = params
    if "cookie" in lowered:
        event["cookies"] = [part.strip() for part in lowered["cookie"].split(";")]
    if text is not None:
        event["body"] = text
    return event


def to_response(result: Any) -> tuple[int, dict[str, str], bytes]:
    """The HTTP response for a handler's result (payload 2.0 rules: a bare value is 200 JSON)."""
    if isinstance(result, dict) and "statusCode" in result:
        headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
        body = result.get("body") or ""
        raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        return int(result["statusCode"]), headers, raw
    body = result if isinstance(result, str) else json.dumps(result, default=str)
    return 200, {"content-type": "application/json"}, body.encode()


class ApiServer(LoopbackServer):
    """The local HTTP API."""

    def __init__(
        self, template: Template, handler: Handler, *, port: int = 3000, token: str | None = None
    ) -> None:
        self._routes = routes_from_template(template)
        self._handler = handler
        self._token = token
        super().__init__(self._request_handler(), port, "http-api")

    def respond(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Route, authorise and run one request."""
        denied = self._authorise(headers)
        if denied is not None:
            return denied
        path = urllib.parse.urlsplit(target).path
        for route in self._routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                event = build_event(route, match.groupdict(), method, target, headers, body)
                try:
                    return to_response(self._handler(event))
                except Exception as error:
                    log.error("api handler failed on %s: %s: %s", route.key, type(error).__name__, error)
                    return _json(500, {"message": "Internal Server Error"})
        return _json(404, {"message": "Not Found"})

    def _authorise(self, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
        if self._token is None:
            return None
        supplied = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        if not supplied:
            return _json(401, {"message": "Unauthorized"})
        scheme, _, credential = supplied.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(credential.strip(), self._token):
            return _json(403, {"message": "Forbidden"})
        return None

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                log.info(format, *args)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, payload = server.respond(
                    self.command, self.path, dict(self.headers.items()), body
                )
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return RequestHandler


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"content-type": "application/json"}, json.dumps(body).encode()
