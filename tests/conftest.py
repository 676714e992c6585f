"""Fixtures shared by every test suite, and the check that keeps one test-naming style."""

import pytest

from tests.support.moto_server import aws, moto_url
from tests.support.naming import misnamed, naming_error

__all__ = ["aws", "moto_url"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse the run, listing them, if any collected test is not named Given/When/Then."""
    offenders = misnamed(item.nodeid for item in items)
    if offenders:
        raise pytest.UsageError(naming_error(offenders))
