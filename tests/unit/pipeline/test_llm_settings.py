"""The LLM a deployed function builds from its settings: one definition for analysis and the fast path."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from filescan_shared.pipeline.llm_settings import DeployedLlm
from filescan_shared.process_caches import reset_process_caches
from filescan_shared.settings import AnalysisSettings, ConfigurationError
from filescan_shared.triage.model_profiles import ModelProfile

REQUIRED = {
    "scans_table": "scans",
    "uploads_bucket": "uploads",
    "reports_bucket": "reports",
    "event_bus_name": "bus",
    "job_queue_standard": "standard",
    "job_queue_priority": "priority",
    "idempotency_table": "idempotency",
}


def _settings(**values: object) -> AnalysisSettings:
    return AnalysisSettings.model_validate(REQUIRED | values)


def test_given_a_model_profile_when_the_config_is_built_then_both_functions_send_what_it_says() -> None:
    profile = '{"token_parameter": "max_tokens", "temperature": false, "response_mode": "json_schema"}'
    settings = _settings(openai_model="vendor-small-2", openai_model_profile=profile, llm_timeout_seconds=7)

    config = DeployedLlm(settings).config()

    assert config.model_profile == ModelProfile(
        token_parameter="max_tokens", temperature=False, response_mode="json_schema"
    )
    assert (config.model, config.request_timeout_seconds, config.api_key) == ("vendor-small-2", 7, None)


def test_given_a_malformed_model_profile_when_the_config_is_built_then_it_is_a_configuration_error() -> None:
    settings = _settings(openai_model_profile='{"response_mode": ')

    with pytest.raises(ConfigurationError, match="OPENAI_MODEL_PROFILE"):
        DeployedLlm(settings).config()


def test_given_the_fast_path_handler_when_loaded_then_it_builds_the_llm_as_analysis_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in {**{k.upper(): v for k, v in REQUIRED.items()}, "FAST_SCAN_DLQ_URL": "dlq"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENAI_MODEL_PROFILE", '{"temperature": false}')
    reset_process_caches()
    # Loaded under its own name, so the module other tests import stays as they left it.
    path = Path(__file__).parents[3] / "scanner_job" / "filescan_scanner" / "lambda_handler.py"
    spec = importlib.util.spec_from_file_location("filescan_test_llm_scan_function", path)
    assert spec is not None and spec.loader is not None
    handler = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(handler)
        assert handler.llm_config().model_profile == ModelProfile(temperature=False)
    finally:
        reset_process_caches()
