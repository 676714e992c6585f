"""A small HTTP client for the results API: JSON in and out, SigV4, a bearer token, or unsigned."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

USER_AGENT = "filescan-cli/0.1.0"
TIMEOUT_SECONDS = 30


class ApiError(Exception):
    """The API answered with an error (or could not be reached)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """``status`` 0 means no HTTP answer at all."""
        super().__init__(f"{status} {code}: {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message


class ApiClient:
    """Calls one deployment of the API.

    ``auth`` is ``"sigv4"`` (IAM: requests signed for ``execute-api`` with the default AWS
    credentials), ``"token"`` (``Authorization: Bearer <token>``, for JWT) or ``"none"`` (a local stack).
    """

    def __init__(
        self, base_url: str, *, auth: str = "sigv4", token: str | None = None, region: str | None = None
    ):
        """Talk to ``base_url`` (e.g. ``https://abc.execute-api.eu-west-1.amazonaws.com``)."""
        if urllib.parse.urlsplit(base_url).scheme not in {"http", "https"}:
            raise ValueError(f"API URL must be http(s): {base_url}")
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.token = token
        self.region = region

    def get(self, path: str, query: dict[str, str] | None = None) -> Any:
        """GET ``path`` and return the decoded JSON."""
        return self.request("GET", path, query=query)

    def post(
        self, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        """POST a JSON body to ``path`` and return the decoded JSON."""
        return self.request("POST", path, body=body, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Send one request; raise ``ApiError`` for any non-2xx answer or a network failure."""
        url = self.base_url + path
        clean = {name: value for name, value in (query or {}).items() if value is not None}
        if clean:
            url += "?" + urllib.parse.urlencode(clean, quote_via=urllib.parse.quote)
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"accept": "application/json", "user-agent": USER_AGENT, **(headers or {})}
        if data is not None:
            all_headers["content-type"] = "application/json"
        all_headers.update(self._auth_headers(method, url, data, all_headers))
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise _api_error(error.code, error.read()) from None
        except urllib.error.URLError as error:
            raise ApiError(0, "unreachable", f"cannot reach {self.base_url}: {error.reason}") from None

    def _auth_headers(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str]
    ) -> dict[str, str]:
        if self.auth == "token":
            return {"authorization": f"Bearer {self.token}"}
        if self.auth != "sigv4":
            return {}
        import boto3  # noqa: PLC0415 - only signed calls need it
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415

        session = boto3.session.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise ApiError(
                0, "no_credentials", "no AWS credentials to sign with (or pass --no-sign / --token)"
            )
        region = self.region or _region_of(url) or session.region_name or "us-east-1"
        signed = AWSRequest(method=method, url=url, data=data, headers=dict(headers))
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(signed)
        return {name: value for name, value in signed.headers.items() if name.lower() not in headers}


def _region_of(url: str) -> str | None:
    """The region of an ``execute-api`` URL (``<id>.execute-api.<region>.amazonaws.com``)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    parts = host.split(".")
    if len(parts) >= 4 and parts[1] == "execute-api":
        return parts[2]
    return None


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        error = json.loads(raw)["error"]
        return ApiError(status, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        # API Gateway's own answers (e.g. a 403 for a bad signature) use {"message": ...}.
        try:
            message = str(json.loads(raw).get("message", ""))
        except (ValueError, AttributeError):
            message = raw[:200].decode(errors="replace")
        return ApiError(status, "http_error", message or f"HTTP {status}")
