"""moto's server behind an IAM enforcement point: ``python -m filescan_local.iam_server``.

A WSGI middleware in front of moto's application (same process, so it can read an object's tags
and existence from moto's S3 backend) maps each signed request to the role of its access key
(``iam_policies``), evaluates what the request asks for (``iam_requests``) with ``iam_eval`` against
the role's identity policies and the bucket's policy, and answers a denied call as AWS does:
S3 ``403 AccessDenied`` (XML), the JSON APIs ``400 AccessDeniedException``. Requests signed with a
key that is no role's (the operator, provisioning, tests) and unsigned ones (moto's own API) pass.

S3's rule for missing objects is applied too: a read of an object that does not exist is ``403``
unless the caller may ``s3:ListBucket`` the bucket (then moto's ``404`` goes through).
https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html ("Permissions").
AWS does not document the condition context of that implicit ListBucket check; it is evaluated
without ``s3:prefix``, so only an unconditioned grant turns the 403 into a 404 locally.

Every decision about a role is appended as a JSON line to ``--record`` (the unused-grant check
reads it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from filescan_local.iam_eval import Request
from filescan_local.iam_policies import PolicySet, Role
from filescan_local.iam_requests import Check, caller, json_checks, s3_checks
from filescan_local.template import ACCOUNT

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Recorder:
    """Appends one JSON line per decision (thread-safe)."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._lock = threading.Lock()

    def record(self, role: Role, check: Check, allowed: bool, reason: str) -> None:
        """Write one decision."""
        if self._path is None:
            return
        line = json.dumps(
            {
                "role": role.arn,
                "action": check.action,
                "resource": check.resource,
                "allowed": allowed,
                "reason": reason,
            }
        )
        with self._lock, self._path.open("a") as sink:
            sink.write(line + "\n")


class Enforcer:
    """Decides checks for roles and records each decision."""

    def __init__(
        self,
        policies: PolicySet,
        recorder: Recorder | None = None,
        object_tags: Callable[[str, str, str | None], dict[str, str] | None] | None = None,
    ) -> None:
        self.policies = policies
        self._recorder = recorder or Recorder(None)
        self._object_tags = object_tags

    def role(self, access_key: str | None) -> Role | None:
        """The role of a request's key (``None``: unsigned, or the operator's key)."""
        return self.policies.role_for_key(access_key) if access_key else None

    def first_denial(self, role: Role, checks: list[Check]) -> tuple[Check, str] | None:
        """Decide every check (recording each); the first denied one and why, else ``None``."""
        for check in checks:
            allowed, reason = self._decide(role, check)
            self._recorder.record(role, check, allowed, reason)
            if not allowed:
                return check, reason
        return None

    def _decide(self, role: Role, check: Check) -> tuple[bool, str]:
        context: dict[str, list[str]] = {
            **check.context,
            "aws:principalarn": [role.arn],
            # The loopback stands in for TLS: every AWS SDK call is HTTPS.
            "aws:securetransport": ["true"],
        }
        exists = True
        if check.object_ref is not None and self._object_tags is not None:
            tags = self._object_tags(*check.object_ref)
            exists = tags is not None
            for name, value in (tags or {}).items():
                context[f"s3:existingobjecttag/{name}".lower()] = [value]
        decision = self.policies.decide(role, Request(role.arn, check.action, check.resource, context))
        if not decision.allowed or exists:
            return decision.allowed, decision.reason
        bucket_arn = check.resource.split("/", 1)[0]
        listing = Request(role.arn, "s3:ListBucket", bucket_arn, {"aws:principalarn": [role.arn]})
        listed = self.policies.decide(role, listing)
        self._recorder.record(
            role, Check("s3:ListBucket", bucket_arn), listed.allowed, "missing object: 404?"
        )
        if listed.allowed:
            return True, decision.reason
        return False, "missing object without s3:ListBucket (403 instead of 404)"


def denial_message(role: Role, check: Check, reason: str) -> str:
    """The text of an AccessDenied error, worded like AWS's (plus the local reason)."""
    action, resource = check.action, check.resource
    return f"User: {role.arn} is not authorized to perform: {action} on resource: {resource} ({reason})"


class IamMiddleware:
    """Enforces the stack's IAM and bucket policies in front of a moto WSGI application."""

    def __init__(self, app: WsgiApp, enforcer: Enforcer) -> None:
        self._app = app
        self._enforcer = enforcer

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Check the request; forward it to moto when allowed."""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}  # fmt: skip
        headers["authorization"] = headers.get("authorization", "")
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        signer = caller(headers, query)
        role = self._enforcer.role(signer.access_key if signer else None)
        if signer is None or role is None:
            return self._app(environ, start_response)
        body_cache: list[bytes] = []

        def body() -> bytes:
            if not body_cache:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body_cache.append(environ["wsgi.input"].read(length) if length else b"")
                environ["wsgi.input"] = io.BytesIO(body_cache[0])
            return body_cache[0]

        if signer.service == "s3":
            raw_path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "")
            checks = s3_checks(environ["REQUEST_METHOD"], raw_path, query, headers, body)
        else:
            checks = json_checks(signer.service, headers.get("x-amz-target", ""), body())
        denial = self._enforcer.first_denial(role, checks)
        if denial is not None:
            return _denied(signer.service, denial_message(role, *denial), start_response)
        return self._app(environ, start_response)


def object_tags(bucket: str, key: str, version: str | None) -> dict[str, str] | None:
    """The tags of an existing object version from moto's S3 backend; ``None`` if it does not exist."""
    from moto.s3.models import FakeKey, s3_backends  # noqa: PLC0415 - moto is loaded by the server

    backend = s3_backends[ACCOUNT]["aws"]
    try:
        found = backend.get_object(bucket, key, version_id=version)
    except Exception:
        return None
    if not isinstance(found, FakeKey):
        return None
    return {tag["Key"]: tag["Value"] for tag in backend.get_object_tagging(found).get("Tags", [])}


def _denied(service: str, message: str, start_response: StartResponse) -> list[bytes]:
    if service == "s3":
        body = (
            "<?xml version='1.0' encoding='UTF-8'?><Error><Code>AccessDenied</Code>"
            f"<Message>{_xml_escape(message)}</Message></Error>"
        ).encode()
        start_response(
            "403 Forbidden", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        )
        return [body]
    body = json.dumps({"__type": "AccessDeniedException", "message": message}).encode()
    start_response(
        "400 Bad Request",
        [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("Content-Length", str(len(body))),
            ("x-amzn-ErrorType", "AccessDeniedException"),
            ("x-amzn-query-error", "AccessDenied;Sender"),
        ],
    )
    return [body]


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def main(argv: list[str] | None = None) -> None:
    """Run moto's server with IAM enforcement on ``--host``/``--port``."""
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - only the server process loads moto
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import run_simple  # noqa: PLC0415

    parser = argparse.ArgumentParser(prog="filescan_local.iam_server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--policies", type=Path, help="PolicySet JSON; without it nothing is enforced")
    parser.add_argument("--record", type=Path, help="append every decision about a role here (JSON lines)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app: Any = DomainDispatcherApplication(create_backend_app)
    if args.policies is not None:
        policies = PolicySet.from_json(args.policies.read_text())
        app = IamMiddleware(app, Enforcer(policies, Recorder(args.record), object_tags))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1:])
