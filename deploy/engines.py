"""``make engines``: the engine catalogue -> ``catalogue.json`` and the template's generated engine section.

``engines/catalogue.yaml`` is the source (reviewed like code). This validates it with the catalogue
models (``filescan_shared.engines.catalogue``), writes the layer's ``catalogue.json`` (sorted,
defaults left out) and rewrites the blocks of ``template.yaml`` between ``# BEGIN GENERATED ENGINES``
and ``# END GENERATED ENGINES`` markers: the parameters, conditions and function environment the
engines need, one Batch job definition per engine (filescan keeps its hand-written size-class
definitions), an ECR repository per engine built from this repository, the engine job and execution
roles, the functions' permission to submit engine jobs, and outputs. ``--check`` rewrites nothing and
exits 1 when either file is stale (``make lint`` runs it).

Why a generated section and not ``Fn::ForEach``: that needs the ``AWS::LanguageExtensions``
transform, which the local stack's template reader, checkov and the template tests would all have to
reimplement; the generated section is plain CloudFormation every tool reads, and its diff is
reviewed like code (docs/engines.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no stubs in the dev venv; safe_load/safe_dump only
from pydantic import ValidationError

from deploy.engine_resources import (
    BATCH_PARAMETERS,
    FARGATE_MEMORY,
    blocks,
    not_retried,
    single_container,
)
from filescan_shared.engines.catalogue import (
    BUNDLED_CATALOGUE,
    FILESCAN_ENGINE,
    Catalogue,
    EngineSpec,
    parse_catalogue,
)

REPO = Path(__file__).resolve().parents[1]
CATALOGUE_SOURCE = REPO / "engines" / "catalogue.yaml"
TEMPLATE = REPO / "template.yaml"

MARKER = "GENERATED ENGINES"
BLOCKS = ("parameters", "conditions", "environment", "resources", "outputs")
"""The generated blocks, each between ``# BEGIN GENERATED ENGINES[: block]`` and its END marker
(the resources block has the bare markers)."""


class CatalogueError(Exception):
    """The catalogue is invalid; the message names the engine and the field."""


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def load_catalogue(path: Path = CATALOGUE_SOURCE) -> Catalogue:
    """Parse and validate ``path``; ``CatalogueError`` names each bad engine and field."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path.name}: not YAML: {error}") from None
    try:
        catalogue = parse_catalogue(document)
    except ValidationError as error:
        raise CatalogueError(_describe(error, document, path.name)) from None
    problems = [problem for engine in catalogue.engines for problem in deployment_problems(engine)]
    if problems:
        raise CatalogueError("\n".join(f"{path.name}: {problem}" for problem in problems))
    return catalogue


