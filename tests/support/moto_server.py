"""A real moto server on 127.0.0.1 for tests: boto3 reaches it through ``AWS_ENDPOINT_URL``.

The production code is unchanged: it builds its clients from the standard environment, exactly as it
would against AWS, and the tests point that environment at this server.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_moto_server(launcher: list[str] | None = None) -> Iterator[str]:
    """Start ``moto.server`` (or ``launcher``: same -H/-p) on a free loopback port; yield its URL."""
    port = free_port()
    process = subprocess.Popen(
        [*(launcher or [sys.executable, "-m", "moto.server"]), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        # Batch jobs must not try to start containers: SubmitJob is all the enqueue tests need.
        request = urllib.request.Request(
            f"{url}/moto-api/config",
            data=b'{"batch": {"use_docker": false}}',
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(request, timeout=5).close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def reset_moto(url: str) -> None:
    """Drop every resource in the server, so each test starts from nothing."""
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """A moto server shared by the whole test session."""
    with running_moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point boto3 (and filescan's cached clients) at a freshly reset moto server."""
    from filescan_shared import clients  # noqa: PLC0415 - after the environment is set

    reset_moto(moto_url)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(name)
    clients.reset_clients()
    yield moto_url
    clients.reset_clients()
