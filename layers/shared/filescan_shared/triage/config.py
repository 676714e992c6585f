"""Configuration of the LLM triage step: endpoint, model, budgets and prices."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from filescan_shared.triage.model_profiles import DEFAULT_MODEL, ModelProfile, ResponseMode, profile_for

TokenizerChoice = Literal["auto", "cl100k_base", "utf8-bytes"]


class ModelPrice(BaseModel):
    """USD price per 1,000 tokens for one model."""

    model_config = ConfigDict(frozen=True)

    input_per_1k: Decimal = Field(ge=0)
    output_per_1k: Decimal = Field(ge=0)


DEFAULT_PRICES: Mapping[str, ModelPrice] = {
    # https://developers.openai.com/api/docs/models/gpt-6-luna: $0.10 / $0.50 per million tokens.
    "gpt-6-luna": ModelPrice(input_per_1k=Decimal("0.0001"), output_per_1k=Decimal("0.0005")),
}


class LlmConfig(BaseModel):
    """Where and how to ask the LLM. With neither ``api_key`` nor ``base_url`` the LLM is off.

    The request follows the model (``model_profiles``): its answer-length parameter, whether it
    takes a temperature, its reasoning effort, and ``response_mode``: ``json_schema`` (strict
    structured outputs) where the model family supports it, ``json_object`` (JSON mode) elsewhere;
    the answer is validated strictly with pydantic either way. ``model_profile`` replaces the
    family's profile (an Azure deployment or a self-hosted model); ``response_mode`` overrides
    only the mode.

    Time: each HTTP attempt gets ``min(request_timeout_seconds, time left before the deadline)``;
    at most ``max_retries`` retries, with exponential backoff (or the server's Retry-After) only
    when the wait and a further attempt of at least ``min_attempt_seconds`` still fit.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    api_key: SecretStr | None = None
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    model_profile: ModelProfile | None = None
    response_mode: ResponseMode | None = None
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
    def profile(self) -> ModelProfile:
        """The request profile in force: the override, else the model family's, with ``response_mode``."""
        profile = profile_for(self.model, self.model_profile)
        if self.response_mode is not None:
            profile = profile.model_copy(update={"response_mode": self.response_mode})
        return profile

    @property
    def enabled(self) -> bool:
        """True when an LLM endpoint is configured (an API key or a base URL)."""
        has_key = self.api_key is not None and self.api_key.get_secret_value() != ""
        return has_key or bool(self.base_url)
