"""The OpenAI-compatible chat call: bounded time, bounded retries, strict answer validation.

The client is built with ``max_retries=0``: this module does the retrying itself so that every
attempt's timeout, every backoff and every Retry-After wait fits inside one deadline. ``openai`` is
imported lazily (only the analysis function ships it).

Limit: the per-attempt timeout is the SDK's (httpx) timeout, which bounds connecting and each read;
a server that keeps trickling bytes could stretch one attempt. Answers are small (their length is
bounded), so in practice the deadline holds; the analysis Lambda keeps a margin anyway.
"""

import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from filescan_shared.triage.config import LlmConfig
from filescan_shared.triage.models import LlmAnswer, TokenUsage
from filescan_shared.triage.prompt import answer_json_schema
from filescan_shared.triage.text import safe_text

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types.chat import ChatCompletion

logger = logging.getLogger("filescan.triage")

# Not a secret: sent to keyless (local) endpoints, because the client requires some key.
NO_KEY_PLACEHOLDER = "no-key-configured"

ClientFactory = Callable[[LlmConfig], "OpenAI"]


def default_client_factory(config: LlmConfig) -> "OpenAI":
    """An ``openai.OpenAI`` client for ``config`` with SDK retries off (retries are done here)."""
    import openai  # noqa: PLC0415 - lazy: only the analysis function has openai

    key = config.api_key.get_secret_value() if config.api_key else ""
    return openai.OpenAI(
        api_key=key or NO_KEY_PLACEHOLDER,
        base_url=config.base_url or None,
        timeout=config.request_timeout_seconds,
        max_retries=0,
    )


def safe_host(url: object) -> str | None:
    """``host[:port]`` of a URL, without credentials, path or query."""
    parts = urlsplit(str(url))
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


@dataclass(frozen=True)
class LlmOutcome[A: LlmAnswer]:
    """The result of :func:`call_llm`: an answer, or the reason there is none."""

    answer: A | None
    reason: str | None
    attempts: int
    usage: TokenUsage | None
    misconfigured: bool = False
    """The endpoint refused the configuration (model, parameters, key), not a passing failure."""
    detail: str | None = None

    @classmethod
    def failed(cls, failure: "_Failure", attempts: int, usage: TokenUsage | None) -> "LlmOutcome[A]":
        """No answer, because of ``failure``."""
        return cls(None, failure.reason, attempts, usage, failure.misconfigured, failure.detail)


