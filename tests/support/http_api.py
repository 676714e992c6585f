"""HTTP API v2 events for the api function, and a loopback HTTP server that serves it.

``http_event`` builds a request event in the shape API Gateway sends (from ``events/api_get_scan.json``).
``ApiServer`` listens on 127.0.0.1, turns each HTTP request into such an event, calls a handler and
writes its response back: the CLI and property-based tests talk real HTTP to the real handler.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"
ROUTES = (
    ("GET", "/scans/{scan_id}/report"),
    ("POST", "/scans/{scan_id}/rescan"),
    ("GET", "/scans/{scan_id}"),
    ("GET", "/scans"),
    ("GET", "/objects/scan"),
    ("POST", "/uploads"),
    ("POST", "/rescans"),
    ("GET", "/openapi.json"),
)


def _route_for(method: str, path: str) -> tuple[str, dict[str, str]]:
    """API Gateway's route key and path parameters for ``path`` (``$default`` when none matches)."""
    parts = path.strip("/").split("/")
    for route_method, template in ROUTES:
        pattern = template.strip("/").split("/")
        if len(pattern) != len(parts):
            continue
        params: dict[str, str] = {}
        for want, got in zip(pattern, parts, strict=True):
            if want.startswith("{"):
                if not got:
                    break
                params[want[1:-1]] = urllib.parse.unquote(got)
            elif want != got:
                break
        else:
            if route_method == method:
                return f"{method} {template}", params
    return "$default", {}


def http_event(
    method: str,
    path: str,
    *,
    query: str | dict[str, str] | None = None,
    body: bytes | str | dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API (payload 2.0) event for one request."""
    event = copy.deepcopy(json.loads((EVENTS / "api_get_scan.json").read_text()))
    raw_query = query if isinstance(query, str) else urllib.parse.urlencode(query or {})
    route_key, params = _route_for(method, urllib.parse.unquote(path))
    event.update(routeKey=route_key, rawPath=path, rawQueryString=raw_query)
    event.pop("pathParameters", None)
    if params:
        event["pathParameters"] = params
    if raw_query:
        pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
        merged: dict[str, str] = {}
        for name, value in pairs:
            merged[name] = f"{merged[name]},{value}" if name in merged else value
        event["queryStringParameters"] = merged
    event["requestContext"]["http"].update(method=method, path=urllib.parse.unquote(path))
    event["requestContext"]["routeKey"] = route_key
    event["headers"] = {**event["headers"], **{k.lower(): v for k, v in (headers or {}).items()}}
    if body is not None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        raw = data.encode() if isinstance(data, str) else data
        try:
            event["body"], event["isBase64Encoded"] = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            event["body"], event["isBase64Encoded"] = base64.b64encode(raw).decode(), True
        event["headers"].setdefault("content-type", "application/json")
        event["headers"]["content-length"] = str(len(raw))
    return event


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else None
        event = http_event(
            self.command, parsed.path, query=parsed.query, body=body, headers=dict(self.headers.items())
        )
        response = self.server.handler(event)
        payload = response.get("body") or ""
        data = base64.b64decode(payload) if response.get("isBase64Encoded") else payload.encode()
        self.send_response(int(response.get("statusCode", 200)))
        for name, value in (response.get("headers") or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: Handler) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.handler = handler


@contextlib.contextmanager
def api_server(handler: Handler) -> Iterator[str]:
    """Serve ``handler`` on a free loopback port; yield the base URL."""
    server = _Server(handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
