"""The local Lambda runtime: handler modules named as in Lambda, log lines stamped per invocation."""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from filescan_local.lambda_runtime import FunctionRuntime
from filescan_local.topology import FunctionSpec
from filescan_shared.observability import logger

HANDLER = """
from filescan_shared.observability import logger


@logger.inject_lambda_context
def lambda_handler(event, context):
    event["barrier"].wait(timeout=10)  # every invocation has started (and injected its context)
    logger.info("marker", marker=event["marker"])
    return {"module": lambda_handler.__wrapped__.__module__, "copy": id(globals())}
"""


def _function(tmp_path: Path, name: str) -> FunctionSpec:
    code = tmp_path / name
    code.mkdir()
    (code / "app.py").write_text(HANDLER)
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
    return FunctionSpec(name, name, arn, str(code), "app.lambda_handler", 30, {})


def _concurrently(calls: list[tuple[FunctionRuntime, str]]) -> list[Any]:
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, runtime: FunctionRuntime, marker: str) -> None:
        results[index] = runtime.invoke({"barrier": barrier, "marker": marker})

    threads = [threading.Thread(target=run, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_given_two_execution_environments_when_loaded_then_both_modules_are_app_as_in_lambda(tmp_path):
    runtime = FunctionRuntime(_function(tmp_path, "enqueue"), concurrency=2)

    first, second = _concurrently([(runtime, "a"), (runtime, "b")])

    assert first["copy"] != second["copy"]  # two copies, as two execution environments
    # Powertools idempotency keys start with <module>.<qualname>: the same in both copies, as deployed.
    assert first["module"] == second["module"] == "app"
    assert "app" not in sys.modules


def test_given_two_functions_running_at_once_when_they_log_then_each_line_names_its_own_function(tmp_path):
    enqueue = FunctionRuntime(_function(tmp_path, "filescan-enqueue"), concurrency=1)
    status = FunctionRuntime(_function(tmp_path, "filescan-status"), concurrency=1)
    lines: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(logger.registered_formatter.format(record)))

    collector = Collect()
    logging.getLogger(logger.name).addHandler(collector)
    try:
        _concurrently([(enqueue, "from-enqueue"), (status, "from-status")])
    finally:
        logging.getLogger(logger.name).removeHandler(collector)

    names = {line["marker"]: line["function_name"] for line in lines if line.get("marker")}
    assert names == {"from-enqueue": "filescan-enqueue", "from-status": "filescan-status"}
