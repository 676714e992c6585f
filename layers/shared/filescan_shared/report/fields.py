"""Pydantic field types shared by the report model and the triage models.

A separate, small module: the triage models use ``SeverityLabel`` without building the whole report
model, and the scanner's start-up imports neither (``filescan_shared.severity`` stays pydantic-free).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from filescan_shared.severity import Severity

_BY_LABEL = {s.label: s for s in Severity}


def _from_label(value: object) -> Severity:
    if isinstance(value, Severity):
        return value
    if isinstance(value, str) and value in _BY_LABEL:
        return _BY_LABEL[value]
    raise ValueError(f"a severity is one of {', '.join(_BY_LABEL)}")


SeverityLabel = Annotated[
    Severity,
    PlainValidator(_from_label),
    PlainSerializer(lambda s: Severity(s).label, return_type=str),
    WithJsonSchema({"type": "string", "enum": list(_BY_LABEL)}),
]
"""A severity written exactly as its label (``"high"``); the labels and their order are ``Severity``'s."""
