"""Generate ``schema.json`` from the report model: ``python -m filescan_shared.report.schema [--check]``.

The model (``report.model``) is the one definition of the report; ``schema.json`` is its published
JSON Schema (draft 2020-12) for readers outside this code base. Without arguments the file is
rewritten; with ``--check`` the command fails when the committed file is not the generated one (a unit
test runs the same check).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from filescan_shared.report import SCHEMA_VERSION

SCHEMA_PATH = Path(__file__).with_name("schema.json")


def generate() -> dict[str, Any]:
    """The report's JSON Schema, as generated from ``Report``."""
    from filescan_shared.report.model import Report  # noqa: PLC0415 - builds the pydantic models

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:filescan:report:{SCHEMA_VERSION}",
        **Report.model_json_schema(),
    }


def render() -> str:
    """``generate()`` as the text committed in ``schema.json``."""
    return json.dumps(generate(), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Rewrite ``schema.json``, or with ``--check`` report whether it is current (exit 1 if not)."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args == ["--check"]:
        if SCHEMA_PATH.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{SCHEMA_PATH} is stale: run python -m filescan_shared.report.schema\n")
            return 1
        return 0
    if args:
        sys.stderr.write("usage: python -m filescan_shared.report.schema [--check]\n")
        return 2
    SCHEMA_PATH.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
