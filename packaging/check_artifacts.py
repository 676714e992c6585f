"""Check what `sam build` produced: every handler cold-starts from its artefacts alone.

Run by `make check-template` right after `sam build` (which needs the package registry, so this is a
build check rather than a test). Each handler is imported as Lambda lays it out
(``filescan_local.artefacts``: ``python -S``, the function's directory then the layer's, read-only,
the function's template environment). Analysis also loads what it imports on its first LLM event
(openai, the offline tokenizer, the report validator) and counts tokens with no network and no user
cache.

Usage: python packaging/check_artifacts.py [BUILD_DIR]   (default .aws-sam/build)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from filescan_local.artefacts import BUILD_DIR, LAYER, built_functions, run_in_lambda_layout
from filescan_local.topology import FunctionSpec

_PROBE = """
import json, sys
import app
assert callable(app.lambda_handler)
if sys.argv[1] == "analysis":
    import openai, tiktoken
    from filescan_shared.report.validate import validate_report
    from filescan_shared.triage import tokens
    assert tokens.counter_for("gpt-3.5-turbo").count("hello world") == 2
origins = {name: sys.modules[name].__file__ for name in ("boto3", "botocore", "pydantic", "filescan_shared")}
print(json.dumps(origins))
"""


def check(artefacts: Path, name: str, function: FunctionSpec) -> str | None:
    """Import handler ``name`` from ``artefacts``; ``None`` if it loads from them alone, else the problem."""
    result = run_in_lambda_layout(function, _PROBE, name, build_dir=artefacts)
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
    origins = json.loads(result.stdout)
    strays = {module: path for module, path in origins.items() if not Path(path).is_relative_to(artefacts)}
    if strays:
        return f"loaded from outside the artefacts: {strays}"
    if not Path(origins["botocore"]).is_relative_to(artefacts / LAYER):
        return f"botocore is not the layer's: {origins['botocore']}"
    return None


def main() -> int:
    """Check every function; print one line each; exit 1 if any fails."""
    artefacts = (Path(sys.argv[1]) if len(sys.argv) > 1 else BUILD_DIR).resolve()
    failures = 0
    for name, function in built_functions().items():
        problem = check(artefacts, name, function)
        print(f"{function.logical_id:<18} {'ok' if problem is None else 'FAILED: ' + problem}")
        failures += problem is not None
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
