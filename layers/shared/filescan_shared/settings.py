"""Configuration from environment variables, validated once at cold start.

Each function reads only the settings class it needs. A missing or malformed variable stops the cold
start with a ``ConfigurationError`` that names the variable, instead of failing later mid-event.
"""

import functools
import json
import os
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from filescan_shared.pipeline.sizing import S3_MAX_OBJECT_BYTES, JobTargets

if TYPE_CHECKING:
    from filescan_shared.engines.catalogue import Catalogue
    from filescan_shared.pipeline.engine_plan import EnginePlan

# pydantic-settings would read the environment for us, but importing it costs ~100 ms of cold start
# (measured with bench/cold_start.py); mapping FIELD_NAME -> field_name is all we need of it.


class ConfigurationError(RuntimeError):
    """The environment does not hold a valid configuration; the message names each bad variable."""


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


CommaList = Annotated[tuple[str, ...], BeforeValidator(_split_commas)]
"""A comma-separated environment variable (``".iso, .vmdk"``) as a tuple of trimmed items."""


def _json_object(value: object) -> object:
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return value


JsonNames = Annotated[dict[str, str], BeforeValidator(_json_object)]
"""A JSON object of names to strings (``{"clamav": "arn:aws:batch:..."}``); empty means ``{}``."""


