"""Check what `sam build` produced: every handler cold-starts from its artefacts alone.

Run by `make check-template` right after `sam build` (which needs the package registry, so this is a
build check rather than a test). Each handler is imported in a fresh `python -S` (no development
venv: the function directory, the layer's ``python/`` and the standard library), read-only (no
bytecode written), with the environment the template gives that function. Analysis also loads what
it imports on its first LLM event (openai, the offline tokenizer, the report validator) and counts
tokens with no network and no user cache.

Usage: python packaging/check_artifacts.py [BUILD_DIR]   (default .aws-sam/build)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from filescan_local.template import Template
from filescan_local.topology import FunctionSpec, build

REPO = Path(__file__).resolve().parents[1]
_PROBE = """
import json, sys
import app
assert callable(app.lambda_handler)
if sys.argv[1] == "analysis":
    import jsonschema, openai, tiktoken
    from filescan_shared.report.validate import validate_report
    from filescan_shared.triage import tokens
    assert tokens.counter_for("gpt-3.5-turbo").count("hello world") == 2
origins = {name: sys.modules[name].__file__ for name in ("boto3", "botocore", "pydantic", "filescan_shared")}
print(json.dumps(origins))
"""


def check(artefacts: Path, name: str, spec: FunctionSpec) -> str | None:
    """Import one handler from ``artefacts``; ``None`` if it loads from them alone, else the problem."""
    function_dir = artefacts / spec.logical_id
    layer_dir = artefacts / "SharedLayer" / "python"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": "/nonexistent",  # nothing may come from a user cache (tiktoken's included)
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": f"{function_dir}{os.pathsep}{layer_dir}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "LAMBDA_TASK_ROOT": str(function_dir),
        **spec.environment,
    }
    result = subprocess.run(
        [sys.executable, "-S", "-c", _PROBE, name],
        cwd=function_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
    origins = json.loads(result.stdout)
    strays = {module: path for module, path in origins.items() if not Path(path).is_relative_to(artefacts)}
    if strays:
        return f"loaded from outside the artefacts: {strays}"
    if not Path(origins["botocore"]).is_relative_to(layer_dir):
        return f"botocore is not the layer's: {origins['botocore']}"
    return None


def main() -> int:
    """Check every function; print one line each; exit 1 if any fails."""
    artefacts = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / ".aws-sam" / "build"
    failures = 0
    for spec in build(Template.load()).functions.values():
        name = Path(spec.code_dir).name
        problem = check(artefacts.resolve(), name, spec)
        print(f"{spec.logical_id:<18} {'ok' if problem is None else 'FAILED: ' + problem}")
        failures += problem is not None
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
