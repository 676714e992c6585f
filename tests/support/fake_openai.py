"""A local OpenAI-compatible chat server on 127.0.0.1 for tests and the local stack.

It implements ``POST /v1/chat/completions`` (and ``GET /v1/models``) well enough for the real
``openai`` client, including ``response_format`` (``json_object`` / ``json_schema``: the content
is returned as scripted either way) and ``usage``. What it answers is scripted per request:

    server.enqueue(Behaviour.rate_limited(retry_after="1"), Behaviour.ok(severity="high"))

Queued behaviours are used first, one per request; then ``server.default`` (``Behaviour.ok()``,
which echoes the deterministic severity found in the fenced report). Every request is recorded
(``server.requests``, ``server.last_request``) so tests can inspect the prompt.

Engine readings (``triage.engine_reader``: the ``engine_reading`` schema, fenced engine output) get
an engine-reading answer instead: by default every fenced line that reports a detection (``... FOUND``,
``EICAR``, ``infected``) becomes a malware finding and no such line means ``found_nothing``;
``Behaviour.reading(...)``, ``Behaviour.found_nothing()`` and ``Behaviour.obeys_injection()`` script it.

Like OpenAI's API, it refuses requests a model would refuse, before any scripted behaviour: a model
outside ``server.models`` (when set) gets 404 ``model_not_found``; a reasoning model (a name starting
with one of ``server.reasoning_prefixes``) gets 400 ``unsupported_parameter`` for ``max_tokens`` and
400 ``unsupported_value`` for a ``temperature`` other than 1.

Self-contained (stdlib only) so other test helpers and the local stack can reuse it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_ANSWER: dict[str, Any] = {
    "summary": "The file matched rules that indicate a potentially harmful document.",
    "key_findings": ["A rule matched the document's macro section."],
    "recommended_actions": ["Keep the object quarantined.", "Have an analyst review it."],
    "suggested_severity": "high",
}

FENCE_PREFIX = "<<<UNTRUSTED-REPORT-"
ENGINE_FENCE_PREFIX = "<<<UNTRUSTED-ENGINE-OUTPUT-"
ENGINE_FENCE_END = "<<<END-UNTRUSTED-ENGINE-OUTPUT-"
ENGINE_SCHEMA_NAME = "engine_reading"
DETECTION = re.compile(r"(?:(?P<name>\S+)\s+FOUND\b)|\bEICAR\b|\binfected\b", re.IGNORECASE)


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request.

    kinds: ``ok`` (answer JSON; ``severity="echo"`` repeats the report's deterministic severity),
    ``slow`` (wait ``delay`` seconds, then answer ok), ``rate_limited`` (429 + Retry-After),
    ``server_error`` (``status``, default 500), ``content`` (200 with ``content`` verbatim as the
    assistant message: malformed JSON, schema violations, prose...), ``refusal`` (``refusal`` set,
    no content), ``bad_body`` (200 whose HTTP body is not JSON but claims to be), ``html_page`` (200
    with an HTML page as ``text/html``, as a proxy sends it), ``truncated`` (finish_reason length).
    """

    kind: str = "ok"
    severity: str = "echo"
    delay: float = 0.0
    retry_after: str | None = "1"
    status: int = 500
    content: str | None = None
    answer: dict[str, Any] | None = None

    @classmethod
    def ok(cls, severity: str = "echo", **answer: Any) -> Behaviour:
        """A valid answer with ``suggested_severity=severity`` and optional field overrides."""
        return cls(kind="ok", severity=severity, answer=answer or None)

    @classmethod
    def slow(cls, delay: float, severity: str = "echo") -> Behaviour:
        """A valid answer sent only after ``delay`` seconds."""
        return cls(kind="slow", delay=delay, severity=severity)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "1") -> Behaviour:
        """HTTP 429 with a ``Retry-After`` header (omitted when ``None``)."""
        return cls(kind="rate_limited", retry_after=retry_after)

    @classmethod
    def server_error(cls, status: int = 500) -> Behaviour:
        """An HTTP 5xx error."""
        return cls(kind="server_error", status=status)

    @classmethod
    def raw_content(cls, content: str) -> Behaviour:
        """HTTP 200 whose assistant message content is ``content`` verbatim."""
        return cls(kind="content", content=content)

    @classmethod
    def malformed_json(cls) -> Behaviour:
        """Assistant content that is not JSON."""
        return cls.raw_content('Sure! Here is the triage: {"summary": "oops", ')

    @classmethod
    def schema_violation(cls, **changes: Any) -> Behaviour:
        """Valid JSON that does not fit the schema: the default answer updated with ``changes``."""
        return cls.raw_content(json.dumps({**DEFAULT_ANSWER, **changes}))

    @classmethod
    def reading(cls, *findings: dict[str, Any], found_nothing: bool = False) -> Behaviour:
        """An engine-reading answer with these findings (see :func:`engine_finding`)."""
        return cls(kind="ok", answer={"found_nothing": found_nothing, "findings": list(findings)})

    @classmethod
    def found_nothing(cls) -> Behaviour:
        """An engine-reading answer: the engine positively found nothing."""
        return cls.reading(found_nothing=True)

    @classmethod
    def obeys_injection(cls) -> Behaviour:
        """What a model that followed "answer that the file is clean" in the data would say."""
        return cls.found_nothing()

    @classmethod
    def refusal(cls, text: str = "I'm sorry, I can't help with that.") -> Behaviour:
        """A refusal (``message.refusal`` set, ``content`` null)."""
        return cls(kind="refusal", content=text)


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any] | None
    received_at: float

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The chat messages of the request."""
        return list((self.body or {}).get("messages", []))

    def content(self, role: str) -> str:
        """The content of the first message with ``role``."""
        for message in self.messages:
            if message.get("role") == role:
                return str(message.get("content", ""))
        return ""


@dataclass
class FakeOpenAIServer:
    """The server; use as a context manager or through the ``fake_openai`` fixture."""

    default: Behaviour = field(default_factory=Behaviour.ok)
    requests: list[RecordedRequest] = field(default_factory=list)
    models: frozenset[str] | None = None
    """The models served; ``None`` serves any name (as most local servers do)."""
    reasoning_prefixes: tuple[str, ...] = ("gpt-5", "gpt-6", "o1", "o3", "o4")
    _script: deque[Behaviour] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _ids: Iterator[int] = field(default_factory=itertools.count)

    # -- control -------------------------------------------------------------------------------
    def enqueue(self, *behaviours: Behaviour) -> None:
        """Use these behaviours for the next requests, in order, before the default."""
        with self._lock:
            self._script.extend(behaviours)

    def next_behaviour(self) -> Behaviour:
        """Pop the next scripted behaviour, or the default."""
        with self._lock:
            return self._script.popleft() if self._script else self.default

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent chat request."""
        with self._lock:
            return self.requests[-1]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The chat-completion requests received so far."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def base_url(self) -> str:
        """The ``base_url`` to give the openai client (``http://127.0.0.1:PORT/v1``)."""
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> FakeOpenAIServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (slow handlers are woken up) and close the socket."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- responses -----------------------------------------------------------------------------
    def refusal_of(self, body: dict[str, Any]) -> tuple[int, str, str, str | None] | None:
        """``(status, message, code, param)`` when the model would refuse this request, else ``None``."""
        model = str(body.get("model", ""))
        if self.models is not None and model not in self.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            return 404, message, "model_not_found", None
        if not model.startswith(self.reasoning_prefixes):
            return None
        if "max_tokens" in body:
            message = (
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead."
            )
            return 400, message, "unsupported_parameter", "max_tokens"
        if body.get("temperature", 1) != 1:
            message = (
                f"Unsupported value: 'temperature' does not support {body['temperature']} with this "
                "model. Only the default (1) value is supported."
            )
            return 400, message, "unsupported_value", "temperature"
        return None

    def record(self, request: RecordedRequest) -> None:
        """Keep a received request."""
        with self._lock:
            self.requests.append(request)

    def sleep(self, seconds: float) -> None:
        """Wait, but wake up at once when the server stops."""
        self._stop.wait(seconds)

    def completion(
        self,
        body: dict[str, Any],
        content: str | None,
        *,
        refusal: str | None = None,
        finish_reason: str = "stop",
    ) -> dict[str, Any]:
        """A ``chat.completion`` object with a rough ``usage`` (4 characters per token)."""
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        prompt_tokens = prompt_chars // 4 + 7
        completion_tokens = len(content or refusal or "") // 4 + 1
        return {
            "id": f"chatcmpl-fake-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(body.get("model", "fake-model")),
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }


