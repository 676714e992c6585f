"""The triage step: rules summary always, LLM summary when configured, never an exception."""

import datetime as dt
import logging
import time
from collections.abc import Callable

from filescan_shared.severity import Verdict
from filescan_shared.triage.claims import LOWER_SEVERITY, forbidden_claims
from filescan_shared.triage.config import LlmConfig
from filescan_shared.triage.cost import estimate_cost
from filescan_shared.triage.llm import ClientFactory, call_llm, default_client_factory, safe_host
from filescan_shared.triage.merge import merge_severity
from filescan_shared.triage.model_profiles import retirement_message, shutdown_of
from filescan_shared.triage.models import FlaggedAnswer, TriageAnswer, TriageInput, TriageResult
from filescan_shared.triage.prompt import PROMPT_VERSION, PromptBudgetError, build_prompt
from filescan_shared.triage.rules import RulesSummary, summarise
from filescan_shared.triage.text import escape_controls
from filescan_shared.triage.tokens import counter_for

logger = logging.getLogger("filescan.triage")


def _elapsed_ms(start: float, clock: Callable[[], float]) -> int:
    return max(0, round((clock() - start) * 1000))


def _rules_result(inp: TriageInput, rules: RulesSummary, **fields: object) -> TriageResult:
    base: dict[str, object] = {
        "verdict": inp.verdict,
        "deterministic_severity": inp.severity,
        "final_severity": inp.severity,
        "summary": rules.summary,
        "key_findings": rules.key_findings,
        "recommended_actions": rules.recommended_actions,
        "findings_total": len(inp.findings),
    }
    base.update(fields)
    return TriageResult.model_validate(base)


def misconfigured(inp: TriageInput, detail: str) -> TriageResult:
    """The result when the LLM configuration itself cannot be read (e.g. a malformed profile).

    Like a refused configuration: ``status="misconfigured"`` with the reason, the deterministic
    summary stored, no request sent. The scan completes; the configuration error metric and alarm
    fire until the configuration is fixed.
    """
    logger.error("triage LLM configuration is invalid", extra={"detail": detail})
    return _rules_result(
        inp,
        summarise(inp),
        engine="llm",
        status="misconfigured",
        reason="invalid_configuration",
        reason_detail=detail,
        prompt_version=PROMPT_VERSION,
    )


def triage(
    inp: TriageInput,
    config: LlmConfig,
    *,
    deadline_seconds: float | None = None,
    client_factory: ClientFactory = default_client_factory,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    today: dt.date | None = None,
) -> TriageResult:
    """Summarise a scan for humans. Never raises; never lowers the deterministic severity.

    - No LLM configured: the deterministic summariser (``engine="rules"``, ``status="ok"``).
    - LLM answered validly: ``engine="llm"``, ``status="ok"``, severity = max(deterministic,
      suggested), verdict unchanged. An answer that contradicts the verdict (a lower severity, or
      words calling a not-clean file safe or recommending its release) is flagged
      (``contradiction``, ``contradiction_reasons``): the deterministic summary is stored and the
      model's words are kept only as ``flagged_answer``.
    - LLM failed (timeout, 429/5xx past the budget, refusal, garbage...): ``engine="llm"``,
      ``status="unavailable"``, ``reason`` set, and the deterministic summary filled in.
    - The configuration is at fault (an OpenAI model past its shutdown date: no request is sent;
      404 model_not_found, 400 unsupported_parameter/value, 401/403): ``status="misconfigured"``,
      ``reason`` and ``reason_detail`` say what and how to fix it; deterministic summary.

    ``deadline_seconds`` (default ``config.default_deadline_seconds``) bounds the whole call: pass
    the Lambda's remaining time minus a safety margin.
    """
    start = clock()
    try:
        return _triage(
            inp,
            config=config,
            start=start,
            deadline_seconds=deadline_seconds,
            client_factory=client_factory,
            clock=clock,
            sleep=sleep,
            today=today,
        )
    except Exception as exc:  # the scan must complete whatever happens here
        logger.error("triage failed unexpectedly", extra={"error_type": type(exc).__name__})
        return TriageResult(
            engine="llm" if config.enabled else "rules",
            status="unavailable",
            reason="internal_error",
            prompt_version=PROMPT_VERSION,
            verdict=inp.verdict,
            deterministic_severity=inp.severity,
            final_severity=inp.severity,
            summary=f"Verdict {inp.verdict.value}, severity {inp.severity.label}.",
            latency_ms=_elapsed_ms(start, clock),
        )


