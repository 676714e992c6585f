"""Shared fixtures, the ``component`` marker, and the check that keeps one test-naming style.

A test that talks to AWS services (the moto server, through the ``aws`` fixture) is a *component*
test; the others are fast unit tests (pipeline logic runs on ``tests.support.memory_store``). Both
run by default; ``pytest -m "not component"`` runs the fast ones alone.
"""

import pytest

from tests.support.moto_server import aws, moto_url
from tests.support.naming import misnamed, naming_error

__all__ = ["aws", "moto_url"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses the moto server as a component test; refuse the run, listing them,
    if any collected test is not named Given/When/Then."""
    for item in items:
        if "aws" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.component)
    offenders = misnamed(item.nodeid for item in items)
    if offenders:
        raise pytest.UsageError(naming_error(offenders))
