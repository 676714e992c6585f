"""Scanner configuration from the environment (the Batch job definition sets these).

Plain environment parsing into a frozen dataclass: pydantic-settings would do the same, but importing it
(with pydantic) costs ~100-150 ms of start-up on every scan, which is a visible share of a 1 GiB scan.
A missing or malformed variable raises ``ConfigurationError`` naming every bad variable.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from filescan_scanner.analyzers.base import ScanLimits

_DEFAULTS = ScanLimits()


class ConfigurationError(ValueError):
    """The environment does not hold a valid scanner configuration; the message names each variable."""


@dataclasses.dataclass(frozen=True, slots=True)
class _Var:
    env: str
    parse: Callable[[str], Any]
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False


def _optional_str(value: str) -> str | None:
    return value or None


def _optional_path(value: str) -> Path | None:
    return Path(value) if value else None


def default_rules_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/filescan/rules`` or ``~/.cache/filescan/rules``; None without a usable home."""
    base = os.environ.get("XDG_CACHE_HOME")
    if base:
        return Path(base) / "filescan" / "rules"
    home = os.environ.get("HOME", "")
    return Path(home) / ".cache" / "filescan" / "rules" if home not in {"", "/", "/nonexistent"} else None


def _float(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


_VARS: dict[str, _Var] = {
    "reports_bucket": _Var("REPORTS_BUCKET", _optional_str),
    "reports_prefix": _Var("REPORTS_PREFIX", str),
    "work_dir": _Var("FILESCAN_WORK_DIR", Path),
    "extra_rules_dir": _Var("EXTRA_RULES_DIR", _optional_path),
    "extra_rules_s3_uri": _Var("EXTRA_RULES_S3_URI", _optional_str),
    "rules_cache_dir": _Var("FILESCAN_RULES_CACHE_DIR", _optional_path),
    "download_concurrency": _Var("FILESCAN_DOWNLOAD_CONCURRENCY", int, 1, 64),
    "download_part_bytes": _Var("FILESCAN_DOWNLOAD_PART_BYTES", int, 64 * 1024),
    "head_rules_bytes": _Var("FILESCAN_HEAD_RULES_BYTES", int, 4096),
    "yara_overlap_bytes": _Var("FILESCAN_YARA_OVERLAP_BYTES", int, 1024),
    "max_depth": _Var("FILESCAN_MAX_DEPTH", int, 0),
    "max_members": _Var("FILESCAN_MAX_MEMBERS", int, 0),
    "max_total_member_bytes": _Var("FILESCAN_MAX_TOTAL_MEMBER_BYTES", int, 0),
    "max_member_bytes": _Var("FILESCAN_MAX_MEMBER_BYTES", int, 0),
    "max_compression_ratio": _Var("FILESCAN_MAX_COMPRESSION_RATIO", _float, 0, exclusive_minimum=True),
    "max_matches_per_rule": _Var("FILESCAN_MAX_MATCHES_PER_RULE", int, 1),
    "office_max_bytes": _Var("FILESCAN_OFFICE_MAX_BYTES", int, 0),
    "pdf_max_bytes": _Var("FILESCAN_PDF_MAX_BYTES", int, 0),
    "fuzzy_hash_max_bytes": _Var("FILESCAN_FUZZY_HASH_MAX_BYTES", int, 0),
    "chunk_bytes": _Var("FILESCAN_CHUNK_BYTES", int, 4096),
    "stream_lanes": _Var("FILESCAN_STREAM_LANES", int, 0, 64),
}
"""Field name -> environment variable, parser and bounds."""


@dataclasses.dataclass(frozen=True, slots=True)
class ScannerSettings:
    """Environment configuration. Limits use the ``FILESCAN_`` prefix (``FILESCAN_MAX_DEPTH``...).

    Build it with ``ScannerSettings.from_env()``; the constructor's defaults are the unset values.
    """

    reports_bucket: str | None = None
    reports_prefix: str = "reports/"
    work_dir: Path = dataclasses.field(default_factory=lambda: Path(tempfile.gettempdir()))
    extra_rules_dir: Path | None = None
    extra_rules_s3_uri: str | None = None
    rules_cache_dir: Path | None = dataclasses.field(default_factory=default_rules_cache_dir)
    """Where compiled rule sets are cached (see ``yara_rules.load_rules``); empty disables the cache."""
    download_concurrency: int = 6
    """S3 mode: ranged GETs in flight or waiting for the streaming pass (``remote.RemoteObject.window``).
    Six: ~500 MB/s at S3's ~85-90 MB/s per connection, above the scanner's pace on a few vCPUs, and
    48 MiB of parts."""
    download_part_bytes: int = 8 * 1024**2
    """S3 mode: bytes per ranged GET (S3's guidance: 8 or 16 MB); also the streaming pass's chunk."""
    head_rules_bytes: int = 16 * 1024**2
    yara_overlap_bytes: int = 64 * 1024

    max_depth: int = _DEFAULTS.max_depth
    max_members: int = _DEFAULTS.max_members
    max_total_member_bytes: int = _DEFAULTS.max_total_member_bytes
    max_member_bytes: int = _DEFAULTS.max_member_bytes
    max_compression_ratio: float = _DEFAULTS.max_compression_ratio
    max_matches_per_rule: int = _DEFAULTS.max_matches_per_rule
    office_max_bytes: int = _DEFAULTS.office_max_bytes
    pdf_max_bytes: int = _DEFAULTS.pdf_max_bytes
    fuzzy_hash_max_bytes: int = _DEFAULTS.fuzzy_hash_max_bytes
    chunk_bytes: int = _DEFAULTS.chunk_bytes
    stream_lanes: int = 0
    """Worker threads of the streaming pass; 0 = one per CPU (at least 2)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScannerSettings:
        """Read and validate the settings; ``ConfigurationError`` names every bad variable."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field, var in _VARS.items():
            raw = env.get(var.env)
            if raw is None:
                continue
            try:
                value = var.parse(raw.strip())
            except ValueError:
                kind = getattr(var.parse, "__name__", "value").lstrip("_")
                problems.append(f"{var.env}: not a valid {kind}: {raw[:80]!r}")
                continue
            if var.minimum is not None and (
                value < var.minimum or (var.exclusive_minimum and value == var.minimum)
            ):
                relation = ">" if var.exclusive_minimum else ">="
                problems.append(f"{var.env}: must be {relation} {var.minimum:g}, got {value}")
                continue
            if var.maximum is not None and value > var.maximum:
                problems.append(f"{var.env}: must be <= {var.maximum:g}, got {value}")
                continue
            values[field] = value
        if problems:
            raise ConfigurationError("invalid scanner configuration: " + "; ".join(problems))
        return cls(**values)

    def limits(self) -> ScanLimits:
        """The ``ScanLimits`` these settings describe."""
        return ScanLimits(
            **{field.name: getattr(self, field.name) for field in dataclasses.fields(ScanLimits)}
        )