class EngineSettings(BaseModel):
    """Functions that fan scans out to engines or follow engine jobs: which engines, which jobs.

    Resolved against the layer's engine catalogue when the settings are validated, so an enabled
    engine the catalogue does not know, or one without a job definition, stops the cold start.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    enabled_engines: CommaList = ("filescan",)
    engine_job_definitions: JsonNames = Field(default_factory=dict)
    """Engine name -> Batch job definition ARN, for every enabled engine but filescan."""

    @model_validator(mode="after")
    def _engines_resolve(self) -> "EngineSettings":
        from filescan_shared.pipeline.engine_plan import EngineConfigurationError  # noqa: PLC0415

        try:
            self.engine_plan()
        except EngineConfigurationError as error:
            raise ValueError(f"ENABLED_ENGINES / ENGINE_JOB_DEFINITIONS: {error}") from None
        return self

    def engine_plan(self, catalogue: "Catalogue | None" = None) -> "EnginePlan":
        """The enabled engines resolved against ``catalogue`` (default: the layer's bundled one)."""
        # Imported here: the catalogue's models load only when a settings class with engines does.
        from filescan_shared.engines.catalogue import bundled_catalogue  # noqa: PLC0415
        from filescan_shared.pipeline.engine_plan import plan_engines  # noqa: PLC0415

        return plan_engines(
            self.enabled_engines, self.engine_job_definitions, catalogue or bundled_catalogue()
        )


class CommonSettings(BaseModel):
    """What every function needs: where scans are recorded and where objects and reports live.

    Each field is read from the environment variable of the same name in upper case.
    """

    # Each function validates one of these classes; defer_build keeps the others from being built.
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    scans_table: str = Field(min_length=3)
    uploads_bucket: str = Field(min_length=3)
    scan_prefix: str = ""
    reports_bucket: str = Field(min_length=3)
    reports_prefix: str = "reports/"
    event_bus_name: str = Field(min_length=1)
    idempotency_table: str = ""

    def report_key(self, scan_id: str) -> str:
        """The S3 key of a scan's report in the reports bucket."""
        return f"{self.reports_prefix}{scan_id}.json"


class JobTrackingSettings(CommonSettings, EngineSettings):
    """Functions that follow Batch jobs: they must know which job queues and engines are filescan's."""

    job_queue_standard: str = Field(min_length=1)
    job_queue_priority: str = Field(min_length=1)
    job_queue_ec2: str = ""
    """The EC2 queue of the largest size class (``pipeline/sizing.py``); empty when not deployed."""

    @property
    def job_queues(self) -> frozenset[str]:
        """The ARNs of filescan's job queues."""
        return frozenset(
            q for q in (self.job_queue_standard, self.job_queue_priority, self.job_queue_ec2) if q
        )


class SubmitSettings(BaseModel):
    """Functions that submit scanner jobs: one job definition per disk class, and the EC2 queue."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    job_definition: str = Field(min_length=1)
    job_definition_large_disk: str = ""
    job_definition_ec2: str = ""
    job_queue_ec2: str = ""

    @property
    def job_targets(self) -> JobTargets:
        """Where each size class runs (``pipeline/sizing.py``)."""
        return JobTargets(
            self.job_definition, self.job_definition_large_disk, self.job_definition_ec2, self.job_queue_ec2
        )


class EnqueueSettings(JobTrackingSettings, SubmitSettings):
    """The enqueue function: scope rules, Batch targets and the content-cache key."""

    max_object_bytes: int = Field(default=S3_MAX_OBJECT_BYTES, gt=0)
    excluded_extensions: CommaList = ()
    priority_prefixes: CommaList = ()
    scanner_version: str = Field(min_length=1)
    fast_scan_queue_url: str = ""
    fast_path_max_bytes: int = Field(default=0, ge=0)
    """Objects up to this size (in the smallest size class) go to the Lambda fast path; 0 = off."""


class AnalysisSettings(JobTrackingSettings):
    """The analysis function: LLM, quarantine and cost configuration."""

    idempotency_table: str = Field(min_length=3)

    openai_model: str = "gpt-6-luna"
    """Kept equal to ``triage.model_profiles.DEFAULT_MODEL`` (a test checks; importing it here
    would load the triage package at every cold start)."""
    openai_base_url: str = ""
    openai_model_profile: str = ""
    """JSON ``ModelProfile`` replacing the model family's request profile; empty = the family's."""
    openai_api_key_secret_arn: str = ""
    llm_timeout_seconds: float = Field(default=20.0, gt=0, le=120)
    llm_max_prompt_tokens: int = Field(default=3000, ge=256, le=100_000)
    llm_engine_read_max_prompt_tokens: int = Field(default=16_000, ge=256, le=100_000)
    """Prompt budget per chunk when the LLM reads an unmapped engine's raw output (the triage
    summary's budget is far too small for raw output: ~750 bytes per chunk at 3,000 tokens)."""
    quarantine_mode: Literal["tag", "move"] = "tag"
    quarantine_prefix: str = "quarantine/"
    fargate_prices: str = ""
    """JSON price table for compute cost estimates; empty = built-in us-east-1 defaults."""
    job_definition: str = ""
    """filescan's job definitions, to resubmit an engine job escalated from Spot to on-demand;
    empty: filescan's own jobs are not escalated (other engines' come from ENGINE_JOB_DEFINITIONS)."""
    job_definition_large_disk: str = ""
    job_definition_ec2: str = ""

    @property
    def job_targets(self) -> JobTargets | None:
        """Filescan's size-class targets for escalated resubmissions, when configured."""
        if not self.job_definition:
            return None
        return JobTargets(
            self.job_definition, self.job_definition_large_disk, self.job_definition_ec2, self.job_queue_ec2
        )


class FastScanSettings(AnalysisSettings):
    """The scan function: analysis (verdict, tag, event, triage) and the fallback queue."""

    idempotency_table: str = ""
    """Unused here: a fast-path scan is concluded once, under its RUNNING claim."""
    fast_scan_dlq_url: str = Field(min_length=1)
    """The fast scan queue's dead-letter queue: its consumer submits the Batch job."""
    fast_scan_memory_mb: int = Field(default=1024, ge=128, le=10240)
    lambda_prices: str = ""
    """JSON ``LambdaPrices``; empty = built-in us-east-1 x86 list prices."""


class FastFallbackSettings(JobTrackingSettings, SubmitSettings):
    """The fallback consumer: the Batch targets and queues a fast-path scan falls back to."""


class ApiSettings(CommonSettings, SubmitSettings, EngineSettings):
    """The results API."""

    report_url_ttl_seconds: int = Field(default=300, ge=1, le=3600)
    download_url_ttl_seconds: int = Field(default=300, ge=1, le=3600)
    upload_url_ttl_seconds: int = Field(default=900, ge=1, le=7 * 24 * 3600)
    max_upload_bytes: int = Field(default=5 * 1024**3, gt=0)
    job_queue_standard: str = Field(min_length=1)
    cursor_key: str = ""
    """Optional extra secret mixed into the pagination cursors' HMAC key."""


class SweeperSettings(JobTrackingSettings):
    """The sweeper: when a scan counts as stuck, the work bound per run, and who finishes scans.

    Terminal transitions are handed to the analysis function, so only it tags and publishes.
    """

    analysis_function_name: str = Field(min_length=1)
    stuck_after_minutes: int = Field(default=30, ge=1)
    pending_deadline_minutes: int = Field(default=1440, ge=15, le=20160)
    """A scan still before RUNNING this long after its creation is failed (its job cancelled)."""
    running_margin_minutes: int = Field(default=15, ge=0)
    job_attempts: int = Field(default=3, ge=1, le=10)
    sweep_max_items: int = Field(default=200, ge=1, le=10_000)
    lookback_days: int = Field(default=14, ge=1, le=90)
    fast_scan_dlq_url: str = ""
    """The fast scan DLQ: stuck fast-path scans are re-routed to Batch through it (empty: path off)."""


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{name}: {item['msg']}")
    return "; ".join(problems)


@functools.cache
def load_settings[T: CommonSettings](settings_class: type[T]) -> T:
    """Read and validate ``settings_class`` from the environment once (cached for warm invocations).

    Raises ``ConfigurationError`` naming every missing or invalid variable.
    """
    environment = {
        name: os.environ[name.upper()] for name in settings_class.model_fields if name.upper() in os.environ
    }
    try:
        return settings_class.model_validate(environment)
    except ValidationError as error:
        raise ConfigurationError(
            f"invalid filescan configuration ({settings_class.__name__}): {_describe(error)}"
        ) from None
