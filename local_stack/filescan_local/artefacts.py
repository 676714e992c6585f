"""The functions as `sam build` packaged them, run the way Lambda lays them out.

Shared by the cold-start bench and the build check (``packaging/check_artifacts.py``): a fresh
``python -S`` (no development venv) whose path is the function's directory, then the SharedLayer's
``python/``, then the standard library; nothing written next to the sources (Lambda's ``/var/task``
and ``/opt`` are read-only); the environment the template gives the function (resolved to local
names), plus what Lambda itself sets.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from filescan_local.template import REPO, Template
from filescan_local.topology import FunctionSpec, build

BUILD_DIR = REPO / ".aws-sam" / "build"
LAYER = "SharedLayer"


def built_functions() -> dict[str, FunctionSpec]:
    """Every zip function of ``template.yaml`` by its folder name (``functions/<name>``)."""
    functions = build(Template.load()).functions.values()
    return {Path(spec.code_dir).name: spec for spec in functions if not spec.image}


def run_in_lambda_layout(
    function: FunctionSpec, code: str, *args: str, build_dir: Path = BUILD_DIR, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -S -c code args`` in ``function``'s built directory, laid out as Lambda loads it."""
    function_dir = build_dir / function.logical_id
    env = {
        "PATH": os.environ["PATH"],
        "HOME": "/nonexistent",  # nothing may come from a user cache (tiktoken's included)
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": f"{function_dir}{os.pathsep}{build_dir / LAYER / 'python'}",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        # As in Lambda: the X-Ray SDK sees LAMBDA_TASK_ROOT and skips creating its sampling client.
        "LAMBDA_TASK_ROOT": str(function_dir),
        **function.environment,
    }
    return subprocess.run(
        [sys.executable, "-S", "-c", code, *args],
        cwd=function_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
