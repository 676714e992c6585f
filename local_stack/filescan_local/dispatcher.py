"""Event sources -> Lambda handlers, as the Lambda service would deliver them.

* SQS event source mappings (enqueue): batches of up to ``BatchSize`` messages, partial-failure
  reporting (only the successful messages are deleted; failed ones reappear after the visibility
  timeout and moto's redrive moves them to the DLQ after ``maxReceiveCount``).
* EventBridge rule targets (status, analysis): rules deliver to a per-function SQS mailbox; each
  event is then invoked asynchronously with the function's retries (``MaximumRetryAttempts``),
  and an event that still fails goes to the function's dead-letter queue.
* Schedules (sweeper): ``rate(...)`` expressions, or a faster local interval.
* Direct invokes (Lambda Invoke through the control server; the HTTP API).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import logging
import threading
import time
import uuid
from typing import Any

from filescan_local.lambda_runtime import FunctionRuntime
from filescan_local.topology import FunctionSpec, QueueSpec, SqsSourceSpec, Topology

log = logging.getLogger("filescan.local.dispatcher")


@dataclasses.dataclass(frozen=True)
class DispatchSettings:
    """Local knobs (defaults keep Lambda's semantics, faster)."""

    concurrency: int = 4
    """At most this many concurrent invocations per function (and the SQS source's own cap)."""
    retry_delays: tuple[float, ...] = (1.0, 2.0)
    """Waits before asynchronous retries (Lambda waits about 1 and 2 minutes)."""
    sweep_interval: float | None = None
    """Seconds between sweeper runs; ``None`` = the template's schedule; 0 = never."""
    poll_wait_seconds: int = 1


class Dispatcher:
    """Runs every function's event sources against in-process handlers."""

    def __init__(
        self,
        topology: Topology,
        sqs: Any,
        settings: DispatchSettings,
        access_keys: dict[str, str] | None = None,
    ) -> None:
        """``access_keys``: function logical id -> its role's local key (``None``: the operator's)."""
        self._topology = topology
        self._sqs = sqs
        self._settings = settings
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._runtimes: dict[str, FunctionRuntime] = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.concurrency * max(1, len(topology.functions)), thread_name_prefix="lambda"
        )
        self._urls: dict[str, str] = {}
        for function in topology.functions.values():
            concurrency = settings.concurrency
            for source in function.sqs_sources:
                concurrency = min(concurrency, source.max_concurrency)
            key = (access_keys or {}).get(function.logical_id)
            self._runtimes[function.name] = FunctionRuntime(function, concurrency, key)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Warm one environment per function, then start a poller per event source and the schedules."""
        for runtime in self._runtimes.values():
            runtime.warm()
        for function in self._topology.functions.values():
            runtime = self._runtimes[function.name]
            for source in function.sqs_sources:
                for index in range(runtime.concurrency):
                    self._spawn(f"sqs-{function.logical_id}-{index}", self._poll_sqs, function, source)
            if function.mailbox is not None:
                for index in range(runtime.concurrency):
                    self._spawn(f"mailbox-{function.logical_id}-{index}", self._poll_mailbox, function)
            interval = function.schedule_seconds
            if function.schedule_seconds is not None and self._settings.sweep_interval is not None:
                interval = self._settings.sweep_interval
            if interval:
                self._spawn(f"schedule-{function.logical_id}", self._schedule, function, interval)

    def stop(self) -> None:
        """Stop polling; wait for running invocations."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    # -- invocation ---------------------------------------------------------------------------------

    def function(self, name_or_logical_id: str) -> FunctionSpec:
        """A function by local name or logical id."""
        for function in self._topology.functions.values():
            if name_or_logical_id in {function.name, function.logical_id}:
                return function
        raise KeyError(name_or_logical_id)

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """A synchronous invoke (RequestResponse)."""
        return self._runtimes[self.function(name).name].invoke(event)

    def invoke_async(self, name: str, event: dict[str, Any]) -> concurrent.futures.Future[None]:
        """An asynchronous invoke (``Event``): retried, then dead-lettered."""
        return self._pool.submit(self._invoke_with_retries, self.function(name), event)

    def invoke_raw(self, name: str, payload: bytes, asynchronous: bool) -> tuple[int, bytes, bool]:
        """Lambda Invoke as the control server serves it."""
        try:
            event = json.loads(payload or b"{}")
            if asynchronous:
                self.invoke_async(name, event)
                return 202, b"", False
            return 200, json.dumps(self.invoke(name, event), default=str).encode(), False
        except KeyError:
            return 404, json.dumps({"message": f"Function not found: {name}"}).encode(), False
        except Exception as error:
            body = {"errorMessage": str(error), "errorType": type(error).__name__}
            return 200, json.dumps(body).encode(), True

    def _invoke_with_retries(self, function: FunctionSpec, event: dict[str, Any]) -> None:
        runtime = self._runtimes[function.name]
        delays = list(self._settings.retry_delays[: function.async_retries])
        delays += [delays[-1] if delays else 0.0] * (function.async_retries - len(delays))
        error: Exception | None = None
        for attempt in range(function.async_retries + 1):
            if attempt:
                time.sleep(delays[attempt - 1])
            try:
                runtime.invoke(event)
                return
            except Exception as caught:
                error = caught
                log.warning("%s failed (attempt %d): %s", function.logical_id, attempt + 1, caught)
        if function.dlq_arn:
            self._sqs.send_message(
                QueueUrl=self._queue_url(self._topology.queue_by_arn(function.dlq_arn)),
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {"DataType": "String", "StringValue": str(error)[:256]},
                },
            )
        log.error("%s gave up on an event after %d attempts", function.logical_id, function.async_retries + 1)

    # -- sources ------------------------------------------------------------------------------------

    def _queue_url(self, queue: QueueSpec) -> str:
        if queue.name not in self._urls:
            self._urls[queue.name] = self._sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        return self._urls[queue.name]

    def _receive(self, queue: QueueSpec, maximum: int) -> list[dict[str, Any]]:
        try:
            response = self._sqs.receive_message(
                QueueUrl=self._queue_url(queue),
                MaxNumberOfMessages=maximum,
                WaitTimeSeconds=self._settings.poll_wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
        except Exception:
            if not self._stop.is_set():
                log.exception("receive from %s failed", queue.name)
                time.sleep(0.5)
            return []
        return list(response.get("Messages", []))

    def _poll_sqs(self, function: FunctionSpec, source: SqsSourceSpec) -> None:
        queue = self._topology.queue_by_arn(source.queue_arn)
        runtime = self._runtimes[function.name]
        while not self._stop.is_set():
            messages = self._receive(queue, min(source.batch_size, 10))
            if not messages:
                continue
            event = {"Records": [_sqs_record(message, source.queue_arn) for message in messages]}
            try:
                result = runtime.invoke(event)
            except Exception:
                log.exception("%s failed on a batch of %d", function.logical_id, len(messages))
                continue  # nothing deleted: every message reappears after the visibility timeout
            failed = set()
            if source.report_batch_item_failures and isinstance(result, dict):
                failed = {item.get("itemIdentifier") for item in result.get("batchItemFailures") or []}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url(queue),
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )

    def _poll_mailbox(self, function: FunctionSpec) -> None:
        assert function.mailbox is not None
        queue = function.mailbox
        while not self._stop.is_set():
            for message in self._receive(queue, 10):
                try:
                    event = json.loads(message["Body"])
                except ValueError:
                    log.error("undecodable event in %s dropped", queue.name)
                else:
                    self._invoke_with_retries(function, event)
                try:
                    self._sqs.delete_message(
                        QueueUrl=self._queue_url(queue), ReceiptHandle=message["ReceiptHandle"]
                    )
                except Exception:
                    log.warning("could not delete a delivered event from %s", queue.name)

    def _schedule(self, function: FunctionSpec, interval: float) -> None:
        while not self._stop.wait(interval):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": "us-east-1",
                "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{function.name}-schedule"],
                "detail": {},
            }
            self._invoke_with_retries(function, event)


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message in the shape Lambda's event source mapping delivers it."""
    body = message["Body"]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": body,
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),  # noqa: S324
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "us-east-1",
    }