class _AnswerError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(config: LlmConfig, retry_number: int) -> float:
    """Exponential backoff with full jitter for retry ``retry_number`` (1-based), capped."""
    ceiling = min(config.backoff_max_seconds, config.backoff_base_seconds * 2 ** (retry_number - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not cryptography


def _usage(completion: "ChatCompletion") -> TokenUsage | None:
    usage = completion.usage
    if usage is None:
        return None
    return TokenUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def validate_answer[A: LlmAnswer](completion: "ChatCompletion", answer: type[A]) -> A:
    """Check the completion and parse its content strictly as ``answer``; raise ``_AnswerError``."""
    if not completion.choices:
        raise _AnswerError("empty_answer")
    choice = completion.choices[0]
    if choice.message.refusal:
        raise _AnswerError("refusal")
    if choice.finish_reason == "length":
        raise _AnswerError("truncated")
    if choice.finish_reason == "content_filter":
        raise _AnswerError("content_filter")
    content = (choice.message.content or "").strip()
    if not content:
        raise _AnswerError("empty_answer")
    try:
        data: Any = json.loads(content)
    except ValueError:
        raise _AnswerError("malformed_json") from None
    if not isinstance(data, dict):
        raise _AnswerError("schema_violation")
    try:
        return answer.model_validate(data)
    except ValidationError:
        raise _AnswerError("schema_violation") from None


def _request(
    client: "OpenAI",
    messages: list[dict[str, str]],
    config: LlmConfig,
    timeout: float,
    answer: type[LlmAnswer],
) -> "ChatCompletion":
    from openai.types.chat import ChatCompletion  # noqa: PLC0415 - lazy, as openai itself

    profile = config.profile
    params: dict[str, Any] = {
        "model": config.model,
        "messages": messages,
        "response_format": (
            answer_json_schema(answer) if profile.response_mode == "json_schema" else {"type": "json_object"}
        ),
        profile.token_parameter: config.max_answer_tokens + profile.reasoning_tokens,
        "timeout": timeout,
    }
    if profile.temperature:
        params["temperature"] = config.temperature
    if profile.reasoning_effort is not None:
        params["reasoning_effort"] = profile.reasoning_effort
    completion: object = client.chat.completions.create(**params)
    # A 200 whose body is not JSON (a proxy's HTML page) comes back from the SDK as a plain string.
    if not isinstance(completion, ChatCompletion):
        raise ValueError("the endpoint answered 200 with a body that is not a chat completion")
    return completion


# The endpoint refuses the configuration itself: retrying cannot help and it is not an outage.
# 404 model_not_found (a shut-down or unknown model, or an Azure deployment that does not exist),
# 400 unsupported_parameter / unsupported_value (max_tokens or temperature sent to a model that
# refuses them), 401/403 (a key that is wrong or lacks access).
CONFIGURATION_CODES = frozenset({"model_not_found", "unsupported_parameter", "unsupported_value"})
DETAIL_CHARS = 300


@dataclass(frozen=True)
class _Failure:
    reason: str
    retryable: bool = False
    wait: float | None = None
    misconfigured: bool = False
    detail: str | None = None


def _classify(exc: Exception) -> _Failure:
    """Map an SDK exception to a :class:`_Failure`.

    It says the reason, whether to retry, a server-requested wait, and whether the configuration
    (not the service) is at fault.
    """
    import openai  # noqa: PLC0415

    if isinstance(exc, openai.APIStatusError):
        detail = safe_text(str(getattr(exc, "message", "") or exc), DETAIL_CHARS)
        code = str(exc.code or "")
        if code in CONFIGURATION_CODES:
            return _Failure(code, misconfigured=True, detail=detail)
        if isinstance(exc, openai.NotFoundError):
            return _Failure("model_not_found", misconfigured=True, detail=detail)
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return _Failure("auth_error", misconfigured=True, detail=detail)
    wait: float | None = None
    if isinstance(exc, openai.RateLimitError | openai.InternalServerError):
        wait = parse_retry_after(exc.response.headers)
    table: list[tuple[type[Exception] | tuple[type[Exception], ...], str, bool]] = [
        (openai.RateLimitError, "rate_limited", True),
        (openai.APITimeoutError, "timeout", True),  # before its base class APIConnectionError
        (openai.APIConnectionError, "connection_error", True),
        (openai.InternalServerError, "server_error", True),
        ((openai.APIResponseValidationError, ValueError), "malformed_response", False),
    ]
    for kinds, reason, retryable in table:
        if isinstance(exc, kinds):
            return _Failure(reason, retryable, wait)
    if isinstance(exc, openai.APIStatusError):
        return _Failure(f"http_{exc.status_code}")
    return _Failure("client_error")


def call_llm[A: LlmAnswer](
    client: "OpenAI",
    messages: list[dict[str, str]],
    config: LlmConfig,
    deadline: float,
    answer: type[A],
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> LlmOutcome[A]:
    """Ask the LLM until an ``answer``, a non-retryable failure, ``max_retries`` or the deadline.

    ``deadline`` is an absolute ``clock()`` value. Every attempt's timeout is clamped to the time
    left, and a retry (backoff or Retry-After wait, then an attempt of at least
    ``min_attempt_seconds``) is only started if it fits, so the call ends by the deadline.
    """
    attempts = 0
    usage: TokenUsage | None = None
    failure = _Failure("deadline_exceeded")
    while True:
        remaining = deadline - clock()
        if remaining < config.min_attempt_seconds:
            return LlmOutcome.failed(failure, attempts, usage)
        attempts += 1
        try:
            timeout = min(config.request_timeout_seconds, remaining)
            completion = _request(client, messages, config, timeout, answer)
        except Exception as exc:  # classified below; nothing escapes
            failure = _classify(exc)
            logger.warning(
                "triage LLM attempt failed",
                extra={
                    "attempt": attempts,
                    "reason": failure.reason,
                    "misconfigured": failure.misconfigured,
                    "error_type": type(exc).__name__,
                },
            )
        else:
            usage = _usage(completion)
            try:
                return LlmOutcome(validate_answer(completion, answer), None, attempts, usage)
            except _AnswerError as exc:
                logger.warning(
                    "triage LLM answer rejected", extra={"attempt": attempts, "reason": exc.reason}
                )
                return LlmOutcome(None, exc.reason, attempts, usage)
        if not failure.retryable or attempts > config.max_retries:
            return LlmOutcome.failed(failure, attempts, usage)
        delay = failure.wait if failure.wait is not None else backoff_seconds(config, attempts)
        if clock() + delay + config.min_attempt_seconds > deadline:
            return LlmOutcome.failed(failure, attempts, usage)
        sleep(delay)
