"""The read routes against moto-backed data: one scan, listing with pagination, objects, reports."""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from filescan_shared.api import cursor as cursors
from filescan_shared.api.errors import s3_error
from filescan_shared.records import ScanRecord, iso
from filescan_shared.repository import ScanRepository, StatusPosition
from tests.unit.pipeline.conftest import seed_scan

SCAN_ID = "0123456789abcdef0123456789abcdef"
EVENTS = Path(__file__).resolve().parents[3] / "events"


def _store(stack, scan_id: str, updated: dt.datetime, status: str = "COMPLETE", **fields):
    stamp = iso(updated)
    record = ScanRecord(
        scan_id=scan_id,
        status=status,
        bucket=stack.uploads_bucket,
        key=fields.pop("key", f"uploads/{scan_id}.bin"),
        created_at=stamp,
        updated_at=stamp,
        **fields,
    )
    assert ScanRepository(boto3.client("dynamodb"), stack.scans_table).create(record, claim="secret-claim")


def _scan_id(number: int) -> str:
    return f"{number:032x}"


def test_given_known_scan_when_get_then_public_fields_only(call, stack):
    _store(stack, SCAN_ID, dt.datetime.now(dt.UTC), verdict="clean", severity="none", content_key="x#1")

    status, body, headers = call("GET", f"/scans/{SCAN_ID}")

    assert status == 200
    assert headers["Content-Type"] == "application/json"
    assert body["scan_id"] == SCAN_ID
    assert body["verdict"] == "clean"
    for internal in ("submit_claim", "claimed_at", "status_rank", "object_ref", "status_day", "content_key"):
        assert internal not in body


def test_given_a_failed_scan_recorded_without_a_verdict_when_get_then_its_verdict_is_error_as_its_tag(
    call, stack
):
    _store(stack, SCAN_ID, dt.datetime.now(dt.UTC), status="FAILED", failure_reason="job failed")

    status, body, _ = call("GET", f"/scans/{SCAN_ID}")

    assert status == 200
    assert (body["status"], body["verdict"]) == ("FAILED", "error")


def test_given_unknown_or_malformed_scan_id_when_get_then_404_or_400_in_the_error_shape(call, stack):
    status, body, _ = call("GET", f"/scans/{'f' * 32}")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"]

    for bad in ("xyz", "0123456789ABCDEF0123456789ABCDEF", "0" * 33, "%00"):
        status, body, _ = call("GET", f"/scans/{bad}")
        assert status == 400, bad
        assert body["error"]["code"] == "bad_request"
        assert body["error"]["details"][0]["loc"] == ["path", "scan_id"]


def test_given_250_scans_over_six_days_when_paging_then_every_scan_once_newest_first(call, stack):
    now = dt.datetime.now(dt.UTC)
    expected = []
    for number in range(250):
        updated = now - dt.timedelta(minutes=29 * number + 1)
        _store(stack, _scan_id(number), updated)
        expected.append(_scan_id(number))
    # Noise the listing must not return: other states, and one outside the time range.
    _store(stack, _scan_id(1000), now - dt.timedelta(minutes=5), status="FAILED")
    _store(stack, _scan_id(1001), now - dt.timedelta(days=9))

    for limit in (25, 7, 100):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            query = {"status": "COMPLETE", "limit": str(limit)}
            if cursor:
                query["cursor"] = cursor
            status, body, _ = call("GET", "/scans", query=query)
            assert status == 200, body
            assert len(body["items"]) <= limit
            seen.extend(item["scan_id"] for item in body["items"])
            pages += 1
            cursor = body.get("next_cursor")
            if not cursor:
                break
            assert pages < 100
        assert seen == expected, f"limit {limit}"


def test_given_no_status_when_listing_then_complete_scans_are_listed(call, stack):
    _store(stack, SCAN_ID, dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))

    status, body, _ = call("GET", "/scans")

    assert status == 200
    assert body["status"] == "COMPLETE"
    assert [item["scan_id"] for item in body["items"]] == [SCAN_ID]
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    "query",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "abc"},
        {"limit": "-1"},
        {"status": "NOPE"},
        {"status": "complete"},
        {"since": "yesterday"},
        {"since": "2026-11-25T00:00:00Z", "until": "2026-11-24T00:00:00Z"},
        {"since": "2020-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "1000-01-01T00:00:00Z"},
        {"until": "0001-01-01T00:00:00"},
        {"cursor": ""},
    ],
)
def test_given_bad_listing_parameters_when_listing_then_400(call, stack, query):
    status, body, _ = call("GET", "/scans", query=query)

    assert status == 400, body
    assert body["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    "query", [{"since": "0001-01-01T00:30:00+01:00"}, {"until": "9999-12-31T23:00:00-01:00"}]
)
def test_given_time_beyond_the_utc_range_when_listing_then_400(call, stack, query):
    status, body, _ = call("GET", "/scans", query=query)

    assert status == 400, body
    assert body["error"]["code"] == "bad_request"


