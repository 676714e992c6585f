"""Which request a model accepts, and which OpenAI models are shut down.

Newer OpenAI models reject parameters older ones took: reasoning models (GPT-5 and later, the
o-series) answer ``400 unsupported_parameter`` to ``max_tokens`` (they take
``max_completion_tokens``) and ``unsupported_value`` to any ``temperature`` but the default, and
they spend part of the completion budget on reasoning unless ``reasoning_effort`` keeps it small.
A small table keyed by model family picks the request; ``LlmConfig.model_profile`` overrides it
(an Azure OpenAI deployment or a self-hosted model has a name of its own, so its family is unknown).

Shutdown dates are OpenAI's (https://developers.openai.com/api/docs/deprecations): a shut-down model
answers 404 ``model_not_found``. They apply only to OpenAI's own endpoint: an OpenAI-compatible
server chooses its own names (many self-hosted servers still serve a model called
``gpt-3.5-turbo``).
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

ResponseMode = Literal["json_object", "json_schema"]
TokenParameter = Literal["max_completion_tokens", "max_tokens"]
OPENAI_HOST = "api.openai.com"


class ModelProfile(BaseModel):
    """The request a model family accepts.

    ``token_parameter``: the name of the answer-length limit. ``temperature``: whether a
    temperature may be sent. ``response_mode``: ``json_schema`` (strict structured outputs) where
    the model supports it, else ``json_object`` (JSON mode). ``reasoning_effort``: sent when set;
    ``reasoning_tokens`` is added to the answer limit so reasoning cannot crowd the answer out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    token_parameter: TokenParameter = "max_completion_tokens"  # noqa: S105 - a parameter name
    temperature: bool = True
    response_mode: ResponseMode = "json_object"
    reasoning_effort: str | None = None
    reasoning_tokens: int = 0


_CLASSIC = ModelProfile(response_mode="json_schema")
_REASONING_NONE = ModelProfile(temperature=False, response_mode="json_schema", reasoning_effort="none")
_REASONING_LOW = ModelProfile(
    temperature=False, response_mode="json_schema", reasoning_effort="low", reasoning_tokens=2000
)
UNKNOWN_FAMILY = ModelProfile()
"""Any other name: the current parameter name, a temperature, JSON mode (the widest support)."""

# Family prefix -> profile; the longest matching prefix wins. GPT-6 and GPT-5.x take
# reasoning_effort "none" (a summary needs no reasoning); GPT-5 and the o-series start at "low".
FAMILIES: dict[str, ModelProfile] = {
    "gpt-6": _REASONING_NONE,
    "gpt-5.": _REASONING_NONE,
    "gpt-5": _REASONING_LOW,
    "o1": _REASONING_LOW,
    "o3": _REASONING_LOW,
    "o4": _REASONING_LOW,
    "gpt-4.1": _CLASSIC,
    "gpt-4o": _CLASSIC,
}

DEFAULT_MODEL = "gpt-6-luna"
"""OpenAI's most efficient current model for focused, high-volume tasks, the role GPT-3.5 Turbo had
here (https://developers.openai.com/api/docs/models/gpt-6-luna), and the deprecations page's
replacement for gpt-4.1-mini and gpt-4o-mini; no shutdown date announced (checked 2026-12-01)."""


@dataclass(frozen=True)
class Shutdown:
    """An OpenAI model's shutdown date and the replacement OpenAI names."""

    date: dt.date
    replacement: str


_OCT_2026 = Shutdown(dt.date(2026, 10, 23), DEFAULT_MODEL)
_DEC_2026 = Shutdown(dt.date(2026, 12, 11), DEFAULT_MODEL)
_JAN_2027 = Shutdown(dt.date(2027, 1, 14), DEFAULT_MODEL)
# Model name (and its dated snapshots: name + "-...") -> shutdown; the longest matching name wins.
SHUTDOWNS: dict[str, Shutdown] = {
    "gpt-3.5-turbo": _OCT_2026,
    "gpt-4": _OCT_2026,
    "gpt-4-turbo": _OCT_2026,
    "gpt-4.1-nano": _OCT_2026,
    "o1": _OCT_2026,
    "o3-mini": _OCT_2026,
    "o4-mini": _OCT_2026,
    "gpt-5": _DEC_2026,
    "o3": _DEC_2026,
    "gpt-4o": _JAN_2027,
    "gpt-4o-mini": _JAN_2027,
    "gpt-4.1": _JAN_2027,
    "gpt-4.1-mini": _JAN_2027,
}


def _longest[T](model: str, table: dict[str, T], separators: tuple[str, ...]) -> T | None:
    """The entry of the longest key naming ``model``.

    A key names the model itself, ``key + separator...``, or, for a key ending in a separator
    (``gpt-5.``), any name it starts.
    """
    name = model.strip().lower()
    matches = [
        key
        for key in table
        if name == key
        or name.startswith(tuple(key + s for s in separators))
        or (key[-1] in separators and name.startswith(key))
    ]
    return table[max(matches, key=len)] if matches else None


def profile_for(model: str, override: ModelProfile | None = None) -> ModelProfile:
    """The request profile of ``model``: ``override`` if given, else its family's, else the default."""
    return override or _longest(model, FAMILIES, ("-", ".")) or UNKNOWN_FAMILY


def is_openai_endpoint(base_url: str | None) -> bool:
    """Whether requests go to OpenAI itself (no base URL, or OpenAI's host)."""
    return not base_url or urlsplit(base_url).hostname == OPENAI_HOST


def shutdown_of(model: str, base_url: str | None) -> Shutdown | None:
    """The announced shutdown of an OpenAI model served by OpenAI, else ``None``."""
    return _longest(model, SHUTDOWNS, ("-",)) if is_openai_endpoint(base_url) else None


def retirement_message(model: str, shutdown: Shutdown) -> str:
    """One clear sentence for an operator."""
    return (
        f"OpenAI shut model {model!r} down on {shutdown.date.isoformat()}; "
        f"set OpenAIModel (OPENAI_MODEL) to {shutdown.replacement!r} or another current model"
    )
