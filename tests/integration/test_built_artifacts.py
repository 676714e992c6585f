"""What `sam build` produces imports as Lambda would load it, with only what was packaged.

The test runs `make sam-build` (packaging/Makefile builds the SharedLayer and the functions), then
imports each handler from its artefact in a fresh `python -S` (no development venv: the function
directory, the layer's ``python/`` and the standard library), read-only (no bytecode written), with
the environment the template gives that function. Analysis also loads what it imports on its first
LLM event (openai, the offline tokenizer, the report validator) and counts tokens offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from filescan_local.template import Template
from filescan_local.topology import build

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / ".aws-sam" / "build"
FUNCTIONS = {Path(spec.code_dir).name: spec for spec in build(Template.load()).functions.values()}
_PROBE = """
import json, sys
import app
assert callable(app.lambda_handler)
extra = sys.argv[1]
if extra == "analysis":
    import jsonschema, openai, tiktoken
    from filescan_shared.report.validate import validate_report
    from filescan_shared.triage import tokens
    assert tokens.counter_for("gpt-3.5-turbo").count("hello world") == 2
origins = {name: sys.modules[name].__file__ for name in ("boto3", "botocore", "pydantic", "filescan_shared")}
print(json.dumps(origins))
"""


@pytest.fixture(scope="module")
def artefacts() -> Path:
    subprocess.run(["make", "sam-build"], cwd=REPO, check=True, capture_output=True, timeout=1200)
    return BUILD


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_given_the_built_artefacts_when_a_handler_cold_starts_then_it_imports_from_them_alone(
    artefacts: Path, function: str
) -> None:
    spec = FUNCTIONS[function]
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
        [sys.executable, "-S", "-c", _PROBE, function],
        cwd=function_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    origins = json.loads(result.stdout)
    assert all(Path(path).is_relative_to(artefacts) for path in origins.values()), origins
    assert Path(origins["botocore"]).is_relative_to(layer_dir)
