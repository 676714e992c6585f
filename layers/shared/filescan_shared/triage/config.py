"""Configuration of the LLM triage step: endpoint, model, budgets and prices."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

ResponseMode = Literal["json_object", "json_schema"]
TokenizerChoice = Literal["auto", "cl100k_base", "utf8-bytes"]


class ModelPrice(BaseModel):
    """USD price per 1,000 tokens for one model."""

    model_config = ConfigDict(frozen=True)

    input_per_1k: Decimal = Field(ge=0)
    output_per_1k: Decimal = Field(ge=0)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    "gpt-3.5-turbo": ModelPrice(input_per_1k=Decimal("0.0005"), output_per_1k=Decimal("0.0015")),
}


class LlmConfig(BaseModel):
    """Where and how to ask the LLM. With neither ``api_key`` nor ``base_url`` the LLM is off.

    ``response_mode``: ``json_object`` (default; what gpt-3.5-turbo supports) asks for a JSON
    object and validates it strictly with pydantic; ``json_schema`` sends the answer's JSON schema
    as a structured-output format (for models that support it) and validates it the same way.

    Time: each HTTP attempt gets ``min(request_timeout_seconds, time left before the deadline)``;
    at most ``max_retries`` retries, with exponential backoff (or the server's Retry-After) only
    when the wait and a further attempt of at least ``min_attempt_seconds`` still fit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = "gpt-3.5-turbo"
    response_mode: ResponseMode = "json_object"
    tokenizer: TokenizerChoice = "auto"
    max_prompt_tokens: int = Field(default=3000, ge=200, le=100_000)
    max_answer_tokens: int = Field(default=700, ge=50, le=4096)
    max_findings_in_prompt: int = Field(default=50, ge=0, le=1000)
    max_field_chars: int = Field(default=200, ge=16, le=2000)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    request_timeout_seconds: float = Field(default=20.0, gt=0, le=600)
    max_retries: int = Field(default=2, ge=0, le=10)
    backoff_base_seconds: float = Field(default=0.5, ge=0, le=60)
    backoff_max_seconds: float = Field(default=4.0, ge=0, le=120)
    min_attempt_seconds: float = Field(default=1.0, gt=0, le=60)
    default_deadline_seconds: float = Field(default=25.0, gt=0, le=900)
    prices: Mapping[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    @model_validator(mode="after")
    def _check_backoff(self) -> "LlmConfig":
        if self.backoff_max_seconds < self.backoff_base_seconds:
            raise ValueError("backoff_max_seconds must be >= backoff_base_seconds")
        return self

    @property
    def enabled(self) -> bool:
        """True when an LLM endpoint is configured (an API key or a base URL)."""
        has_key = self.api_key is not None and self.api_key.get_secret_value() != ""
        return has_key or bool(self.base_url)