def _first_cursor(call, stack, status="COMPLETE") -> str:
    now = dt.datetime.now(dt.UTC)
    for number in range(3):
        _store(stack, _scan_id(number), now - dt.timedelta(minutes=number + 1), status=status)
    _, body, _ = call("GET", "/scans", query={"status": status, "limit": "1"})
    assert body["next_cursor"]
    return str(body["next_cursor"])


def _tampered(cursor: str) -> list[str]:
    body, mac = cursor.split(".")
    raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = base64.urlsafe_b64encode(raw.replace(b"COMPLETE", b"FAILED")).rstrip(b"=").decode()
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    return [f"{forged}.{mac}", f"{flipped}.{mac}", f"{body}.{mac[:-1]}", body, f"{body}.{mac}.x"]


@pytest.mark.parametrize("garbage", ["abc", "....", "!!!.???", "e30.e30", "a" * 3000, "%ff.%fe"])
def test_given_garbage_cursor_when_listing_then_400_invalid_cursor(call, stack, garbage):
    status, body, _ = call("GET", "/scans", query={"cursor": garbage})

    assert status == 400
    assert body["error"]["code"] in {"invalid_cursor", "bad_request"}


def test_given_tampered_cursor_when_listing_then_400_invalid_cursor(call, stack):
    cursor = _first_cursor(call, stack)

    for forged in _tampered(cursor):
        status, body, _ = call("GET", "/scans", query={"cursor": forged})
        assert status == 400, forged
        assert body["error"]["code"] == "invalid_cursor"


def test_given_cursor_with_other_query_parameters_when_listing_then_400(call, stack):
    cursor = _first_cursor(call, stack)

    status, body, _ = call("GET", "/scans", query={"cursor": cursor, "status": "FAILED"})
    assert status == 400
    assert body["error"]["code"] == "invalid_cursor"
    status, body, _ = call("GET", "/scans", query={"cursor": cursor, "status": "COMPLETE", "limit": "1"})
    assert status == 200
    assert len(body["items"]) == 1


def test_given_cursor_of_another_deployment_when_listing_then_400(call, stack):
    position = StatusPosition(
        status=cursors.ScanState.COMPLETE,
        since="2026-11-18T00:00:00.000Z",
        until="2026-11-25T00:00:00.000Z",
        day=dt.date(2026, 11, 24),
    )
    foreign = cursors.encode(position, cursors.signing_key("another-table"))

    status, body, _ = call("GET", "/scans", query={"cursor": foreign})

    assert status == 400
    assert body["error"]["code"] == "invalid_cursor"


_PAYLOAD = {
    "v": 1,
    "s": "COMPLETE",
    "a": "2026-01-01T00:00:00.000Z",
    "b": "2026-01-02T00:00:00.000Z",
    "d": "2026-01-02",
}
_KEY = {"scan_id": SCAN_ID, "status_day": "COMPLETE#2026-01-02", "updated_at": "2026-01-02T00:00:00.000Z"}


@pytest.mark.parametrize(
    "fields",
    [
        {"a": ""},
        {"a": "yesterday"},
        {"a": 20260101},
        {"a": "2026-01-01T00:00:00Z"},
        {"a": "2026-01-01T01:00:00.000+01:00"},
        {"a": "2026-01-03T00:00:00.000Z"},
        {"a": "0001-01-01T00:00:00.000Z", "b": "0001-01-01T01:00:00.000Z", "d": "0001-01-01"},
        {"a": "2025-01-01T00:00:00.000Z"},
        {"b": "9999-12-31T00:00:00.000Z", "d": "9999-12-31", "a": "9999-12-30T00:00:00.000Z"},
        {"s": "NOPE"},
        {"d": "2026-13-01"},
        {"d": "2025-12-31"},
        {"k": ["scan_id", "status_day", "updated_at"]},
        {"k": {**_KEY, "updated_at": 5}},
        {"k": {**_KEY, "updated_at": "2026-01-01T12"}},
        {"k": {**_KEY, "status_day": "COMPLETE#2026-01-01"}},
    ],
)
def test_given_signed_cursor_with_invalid_fields_when_listing_then_400_invalid_cursor(call, stack, fields):
    key = cursors.signing_key(stack.scans_table)
    status, _, _ = call("GET", "/scans", query={"cursor": cursors.sign({**_PAYLOAD, "k": _KEY}, key)})
    assert status == 200  # the same cursor with valid fields is accepted

    status, body, _ = call("GET", "/scans", query={"cursor": cursors.sign({**_PAYLOAD, **fields}, key)})

    assert status == 400, body
    assert body["error"]["code"] == "invalid_cursor"


def test_given_object_versions_when_asking_for_the_object_then_the_latest_scan_of_that_version(call, stack):
    s3 = boto3.client("s3")
    key = "uploads/docs/q3 report+final.pdf"
    first = s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"v1")["VersionId"]
    second = s3.put_object(Bucket=stack.uploads_bucket, Key=key, Body=b"v2")["VersionId"]
    now = dt.datetime.now(dt.UTC)
    _store(stack, _scan_id(1), now, key=key, version_id=first)
    _store(stack, _scan_id(2), now, key=key, version_id=second)

    status, body, _ = call("GET", "/objects/scan", query={"bucket": stack.uploads_bucket, "key": key})
    assert status == 200
    assert body["scan_id"] == _scan_id(2)

    query = {"bucket": stack.uploads_bucket, "key": key, "version_id": first}
    status, body, _ = call("GET", "/objects/scan", query=query)
    assert status == 200
    assert body["scan_id"] == _scan_id(1)


