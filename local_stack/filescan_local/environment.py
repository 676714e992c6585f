"""Point this process's environment at the local stack for as long as it runs.

The handlers run in this process and read their configuration like they do on Lambda: from
environment variables (function settings, ``AWS_ENDPOINT_URL*``, credentials). ``pointed_environment``
sets those for the duration of a ``with`` block and puts back what was there before, so a stack that
stops leaves the process as it found it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from filescan_shared.process_caches import reset_process_caches


@contextlib.contextmanager
def pointed_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` (an empty value removes the variable) and restore the old values on exit.

    Every ``AWS_ENDPOINT_URL_<SERVICE>`` already set and not named in ``variables`` is removed too: a
    service-specific endpoint left from the shell would otherwise win over the stack's
    ``AWS_ENDPOINT_URL``. Cached settings and clients are reset on entry and on exit.
    """
    wanted = {name: "" for name in os.environ if name.startswith("AWS_ENDPOINT_URL_")} | dict(variables)
    saved = {name: os.environ.get(name) for name in wanted}
    try:
        for name, value in wanted.items():
            _set(name, value or None)
        reset_process_caches()
        yield
    finally:
        for name, old in saved.items():
            _set(name, old)
        reset_process_caches()


def _set(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
