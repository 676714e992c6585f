"""Validate a report document against the bundled JSON Schema (draft 2020-12)."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator


class ReportValidationError(ValueError):
    """The report does not match the schema; the message lists every problem with its JSON path."""


@functools.cache
def report_schema() -> dict[str, Any]:
    """The report JSON Schema."""
    text = resources.files("filescan_shared.report").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator() -> Draft202012Validator:
    # The schema is a constant of this package, checked against the draft 2020-12 metaschema by the
    # unit tests; re-checking it on every cold start cost ~40 ms of each scan's start-up.
    return Draft202012Validator(report_schema())


def prepare() -> None:
    """Load the schema and build the validator now (e.g. on a side thread), not on first use."""
    _validator()


def validate_report(doc: Any) -> None:
    """Raise ``ReportValidationError`` naming each violation when ``doc`` is not a valid report."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:20]
        )
        raise ReportValidationError(f"invalid scan report ({len(errors)} problem(s)): {problems}")
