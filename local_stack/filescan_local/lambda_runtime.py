"""Lambda handlers in-process: each function's ``app.py`` loaded as its own module, per environment.

Every handler module is called ``app``, as in Lambda; each copy is a separate module object (none
stays registered in ``sys.modules`` under that shared name).
Like Lambda, one loaded copy (an "execution environment") serves one event at a time: concurrent
invocations get separate copies (module-level state such as Powertools' ``BatchProcessor`` is not
thread-safe), created on demand up to the function's concurrency and reused afterwards.
"""

from __future__ import annotations

import contextlib
import importlib.util
import queue
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from filescan_local.role_credentials import acting_as
from filescan_local.topology import FunctionSpec

_IMPORT_LOCK = threading.Lock()
"""Cold starts run one at a time: concurrent first imports of shared packages can see them half-built."""


class LocalContext:
    """The parts of ``LambdaContext`` the handlers and Powertools read."""

    def __init__(self, function: FunctionSpec) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """Loads and invokes one function's handler, at most ``concurrency`` invocations at a time."""

    def __init__(self, function: FunctionSpec, concurrency: int, access_key: str | None = None) -> None:
        self.function = function
        self.access_key = access_key
        """The function role's local key: the invocation's AWS calls sign with it (``role_credentials``)."""
        self.concurrency = max(1, concurrency)
        self._idle: queue.LifoQueue[ModuleType] = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.concurrency)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Run the handler on ``event`` and return its result (its exception propagates)."""
        with self._slots:
            module = self._checkout()
            context = LocalContext(self.function)
            try:
                handler = getattr(module, self.function.handler.rsplit(".", 1)[1])
                with acting_as(self.access_key), _lambda_log_keys(context):
                    return handler(event, context)
            finally:
                self._idle.put(module)

    def _checkout(self) -> ModuleType:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            self._created += 1
        return self._load()

    def _load(self) -> ModuleType:
        """A cold start: execute the handler file as a fresh module."""
        name = self.function.handler.rsplit(".", 1)[0]
        path = Path(self.function.code_dir) / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        with _IMPORT_LOCK:
            # Named as Lambda names it (``app``), so what derives from ``__module__`` is the same in
            # every copy and as deployed: Powertools idempotency keys are
            # ``<function>.<module>.<qualname>#<hash>``. The name is in ``sys.modules`` only while the
            # module executes (every function's handler module is ``app``).
            previous = sys.modules.get(name)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            finally:
                if previous is None:
                    sys.modules.pop(name, None)
                else:
                    sys.modules[name] = previous
        return module

    def warm(self) -> None:
        """Create one execution environment now (a failing import is left for the first invoke)."""
        try:
            module = self._load()
        except Exception:
            return
        with self._lock:
            self._created += 1
        self._idle.put(module)


@contextlib.contextmanager
def _lambda_log_keys(context: LocalContext) -> Iterator[None]:
    """Stamp the log lines of this invocation's thread with its own function, request id and ARN.

    In Lambda every function has its own process, so the context keys ``inject_lambda_context``
    appends to the (process-wide) Powertools formatter name one function. Here the functions share a
    process and that formatter: the last invocation to start would name every function's lines.
    Powertools' thread-safe keys are per thread and take precedence over the appended ones.
    """
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model  # noqa: PLC0415

    from filescan_shared.observability import logger  # noqa: PLC0415 - the functions' logger

    keys = build_lambda_context_model(context).__dict__
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)


def merged_environment(functions: list[FunctionSpec]) -> dict[str, str]:
    """One process environment serving every function (they share a process locally).

    The functions' variables never disagree in the template (shared names carry the same values);
    a disagreement would make in-process emulation wrong, so it is refused.
    """
    merged: dict[str, str] = {}
    for function in functions:
        for name, value in function.environment.items():
            if name in merged and merged[name] != value:
                raise ValueError(f"functions disagree on {name}: {merged[name]!r} != {value!r}")
            merged[name] = value
    return merged