@pytest.mark.parametrize(
    "query",
    [
        {"bucket": "filescan-uploads", "key": "uploads/never-uploaded.txt"},
        {"bucket": "filescan-uploads", "key": "outside/prefix.txt"},
        {"bucket": "some-other-bucket", "key": "uploads/x"},
        {"bucket": "filescan-uploads", "key": "uploads/x", "version_id": "nope"},
    ],
)
def test_given_unscanned_object_when_asking_then_404(call, stack, query):
    status, body, _ = call("GET", "/objects/scan", query=query)

    assert status == 404
    assert body["error"]["code"] == "not_found"


def test_given_missing_object_parameters_when_asking_then_400(call, stack):
    status, body, _ = call("GET", "/objects/scan", query={"bucket": "filescan-uploads"})

    assert status == 400
    assert body["error"]["details"][0]["loc"] == ["query", "key"]


def test_given_report_when_asked_then_a_presigned_link_that_downloads_it(call, stack):
    seed_scan(stack, SCAN_ID, "COMPLETE")
    boto3.client("s3").put_object(
        Bucket=stack.reports_bucket, Key=f"reports/{SCAN_ID}.json", Body=b'{"ok":1}'
    )

    status, body, _ = call("GET", f"/scans/{SCAN_ID}/report")

    assert status == 200
    assert body["expires_in"] == 300
    assert "X-Amz-Signature=" in body["url"]
    assert "X-Amz-Expires=300" in body["url"]
    with urllib.request.urlopen(body["url"], timeout=10) as response:  # the moto server
        assert response.read() == b'{"ok":1}'


def test_given_cached_scan_when_asking_for_its_report_then_the_reused_report(call, stack):
    _store(stack, SCAN_ID, dt.datetime.now(dt.UTC), report_key=f"reports/{'e' * 32}.json")
    boto3.client("s3").put_object(Bucket=stack.reports_bucket, Key=f"reports/{'e' * 32}.json", Body=b"{}")

    status, body, _ = call("GET", f"/scans/{SCAN_ID}/report")

    assert status == 200
    assert f"reports/{'e' * 32}.json" in body["url"]


def test_given_no_scan_or_no_report_when_asking_for_the_report_then_404(call, stack):
    status, body, _ = call("GET", f"/scans/{SCAN_ID}/report")
    assert status == 404
    assert body["error"]["code"] == "not_found"

    seed_scan(stack, SCAN_ID, "RUNNING")
    status, body, _ = call("GET", f"/scans/{SCAN_ID}/report")
    assert status == 404
    assert body["error"]["code"] == "report_not_found"


@pytest.mark.parametrize("name", sorted(path.name for path in EVENTS.glob("api_*.json")))
def test_given_sample_event_when_invoked_then_the_route_answers_in_the_contract(
    api, stack, lambda_context, name
):
    event = json.loads((EVENTS / name).read_text())
    event["body"] = (event.get("body") or "").replace("filescan-uploads", stack.uploads_bucket) or None

    response = api.lambda_handler(event, lambda_context)

    assert response["statusCode"] in {200, 202, 400, 404}, response
    body = json.loads(response["body"])
    if response["statusCode"] >= 400:
        assert body["error"]["request_id"] == event["requestContext"]["requestId"]


@pytest.mark.parametrize(
    "key", ["uploads/nul\x00.txt", "uploads/esc\x1b[2J", "uploads/line\nbreak", "uploads/del\x7f"]
)
def test_given_key_with_control_characters_when_asking_for_the_object_then_400(call, stack, key):
    status, body, _ = call("GET", "/objects/scan", query={"bucket": stack.uploads_bucket, "key": key})

    assert status == 400, body
    assert body["error"]["code"] == "bad_request"
    assert body["error"]["details"][0]["loc"] == ["query", "key"]


def test_given_s3_refusing_the_lookup_when_asking_for_the_object_then_a_json_error_not_500(call, stack):
    boto3.client("s3").delete_bucket(Bucket=stack.uploads_bucket)  # ListObjectVersions: NoSuchBucket

    status, body, _ = call("GET", "/objects/scan", query={"bucket": stack.uploads_bucket, "key": "uploads/x"})

    assert status == 404, body
    assert set(body["error"]) == {"code", "message", "request_id"}


@pytest.mark.parametrize(
    ("code", "http", "expected"),
    [
        ("NoSuchBucket", 404, 404),
        ("InvalidArgument", 400, 400),
        ("AccessDenied", 403, 502),
        ("SlowDown", 503, 502),
        ("InternalError", 500, 502),
    ],
)
def test_given_an_s3_error_when_mapped_then_it_is_a_4xx_or_a_502(code, http, expected):
    response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": http}}
    error = ClientError(response, "ListObjectVersions")
    assert s3_error(error).status == expected
    assert s3_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:9")).status == 502