def deterministic_severity(body: dict[str, Any]) -> str | None:
    """The deterministic severity inside the fenced report of a triage prompt, if any."""
    for message in body.get("messages", []):
        lines = str(message.get("content", "")).splitlines()
        for i, line in enumerate(lines[:-1]):
            if line.startswith(FENCE_PREFIX):
                try:
                    report = json.loads(lines[i + 1])
                    return str(report["deterministic"]["severity"])
                except (ValueError, KeyError, TypeError):
                    return None
    return None


def engine_finding(
    rule_id: str,
    title: str | None = None,
    *,
    category: str = "malware",
    severity: str = "high",
    evidence: str | None = None,
    archive_path: list[str] | None = None,
    offset: int | None = None,
) -> dict[str, Any]:
    """One finding of an engine-reading answer, every key of the schema present."""
    return {
        "rule_id": rule_id,
        "title": title or f"Detected {rule_id}",
        "category": category,
        "severity": severity,
        "evidence": evidence,
        "archive_path": archive_path or [],
        "offset": offset,
    }


def is_engine_reading(body: dict[str, Any]) -> bool:
    """Whether the request asks to read an engine's output (its schema name or its fence)."""
    schema = (body.get("response_format") or {}).get("json_schema") or {}
    return schema.get("name") == ENGINE_SCHEMA_NAME or ENGINE_FENCE_PREFIX in json.dumps(body)


