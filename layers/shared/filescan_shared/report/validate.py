"""Parse and validate a report document with the report model (``report.model``).

The model is the contract; ``schema.json`` is generated from it (``report.schema``), so validating
here and validating against the schema accept the same documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filescan_shared.report.model import Report

MAX_PROBLEMS = 20


class ReportValidationError(ValueError):
    """The report does not match the model; the message lists every problem with its JSON path."""


def prepare() -> None:
    """Build the report model's validators now (e.g. on a side thread), not on first use."""
    import filescan_shared.report.model  # noqa: F401, PLC0415 - importing it builds the validators


def parse_report(doc: Any) -> Report:
    """The typed report of ``doc`` (a parsed JSON document, or its ``bytes``/``str`` text).

    Raises ``ReportValidationError`` naming each violation when it is not a valid report.
    """
    from pydantic import ValidationError  # noqa: PLC0415 - see prepare()

    from filescan_shared.report.model import Report  # noqa: PLC0415

    try:
        if isinstance(doc, bytes | str):
            return Report.model_validate_json(doc)
        return Report.model_validate(doc)
    except ValidationError as error:
        problems = "; ".join(
            f"{'/'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}"
            for e in error.errors(include_url=False)[:MAX_PROBLEMS]
        )
        raise ReportValidationError(
            f"invalid scan report ({error.error_count()} problem(s)): {problems}"
        ) from None


def validate_report(doc: Any) -> None:
    """Raise ``ReportValidationError`` naming each violation when ``doc`` is not a valid report."""
    parse_report(doc)
