"""Each local Lambda invocation signs its AWS calls with its own role's key, as on Lambda.

On AWS every function's sandbox has its role's credentials in its environment. Locally the handlers
share one process (and one set of cached boto3 clients), so the process environment cannot carry a
key per function. Instead the local runtime runs each invocation inside ``acting_as(key)`` and the
default credential chain gets one more provider (``install()``), first in line, whose credentials
are the current invocation's key (the operator's key outside any invocation). botocore asks for
frozen credentials on every signature, so a shared client signs each request with the key of the
invocation that sends it. Threads a handler starts through ``concurrent.futures`` (boto3's transfer
manager, the bulk rescan) inherit the invocation's key.

This only chooses *which* key signs: nothing is checked here. Enforcement happens on the servers
(``iam_server`` in front of moto, ``control_api`` for Batch and Lambda), from the key in the request.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any

import botocore.credentials

from filescan_local.iam_policies import LOCAL_SECRET

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("filescan_local_role_key", default=None)
_LOCK = threading.Lock()
_saved: dict[str, Any] = {}
_users: list[str] = []


@contextlib.contextmanager
def acting_as(access_key: str | None) -> Iterator[None]:
    """AWS calls made in this block (and threads it submits work to) sign with ``access_key``."""
    token = _CURRENT.set(access_key)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class _InvocationCredentials(botocore.credentials.Credentials):
    """Credentials whose key is the current invocation's (read at each signature)."""

    def __init__(self, fallback_key: str) -> None:
        self._fallback = fallback_key
        self.method = "filescan-local-role"
        self.account_id = None

    @property
    def access_key(self) -> str:  # type: ignore[override]
        return _CURRENT.get() or self._fallback

    @property
    def secret_key(self) -> str:  # type: ignore[override]
        return LOCAL_SECRET

    @property
    def token(self) -> str:  # type: ignore[override]
        return LOCAL_SECRET

    def get_frozen_credentials(self) -> botocore.credentials.ReadOnlyCredentials:
        return botocore.credentials.ReadOnlyCredentials(self.access_key, LOCAL_SECRET, LOCAL_SECRET, None)


class _InvocationProvider(botocore.credentials.CredentialProvider):
    METHOD = "filescan-local-role"
    CANONICAL_NAME = "filescan-local-role"

    def __init__(self, fallback_key: str) -> None:
        super().__init__()
        self._fallback = fallback_key

    def load(self) -> botocore.credentials.Credentials:
        return _InvocationCredentials(self._fallback)


def install(fallback_key: str) -> None:
    """Put the invocation provider first in every new botocore session's chain.

    Counted: each running stack installs once and uninstalls once; the last ``uninstall`` undoes it.
    """
    with _LOCK:
        _users.append(fallback_key)
        if _saved:
            return
        original_resolver = botocore.credentials.create_credential_resolver
        original_submit = concurrent.futures.ThreadPoolExecutor.submit

        def create_credential_resolver(*args: Any, **kwargs: Any) -> Any:
            resolver = original_resolver(*args, **kwargs)
            resolver.providers.insert(0, _InvocationProvider(fallback_key))
            return resolver

        def submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            if _CURRENT.get() is None:
                return original_submit(self, fn, *args, **kwargs)
            return original_submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

        _saved.update(resolver=original_resolver, submit=original_submit)
        botocore.credentials.create_credential_resolver = create_credential_resolver
        concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]


def uninstall() -> None:
    """Undo one ``install``."""
    with _LOCK:
        if _users:
            _users.pop()
        if _users or not _saved:
            return
        botocore.credentials.create_credential_resolver = _saved.pop("resolver")
        concurrent.futures.ThreadPoolExecutor.submit = _saved.pop("submit")  # type: ignore[method-assign]