def _describe(error: ValidationError, document: Any, source: str) -> str:
    lines = [f"{source}: {error.error_count()} error(s)"]
    engines = document.get("engines") if isinstance(document, dict) else None
    for item in error.errors():
        loc = list(item["loc"])
        where = ".".join(str(part) for part in loc) or "(document)"
        if len(loc) >= 2 and loc[0] == "engines" and isinstance(loc[1], int) and isinstance(engines, list):
            entry = engines[loc[1]] if loc[1] < len(engines) else {}
            name = entry.get("name", "?") if isinstance(entry, dict) else "?"
            field = ".".join(str(part) for part in loc[2:]) or "(engine)"
            where = f"engine {name!r} (entry {loc[1] + 1}), field {field}"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def deployment_problems(spec: EngineSpec) -> list[str]:
    """What the template cannot express for ``spec`` (beyond the model's own validation)."""
    if spec.name == FILESCAN_ENGINE:
        return []
    problems = []
    allowed = FARGATE_MEMORY.get(float(spec.vcpu))
    if allowed is None or spec.memory_mib not in allowed:
        problems.append(
            f"engine {spec.name!r}, field vcpu/memory_mib: {spec.vcpu:g} vCPU with {spec.memory_mib} MiB is "
            "not a Fargate task size (vCPU 0.25-16; memory per docs/engines.md)"
        )
    if not single_container(spec) and (spec.vcpu < 1 or spec.memory_mib < 2048):
        problems.append(
            f"engine {spec.name!r}, field vcpu/memory_mib: a multi-container engine job needs at least "
            "1 vCPU and 2048 MiB (its helper containers take 0.5 vCPU and 1024 MiB of the task)"
        )
    for part in spec.command:
        embedded = [
            name for name in BATCH_PARAMETERS if "{" + name + "}" in part and part != "{" + name + "}"
        ]
        if embedded or "{input_uri}" in part:
            problems.append(
                f"engine {spec.name!r}, field command: {part!r}: Batch substitutes a parameter only as a "
                "whole argument: write {bucket}, {key}, {version_id}, {scan_id} as arguments of their own"
            )
    if single_container(spec) and spec.exit_codes.ok != [0]:
        problems.append(
            f"engine {spec.name!r}, field exit_codes.ok: a single-container engine (input s3, output "
            "filescan-report) must exit 0 when it succeeded"
        )
    if single_container(spec) and len(not_retried(spec)) > 2:  # 5 retry rules at most
        problems.append(f"engine {spec.name!r}, field exit_codes.unscannable: at most one code besides 65")
    return problems


def catalogue_json(catalogue: Catalogue) -> str:
    """The layer's ``catalogue.json``: defaults left out, keys sorted, one trailing newline."""
    document = catalogue.model_dump(mode="json", exclude_defaults=True)
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def markers(block: str) -> tuple[str, str]:
    """The BEGIN and END marker comments of ``block``."""
    suffix = "" if block == "resources" else f": {block}"
    return f"# BEGIN {MARKER}{suffix}", f"# END {MARKER}{suffix}"


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Block-style YAML with no anchors/aliases (each resource reads on its own)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(content: dict[str, Any], indent: int) -> list[str]:
    if not content:
        return []
    text = yaml.dump(
        content, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100, allow_unicode=True
    )
    return [(" " * indent + line) if line else line for line in text.splitlines()]


def render_template(text: str, catalogue: Catalogue) -> str:
    """``text`` with every generated block replaced by the catalogue's."""
    lines = text.splitlines()
    for block, content in blocks(catalogue).items():
        begin, end = markers(block)
        starts = [i for i, line in enumerate(lines) if line.strip() == begin]
        ends = [i for i, line in enumerate(lines) if line.strip() == end]
        if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
            raise CatalogueError(f"template.yaml: expected one {begin!r} ... {end!r} pair")
        indent = len(lines[starts[0]]) - len(lines[starts[0]].lstrip())
        generated = _yaml(content, indent)
        if block == "resources" and generated:
            generated = [*_spaced(generated, indent)]
        lines[starts[0] + 1 : ends[0]] = generated
    return "\n".join(lines) + "\n"


def _spaced(lines: list[str], indent: int) -> list[str]:
    """A blank line before each top-level key (one resource per paragraph, as in the rest of the file)."""
    out: list[str] = []
    for line in lines:
        if out and line.startswith(" " * indent) and not line.startswith(" " * (indent + 1)):
            out.append("")
        out.append(line)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate (or with ``--check``, verify) catalogue.json and the template's engine section."""
    parser = argparse.ArgumentParser(prog="make engines", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file is stale")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE_SOURCE)
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    parser.add_argument("--json", type=Path, default=BUNDLED_CATALOGUE)
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue)
        wanted = {
            args.json: catalogue_json(catalogue),
            args.template: render_template(args.template.read_text(encoding="utf-8"), catalogue),
        }
    except CatalogueError as error:
        print(error, file=sys.stderr)
        return 2
    stale = [
        path for path, text in wanted.items() if not path.exists() or path.read_text(encoding="utf-8") != text
    ]
    if args.check:
        for path in stale:
            shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
            print(f"{shown} is stale: run `make engines`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
