"""Property-based requests generated from the API's own OpenAPI document: no input gives a 5xx.

Hypothesis draws, for every operation in ``/openapi.json``, path and query parameters and JSON bodies
from the documented schemas (valid values, boundary values and plain garbage mixed), sends each as a
real HTTP API v2 event through the handler, and checks the answer: never a server error, always
JSON, every error in the one error shape, only documented status codes.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import hashlib
import json
import string
import urllib.parse
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.http_api import http_event
from tests.unit.pipeline.conftest import seed_scan

KNOWN_SCAN = "0123456789abcdef0123456789abcdef"
EXAMPLES_PER_OPERATION = 120
garbage = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
hex32 = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)
moments = st.builds(
    lambda moment, zone: moment.isoformat() + zone,
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.sampled_from(["", "Z", "+02:00"]),
)


def _for_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values for one schema: mostly plausible, sometimes not (the API must reject those cleanly)."""
    if "$ref" in schema:
        return _for_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of([_for_schema(option, components) for option in options])
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), garbage)
    kind = schema.get("type")
    if kind == "integer":
        low, high = schema.get("minimum", -(2**40)), schema.get("maximum", 2**40)
        return st.one_of(st.integers(low - 2, high + 2), st.integers(), garbage)
    if kind == "string" and schema.get("format") == "date-time":
        return st.one_of(moments, garbage)
    if kind == "string" and "pattern" in schema and "a-f" in schema["pattern"]:
        return st.one_of(hex32, st.just(KNOWN_SCAN), garbage)
    if kind == "string":
        return st.one_of(garbage, st.text(alphabet=string.printable, max_size=80), st.just("uploads/"))
    if kind == "object":
        properties = schema.get("properties", {})
        return st.fixed_dictionaries(
            {},
            optional={name: _for_schema(sub, components) for name, sub in properties.items()},
        )
    if kind == "null":
        return st.none()
    return st.one_of(garbage, st.integers(), st.none(), st.booleans())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _request(method: str, path: str, operation: dict[str, Any], components: dict[str, Any]):
    path_params = {}
    query = {}
    for parameter in operation.get("parameters", []):
        strategy = st.one_of(_for_schema(parameter["schema"], components).map(_text))
        if parameter["in"] == "path":
            path_params[parameter["name"]] = strategy.filter(lambda text: text != "")
        elif parameter["in"] == "query":
            query[parameter["name"]] = strategy
    body: st.SearchStrategy[Any] = st.none()
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if content:
        valid_upload = st.builds(
            lambda data, name: {
                "filename": name,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
            st.binary(max_size=64),
            garbage.filter(bool),
        )
        body = st.one_of(
            _for_schema(content["schema"], components), valid_upload, garbage, st.binary(max_size=20)
        )
    return st.fixed_dictionaries(
        {"path": st.fixed_dictionaries(path_params), "body": body},
        optional={"query": st.fixed_dictionaries({}, optional=query)},
    )


def _property(bound: Any) -> Any:
    """A plain function around ``bound`` (hypothesis needs a named function without defaults)."""

    def run(request: dict[str, Any]) -> None:
        bound(request)

    return run


@pytest.mark.slow
def test_given_generated_requests_when_sent_then_no_server_error(call, stack, api, lambda_context):
    seed_scan(stack, KNOWN_SCAN, "COMPLETE", version_id="v1", key="uploads/a.txt")
    boto3.client("s3").put_object(Bucket=stack.uploads_bucket, Key="uploads/a.txt", Body=b"a")
    _, document, _ = call("GET", "/openapi.json")
    components = document.get("components", {}).get("schemas", {})
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()

    def check(method: str, template: str, documented: set[int], request: dict[str, Any]) -> None:
        path = template
        for name, value in request["path"].items():
            path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
        body = request["body"]
        if isinstance(body, str | int | float | bool) and not isinstance(body, bytes):
            body = json.dumps(body)
        event = http_event(method, path, query=request.get("query") or None, body=body)
        response = api.lambda_handler(event, lambda_context)
        status = response["statusCode"]
        statuses[(f"{method} {template}", status)] += 1
        assert status < 500, (event, response)
        assert status in documented, (event, response)
        payload = json.loads(response["body"])
        if status >= 400:
            assert set(payload) == {"error"}
            assert {"code", "message", "request_id"} <= set(payload["error"])

    for method, template, operation in _operations(document):
        documented = {int(code) for code in operation["responses"]} | {400, 405}
        probe = _property(functools.partial(check, method, template, documented))
        probe = settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )(given(request=_request(method, template, operation, components))(probe))
        probe()

    sent = sum(statuses.values())
    summary = ", ".join(f"{route} {code}: {count}" for (route, code), count in sorted(statuses.items()))
    print(f"\n{sent} generated requests, 0 server errors: {summary}")
    assert sent >= EXAMPLES_PER_OPERATION * len(_operations(document)) // 2
    assert any(code == 200 for (_, code) in statuses)
