"""Scanner settings: each scan limit is declared once (``ScanLimits``) and read from its variable."""

from __future__ import annotations

import dataclasses

import pytest

from filescan_scanner.analyzers.base import ScanLimits
from filescan_scanner.settings import ConfigurationError, ScannerSettings


def test_given_a_filescan_variable_per_limit_when_read_then_each_limit_takes_it() -> None:
    names = [field.name for field in dataclasses.fields(ScanLimits)]
    env = {f"FILESCAN_{name.upper()}": "4096" for name in names}

    limits = ScannerSettings.from_env(env).limits()

    assert all(getattr(limits, name) == 4096 for name in names)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("FILESCAN_MAX_MATCHES_PER_RULE", "0", "must be >= 1, got 0"),
        ("FILESCAN_MAX_COMPRESSION_RATIO", "0", "must be > 0, got 0.0"),
        ("FILESCAN_CHUNK_BYTES", "4095", "must be >= 4096, got 4095"),
        ("FILESCAN_MAX_DEPTH", "-1", "must be >= 0, got -1"),
        ("FILESCAN_MAX_COMPRESSION_RATIO", "inf", "not a valid float"),
    ],
)
def test_given_a_limit_outside_its_bounds_when_read_then_it_is_a_configuration_error(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=f"{variable}: {message}"):
        ScannerSettings.from_env({variable: value})


def test_given_no_variables_when_settings_load_then_limits_take_their_declared_defaults() -> None:
    assert ScannerSettings.from_env({}).limits() == ScanLimits()
