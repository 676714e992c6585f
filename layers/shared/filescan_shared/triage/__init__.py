"""LLM triage of a scan: a human-readable summary that can raise, never lower, the severity.

Entry point: :func:`triage`. Importing this package does not import ``openai`` or ``tiktoken``.
"""

from filescan_shared.triage.config import DEFAULT_PRICES, LlmConfig, ModelPrice
from filescan_shared.triage.llm import ClientFactory, default_client_factory
from filescan_shared.triage.models import (
    FileFacts,
    TokenUsage,
    TriageAnswer,
    TriageFinding,
    TriageInput,
    TriageResult,
)
from filescan_shared.triage.prompt import PROMPT_VERSION
from filescan_shared.triage.service import misconfigured, triage

__all__ = [
    "DEFAULT_PRICES",
    "PROMPT_VERSION",
    "ClientFactory",
    "FileFacts",
    "LlmConfig",
    "ModelPrice",
    "TokenUsage",
    "TriageAnswer",
    "TriageFinding",
    "TriageInput",
    "TriageResult",
    "default_client_factory",
    "misconfigured",
    "triage",
]