def _triage(
    inp: TriageInput,
    *,
    config: LlmConfig,
    start: float,
    deadline_seconds: float | None,
    client_factory: ClientFactory,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    today: dt.date | None,
) -> TriageResult:
    rules = summarise(inp)
    if not config.enabled:
        return _rules_result(inp, rules, engine="rules", status="ok", reason="llm_not_configured")

    deadline = start + (config.default_deadline_seconds if deadline_seconds is None else deadline_seconds)
    counter = counter_for(config.model, config.tokenizer)
    common: dict[str, object] = {
        "engine": "llm",
        "model": config.model,
        "response_mode": config.profile.response_mode,
        "prompt_version": PROMPT_VERSION,
        "tokenizer": counter.name,
        "max_prompt_tokens": config.max_prompt_tokens,
    }
    try:
        prompt = build_prompt(
            inp,
            counter,
            config.max_prompt_tokens,
            max_findings=config.max_findings_in_prompt,
            max_field_chars=config.max_field_chars,
        )
    except PromptBudgetError:
        return _rules_result(
            inp,
            rules,
            status="unavailable",
            reason="prompt_budget",
            latency_ms=_elapsed_ms(start, clock),
            **common,
        )
    shutdown = shutdown_of(config.model, config.base_url)
    if shutdown is not None and shutdown.date <= (today or dt.datetime.now(dt.UTC).date()):
        logger.error(
            "triage LLM model is retired", extra={"detail": retirement_message(config.model, shutdown)}
        )
        return _rules_result(
            inp,
            rules,
            status="misconfigured",
            reason="model_retired",
            reason_detail=retirement_message(config.model, shutdown),
            **common,
        )
    common.update(
        prompt_tokens_counted=prompt.prompt_tokens,
        findings_in_prompt=prompt.findings_in_prompt,
        findings_omitted=prompt.findings_omitted,
    )
    client = client_factory(config)
    common["base_url_host"] = safe_host(client.base_url)
    outcome = call_llm(client, prompt.messages, config, deadline, TriageAnswer, clock=clock, sleep=sleep)
    usage = outcome.usage
    cost = (
        estimate_cost(config.model, usage.prompt_tokens, usage.completion_tokens, config.prices)
        if usage
        else None
    )
    common.update(
        attempts=outcome.attempts,
        usage=usage,
        cost_usd=str(cost) if cost is not None else None,
        latency_ms=_elapsed_ms(start, clock),
    )
    if outcome.answer is None:
        status = "misconfigured" if outcome.misconfigured else "unavailable"
        if outcome.misconfigured:
            logger.error(
                "triage LLM configuration error: every scan lacks its LLM summary until it is fixed",
                extra={"reason": outcome.reason, "detail": outcome.detail, "model": config.model},
            )
        return _rules_result(
            inp, rules, status=status, reason=outcome.reason, reason_detail=outcome.detail, **common
        )

    return _answered(inp, rules, outcome.answer, common)


def _answered(
    inp: TriageInput, rules: RulesSummary, answer: TriageAnswer, common: dict[str, object]
) -> TriageResult:
    """The result of a valid answer: its words, unless they contradict the verdict."""
    suggested = answer.suggested_severity
    merged = merge_severity(inp.severity, suggested)
    # The model's text is displayed to people: make it inert too (control/bidi characters).
    words = FlaggedAnswer(
        summary=escape_controls(answer.summary),
        key_findings=[escape_controls(k) for k in answer.key_findings],
        recommended_actions=[escape_controls(a) for a in answer.recommended_actions],
    )
    reasons = [LOWER_SEVERITY] if merged.contradiction else []
    if inp.verdict is not Verdict.CLEAN:
        reasons += forbidden_claims([words.summary, *words.key_findings, *words.recommended_actions])
    fields: dict[str, object] = {
        **common,
        "status": "ok",
        "deterministic_severity": inp.severity,
        "suggested_severity": suggested,
        "final_severity": merged.final,
        "llm_raised_severity": merged.raised,
    }
    if reasons:
        logger.warning(
            "triage LLM answer contradicts the verdict; stored the deterministic summary instead",
            extra={"reasons": reasons, "verdict": inp.verdict.value, "suggested": suggested.label},
        )
        return _rules_result(
            inp, rules, contradiction=True, contradiction_reasons=reasons, flagged_answer=words, **fields
        )
    return TriageResult.model_validate(
        {
            **fields,
            **words.model_dump(),
            "verdict": inp.verdict,
            "summary_source": "llm",
            "findings_total": len(inp.findings),
        }
    )
