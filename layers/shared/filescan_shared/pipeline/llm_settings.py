"""The LLM a deployed function uses, built from its settings: the analysis function and the fast path.

The API key comes from Secrets Manager (Powertools parameters, cached for five minutes), the model
profile from ``OPENAI_MODEL_PROFILE`` (a malformed one is a configuration error naming it). The
triage package and Powertools parameters are imported on first use: only scans that reach triage
(or an unmapped engine's output) pay for them.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import TYPE_CHECKING

from pydantic import SecretStr, ValidationError

from filescan_shared.settings import AnalysisSettings, ConfigurationError

if TYPE_CHECKING:
    from filescan_shared.triage import LlmConfig
    from filescan_shared.triage.engine_reader import LlmReader
    from filescan_shared.triage.model_profiles import ModelProfile

SECRET_MAX_AGE_SECONDS = 300


@dataclasses.dataclass(frozen=True)
class DeployedLlm:
    """The LLM configuration and the engine reader of one function's settings."""

    settings: AnalysisSettings

    def config(self) -> LlmConfig:
        """The triage LLM's configuration (reads the API key; raises ``ConfigurationError`` if broken)."""
        from filescan_shared.triage import LlmConfig  # noqa: PLC0415 - only scans reaching triage

        settings = self.settings
        key = None
        if settings.openai_api_key_secret_arn:
            from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415 - only with a key

            secret = parameters.get_secret(settings.openai_api_key_secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
            key = SecretStr(secret if isinstance(secret, str) else str(secret))
        return LlmConfig(
            api_key=key,
            model_profile=model_profile(settings.openai_model_profile),
            base_url=settings.openai_base_url or None,
            model=settings.openai_model,
            request_timeout_seconds=settings.llm_timeout_seconds,
            max_prompt_tokens=settings.llm_max_prompt_tokens,
        )

    def engine_reader(self, config: LlmConfig, deadline_seconds: float) -> LlmReader:
        """The LLM reader of engines without a mapping, with its own prompt budget per chunk."""
        from filescan_shared.triage.engine_reader import make_engine_reader  # noqa: PLC0415 - on first use

        budget = {"max_prompt_tokens": self.settings.llm_engine_read_max_prompt_tokens}
        return make_engine_reader(config.model_copy(update=budget), deadline_seconds=deadline_seconds)


@functools.cache
def model_profile(document: str) -> ModelProfile | None:
    """``OPENAI_MODEL_PROFILE`` parsed (``None`` when empty); a malformed one names what is wrong."""
    if not document:
        return None
    from filescan_shared.triage.model_profiles import ModelProfile  # noqa: PLC0415

    try:
        return ModelProfile.model_validate_json(document)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid OPENAI_MODEL_PROFILE: {problems}") from None
