"""Fixtures shared by every test suite."""

from tests.support.moto_server import aws, moto_url

__all__ = ["aws", "moto_url"]
