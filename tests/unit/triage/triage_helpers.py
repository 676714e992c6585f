"""Builders for the triage tests: inputs, findings and configs pointing at the fake server."""

from __future__ import annotations

from typing import Any

from filescan_shared.report.vocabulary import FindingCategory
from filescan_shared.severity import Severity, Verdict
from filescan_shared.triage import FileFacts, LlmConfig, TriageFinding, TriageInput
from tests.support.fake_openai import FakeOpenAIServer

API_KEY = "sk-test-SECRET-4f9c2d7e1b"


def finding(
    severity: Severity = Severity.HIGH,
    *,
    rule_id: str = "office_macro_autoexec",
    title: str = "Office macro with auto-exec entry point",
    category: FindingCategory = FindingCategory.MACRO,
    engine: str = "yara",
    evidence: str | None = "Sub AutoOpen()",
    archive_path: str | None = "word/vbaProject.bin",
    offset: int | None = 1024,
) -> TriageFinding:
    return TriageFinding(
        engine=engine,
        rule_id=rule_id,
        category=category,
        severity=severity,
        title=title,
        archive_path=archive_path,
        offset=offset,
        evidence=evidence,
    )


def make_input(
    *,
    verdict: Verdict = Verdict.SUSPICIOUS,
    severity: Severity = Severity.HIGH,
    findings: tuple[TriageFinding, ...] | None = None,
    object_key: str = "uploads/invoice-2026.docm",
    **extra: Any,
) -> TriageInput:
    return TriageInput(
        scan_id="scan-0123456789abcdef",
        object_key=object_key,
        file=FileFacts(
            size=48_213, sha256="ab" * 32, mime="application/vnd.ms-word.document.macroEnabled.12"
        ),
        verdict=verdict,
        severity=severity,
        findings=(finding(),) if findings is None else findings,
        **extra,
    )


def llm_config(server: FakeOpenAIServer, **overrides: Any) -> LlmConfig:
    values: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": server.base_url,
        "request_timeout_seconds": 5.0,
        "max_retries": 2,
        "backoff_base_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        "min_attempt_seconds": 0.2,
    }
    values.update(overrides)
    return LlmConfig(**values)
