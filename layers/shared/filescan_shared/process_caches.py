"""One reset for everything this package caches per process.

A Lambda process builds its settings and boto3 clients once (cached factories) and keeps them for
every warm invocation. Code that changes the process environment afterwards (the local stack pointing
boto3 at local endpoints, tests loading a handler with other variables) calls
``reset_process_caches()`` so the next use reads the new environment, instead of clearing private
caches from outside.
"""

from filescan_shared import clients
from filescan_shared.settings import load_settings


def reset_process_caches() -> None:
    """Forget cached settings and boto3 clients; the next use builds them from the environment."""
    clients.reset_clients()
    load_settings.cache_clear()
