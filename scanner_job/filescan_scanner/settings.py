"""Scanner configuration from the environment (the Batch job definition sets these).

Plain environment parsing into frozen dataclasses: pydantic-settings would do the same, but importing it
(with pydantic) costs ~100-150 ms of start-up on every scan, which is a visible share of a 1 GiB scan.
Each setting is declared once, as a field with its default, variable and bounds; the scan limits are
``ScanLimits``'s fields (declared in ``analyzers.base``), read from ``FILESCAN_<FIELD>``.
A missing or malformed variable raises ``ConfigurationError`` naming every bad variable.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from filescan_scanner.analyzers.base import Bounds, ScanLimits

LIMITS_PREFIX = "FILESCAN_"
UNBOUNDED = Bounds()


class ConfigurationError(ValueError):
    """The environment does not hold a valid scanner configuration; the message names each variable."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Var:
    env: str
    parse: Callable[[str], Any]
    bounds: Bounds = UNBOUNDED


def _optional_str(value: str) -> str | None:
    return value or None


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


def _float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def default_rules_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/filescan/rules`` or ``~/.cache/filescan/rules``; None without a usable home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "filescan" / "rules"
    home = os.environ.get("HOME", "")
    return Path(home) / ".cache" / "filescan" / "rules" if home not in {"", "/", "/nonexistent"} else None


def _var(env: str, parse: Callable[[str], Any], bounds: Bounds = UNBOUNDED) -> dict[str, _Var]:
    """Field metadata: the variable a setting is read from, its parser and bounds."""
    return {"var": _Var(env, parse, bounds)}


def _limit_var(field: dataclasses.Field[Any]) -> _Var:
    """The variable of a ``ScanLimits`` field: ``FILESCAN_<NAME>``, parsed by its type."""
    parse = _float if field.type in {float, "float"} else int
    return _Var(LIMITS_PREFIX + field.name.upper(), parse, field.metadata["bounds"])


@dataclasses.dataclass(frozen=True, slots=True)
class ScannerSettings:
    """Environment configuration: build it with ``from_env()``; the defaults are the unset values."""

    reports_bucket: str | None = field(default=None, metadata=_var("REPORTS_BUCKET", _optional_str))
    reports_prefix: str = field(default="reports/", metadata=_var("REPORTS_PREFIX", str))
    work_dir: Path = field(
        default_factory=lambda: Path(tempfile.gettempdir()), metadata=_var("FILESCAN_WORK_DIR", Path)
    )
    extra_rules_dir: Path | None = field(default=None, metadata=_var("EXTRA_RULES_DIR", _optional_path))
    extra_rules_s3_uri: str | None = field(default=None, metadata=_var("EXTRA_RULES_S3_URI", _optional_str))
    rules_cache_dir: Path | None = field(
        default_factory=default_rules_cache_dir, metadata=_var("FILESCAN_RULES_CACHE_DIR", _optional_path)
    )
    """Where compiled rule sets are cached (see ``yara_rules.load_rules``); empty disables the cache."""
    download_concurrency: int = field(
        default=6, metadata=_var("FILESCAN_DOWNLOAD_CONCURRENCY", int, Bounds(1, 64))
    )
    """S3 mode: ranged GETs in flight or waiting for the streaming pass (``remote.RemoteObject.window``).
    Six: ~500 MB/s at S3's ~85-90 MB/s per connection, above the scanner's pace on a few vCPUs, and
    48 MiB of parts."""
    download_part_bytes: int = field(
        default=8 * 1024**2, metadata=_var("FILESCAN_DOWNLOAD_PART_BYTES", int, Bounds(64 * 1024))
    )
    """S3 mode: bytes per ranged GET (S3's guidance: 8 or 16 MB); also the streaming pass's chunk."""
    head_rules_bytes: int = field(
        default=16 * 1024**2, metadata=_var("FILESCAN_HEAD_RULES_BYTES", int, Bounds(4096))
    )
    yara_overlap_bytes: int = field(
        default=64 * 1024, metadata=_var("FILESCAN_YARA_OVERLAP_BYTES", int, Bounds(1024))
    )
    stream_lanes: int = field(default=0, metadata=_var("FILESCAN_STREAM_LANES", int, Bounds(0, 64)))
    """Worker threads of the streaming pass; 0 = one per CPU (at least 2)."""
    scan_limits: ScanLimits = field(default_factory=ScanLimits)
    """The scan limits, each from ``FILESCAN_<FIELD>`` (``FILESCAN_MAX_DEPTH``...)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScannerSettings:
        """Read and validate the settings; ``ConfigurationError`` names every bad variable."""
        env = os.environ if environ is None else environ
        problems: list[str] = []
        values = _read(
            env, {f.name: f.metadata["var"] for f in dataclasses.fields(cls) if "var" in f.metadata}, problems
        )
        limits = _read(env, {f.name: _limit_var(f) for f in dataclasses.fields(ScanLimits)}, problems)
        if problems:
            raise ConfigurationError("invalid scanner configuration: " + "; ".join(problems))
        return cls(**values, scan_limits=ScanLimits(**limits))

    def limits(self) -> ScanLimits:
        """The ``ScanLimits`` these settings describe."""
        return self.scan_limits


def _read(env: Mapping[str, str], variables: dict[str, _Var], problems: list[str]) -> dict[str, Any]:
    """The values of the variables that are set, by field name; each bad one is added to ``problems``."""
    values: dict[str, Any] = {}
    for name, var in variables.items():
        raw = env.get(var.env)
        if raw is None:
            continue
        try:
            value = var.parse(raw.strip())
        except ValueError:
            kind = getattr(var.parse, "__name__", "value").lstrip("_")
            problems.append(f"{var.env}: not a valid {kind}: {raw[:80]!r}")
            continue
        low, high = var.bounds.minimum, var.bounds.maximum
        if low is not None and (value < low or (var.bounds.exclusive_minimum and value == low)):
            relation = ">" if var.bounds.exclusive_minimum else ">="
            problems.append(f"{var.env}: must be {relation} {low:g}, got {value}")
            continue
        if high is not None and value > high:
            problems.append(f"{var.env}: must be <= {high:g}, got {value}")
            continue
        values[name] = value
    return values
