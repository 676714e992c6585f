"""The local HTTP API: payload-2.0 events, IAM context, bearer-token switch, errors without traces."""

from __future__ import annotations

from typing import Any

from filescan_local.api_server import ApiServer
from filescan_local.template import Template


def _server(handler: Any, token: str | None = None) -> ApiServer:
    return ApiServer(Template.load(), handler, port=0, token=token)


def test_given_an_http_request_when_the_local_api_serves_it_then_the_handler_gets_a_v2_event() -> None:
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return {"statusCode": 201, "headers": {"content-type": "application/json"}, "body": '{"ok": true}'}

    server = _server(handler)
    try:
        status, _, body = server.respond(
            "GET", "/scans/abc/report?x=1&x=2", {"Host": "h", "User-Agent": "t"}, b""
        )
        assert (status, body) == (201, b'{"ok": true}')
        event = seen[0]
        assert event["version"] == "2.0"
        assert event["routeKey"] == "GET /scans/{scan_id}/report"
        assert event["pathParameters"] == {"scan_id": "abc"}
        assert event["queryStringParameters"] == {"x": "1,2"}
        assert event["requestContext"]["authorizer"]["iam"]["accountId"] == "123456789012"
        assert event["requestContext"]["http"]["method"] == "GET"
        assert server.respond("GET", "/nope", {}, b"")[0] == 404
    finally:
        server.stop()


def test_given_a_token_or_a_failing_handler_when_served_then_401_403_or_500_without_a_trace() -> None:
    def broken(event: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError("secret detail")

    server = _server(broken, token="s3cret")
    try:
        assert server.respond("GET", "/scans/x", {}, b"")[0] == 401
        assert server.respond("GET", "/scans/x", {"Authorization": "Bearer wrong"}, b"")[0] == 403
        status, _, body = server.respond("GET", "/scans/x", {"Authorization": "Bearer s3cret"}, b"")
        assert status == 500
        assert b"secret detail" not in body and b"Traceback" not in body
    finally:
        server.stop()
