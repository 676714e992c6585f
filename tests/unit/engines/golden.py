"""Golden outputs of the shipped foreign engines: real raw outputs and their expected reading.

``engines/<engine>/golden/<case>.out`` is a real output (``make-golden.sh`` next to it runs the real
tool); ``<case>.expected.json`` is what ``read_engine_result`` must make of it with the catalogue's
mapping (verdict, severity, findings). After regenerating outputs on purpose, rewrite the expected
files with ``.venv/bin/python -m tests.unit.engines.golden ENGINE`` and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from filescan_shared.engines.catalogue import Catalogue, EngineSpec, parse_catalogue
from filescan_shared.engines.read import read_engine_result
from filescan_shared.engines.results import EngineRunStatus

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = ROOT / "engines" / "catalogue.yaml"


def catalogue() -> Catalogue:
    """The repository's catalogue source, validated."""
    return parse_catalogue(yaml.safe_load(CATALOGUE.read_text(encoding="utf-8")))


def golden_dir(engine: str) -> Path:
    return ROOT / "engines" / engine / "golden"


def cases(engine: str) -> list[Path]:
    """Every raw output of ``engine``'s golden directory."""
    return sorted(golden_dir(engine).glob("*.out"))


def reading(spec: EngineSpec, output: Path) -> dict[str, Any]:
    """What the reader makes of ``output`` (a successful run), as the expected files record it."""
    result = read_engine_result(
        spec,
        status=EngineRunStatus.SUCCEEDED,
        output=output.read_bytes(),
        output_key=None,
        report=None,
        llm_reader=None,
    )
    document = result.model_dump(mode="json", include={"verdict", "severity", "read_by", "findings"})
    return dict(sorted(document.items()))


def expected_path(output: Path) -> Path:
    return output.with_suffix(".expected.json")


def main(engine: str) -> None:
    """Rewrite the expected files of ``engine`` from the current reader (review the diff!)."""
    spec = catalogue().get(engine)
    for output in cases(engine):
        text = json.dumps(reading(spec, output), indent=2, ensure_ascii=False) + "\n"
        expected_path(output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