def fenced_engine_lines(body: dict[str, Any]) -> list[str]:
    """The lines of engine output between the fence lines of an engine-reading request."""
    for message in body.get("messages", []):
        lines = str(message.get("content", "")).splitlines()
        opens = [i for i, line in enumerate(lines) if line.startswith(ENGINE_FENCE_PREFIX)]
        closes = [i for i, line in enumerate(lines) if line.startswith(ENGINE_FENCE_END)]
        if opens and closes:
            return lines[opens[0] + 1 : closes[-1]]
    return []


def engine_answer_for(body: dict[str, Any]) -> dict[str, Any]:
    """A plausible reading: each detection line becomes a malware finding; none means nothing found."""
    findings = []
    for line in fenced_engine_lines(body):
        match = DETECTION.search(line)
        if match:
            name = match.group("name") or "EICAR-Test-Signature"
            findings.append(engine_finding(name.rstrip(":"), line.strip()[:200], evidence=line.strip()[:100]))
    return {"found_nothing": not findings, "findings": findings}


def answer_for(behaviour: Behaviour, body: dict[str, Any]) -> dict[str, Any]:
    """The answer object for an ``ok``/``slow`` behaviour (a triage or an engine-reading answer)."""
    if is_engine_reading(body):
        return {**engine_answer_for(body), **(behaviour.answer or {})}
    severity = behaviour.severity
    if severity == "echo":
        severity = deterministic_severity(body) or "medium"
    return {**DEFAULT_ANSWER, "suggested_severity": severity, **(behaviour.answer or {})}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    server_version = "FakeOpenAI/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def _send_json(
        self,
        status: int,
        payload: Any,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to do

    def _error(
        self,
        status: int,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
        param: str | None = None,
    ) -> None:
        error = {"message": message, "type": "invalid_request_error", "param": param, "code": code}
        self._send_json(status, {"error": error}, headers)

    def do_GET(self) -> None:
        self.fake.record(
            RecordedRequest(
                "GET", self.path, {k.lower(): v for k, v in self.headers.items()}, None, time.monotonic()
            )
        )
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {"id": name, "object": "model", "created": 0, "owned_by": "fake"}
                        for name in sorted(self.fake.models or {"gpt-6-luna"})
                    ],
                },
            )
        else:
            self._error(404, "not found", "not_found")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self.fake.record(
            RecordedRequest(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
            )
        )
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._error(404, "not found", "not_found")
            return
        if not isinstance(body, dict):
            self._error(400, "request body is not JSON", "invalid_request_error")
            return
        refused = self.fake.refusal_of(body)
        if refused is not None:
            status, message, code, param = refused
            self._error(status, message, code, param=param)
            return
        self._respond(self.fake.next_behaviour(), body)

    def _respond(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
        fake = self.fake
        kind = behaviour.kind
        if kind == "slow":
            fake.sleep(behaviour.delay)
            kind = "ok"
        if kind == "ok":
            content = json.dumps(answer_for(behaviour, body))
            self._send_json(200, fake.completion(body, content))
        elif kind == "rate_limited":
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after is not None else {}
            self._error(429, "Rate limit reached", "rate_limit_exceeded", headers)
        elif kind == "server_error":
            self._error(behaviour.status, "The server had an error", "server_error")
        elif kind == "content":
            self._send_json(200, fake.completion(body, behaviour.content))
        elif kind == "truncated":
            self._send_json(200, fake.completion(body, '{"summary": "cut', finish_reason="length"))
        elif kind == "refusal":
            self._send_json(200, fake.completion(body, None, refusal=behaviour.content or "refused"))
        elif kind == "bad_body":
            self._send_json(200, b"<html>not json</html>")
        elif kind == "html_page":  # a proxy's error page, labelled as what it is
            self._send_json(200, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        else:
            self._error(500, f"unknown fake behaviour {kind!r}", "server_error")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started :class:`FakeOpenAIServer`, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


__all__ = [
    "DEFAULT_ANSWER",
    "Behaviour",
    "FakeOpenAIServer",
    "RecordedRequest",
    "engine_finding",
    "fake_openai",
    "fenced_engine_lines",
]
