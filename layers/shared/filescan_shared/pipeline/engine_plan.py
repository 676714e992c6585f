"""Which engines a deployment runs, and where each one's jobs go: the enabled part of the catalogue.

``ENABLED_ENGINES`` names engines of the catalogue (``engines.catalogue``); every engine but
``filescan`` also needs its job definition in ``ENGINE_JOB_DEFINITIONS`` (the template's generated
section provides it). filescan keeps its size-class job definitions (``pipeline/sizing.py``).
A name the catalogue does not know, or an engine without a job definition, is a configuration
error naming it, raised at cold start: never an engine silently not run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from filescan_shared.engines.catalogue import FILESCAN_ENGINE

if TYPE_CHECKING:
    from filescan_shared.engines.catalogue import Catalogue, EngineSpec


class EngineConfigurationError(ValueError):
    """The enabled engines do not match the catalogue or the job definitions (names each engine)."""


@dataclasses.dataclass(frozen=True, slots=True)
class EnabledEngine:
    """One enabled engine: its catalogue entry and its job definition (``None`` for filescan)."""

    spec: EngineSpec
    job_definition: str | None

    @property
    def name(self) -> str:
        """The engine's name (its job name suffix and its key on the scan record)."""
        return self.spec.name


@dataclasses.dataclass(frozen=True, slots=True)
class EnginePlan:
    """The engines every new scan runs, in the configured order, and the catalogue they come from."""

    engines: tuple[EnabledEngine, ...]
    catalogue: Catalogue

    @property
    def names(self) -> tuple[str, ...]:
        """The enabled engines' names."""
        return tuple(engine.name for engine in self.engines)

    def spec(self, name: str) -> EngineSpec | None:
        """The catalogue entry of engine ``name`` (enabled or not: older scans may name it), if any."""
        try:
            return self.catalogue.get(name)
        except KeyError:
            return None


def plan_engines(
    enabled: Sequence[str], job_definitions: Mapping[str, str], catalogue: Catalogue
) -> EnginePlan:
    """Resolve ``ENABLED_ENGINES`` against ``catalogue`` and ``ENGINE_JOB_DEFINITIONS``.

    Raises ``EngineConfigurationError`` naming every unknown engine and every engine (other than
    filescan) without a job definition.
    """
    problems: list[str] = []
    engines: list[EnabledEngine] = []
    if not enabled:
        problems.append("no engine enabled")
    if len(set(enabled)) != len(enabled):
        problems.append(f"an engine is enabled twice: {', '.join(enabled)}")
    for name in enabled:
        try:
            spec = catalogue.get(name)
        except KeyError:
            problems.append(f"engine {name!r} is not in the engine catalogue")
            continue
        definition = job_definitions.get(name)
        if name != FILESCAN_ENGINE and not definition:
            problems.append(f"engine {name!r} has no job definition in ENGINE_JOB_DEFINITIONS")
            continue
        engines.append(EnabledEngine(spec, None if name == FILESCAN_ENGINE else definition))
    if problems:
        raise EngineConfigurationError("; ".join(problems))
    return EnginePlan(tuple(engines), catalogue)


def filescan_only(catalogue: Catalogue | None = None) -> EnginePlan:
    """The plan of a single-engine deployment (filescan's own scanner only)."""
    from filescan_shared.engines.catalogue import bundled_catalogue  # noqa: PLC0415 - see settings

    return plan_engines([FILESCAN_ENGINE], {}, catalogue or bundled_catalogue())
