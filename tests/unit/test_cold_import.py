"""What each Lambda handler loads at import (a cold start), checked in a fresh interpreter.

Not a timing test (``make bench-cold-start`` measures): these pin the design choices that keep
import light, so a change that quietly undoes one fails here. At import no AWS client exists yet
(the cached factories create them on the first event), and none of the heavy modules a handler
does not need at once is loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from filescan_local.artefacts import built_functions

REPO = Path(__file__).resolve().parents[2]
# Each function's own variables, as the template sets them (resolved to local names): a variable the
# settings need but the template forgets fails the import here.
TEMPLATE_ENVIRONMENT = {name: function.environment for name, function in built_functions().items()}
LAMBDA_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "LAMBDA_TASK_ROOT": str(REPO),
    "AWS_LAMBDA_FUNCTION_NAME": "filescan-test",
}
# Loaded on the first event that needs them, or never: the LLM client and tokenizer, the report
# validator, the key fetcher, libraries only the X-Ray SDK's patch-everything default would import,
# and the Powertools parser models (Powertools' batch module builds them all if pydantic is loaded).
NEVER_AT_IMPORT = {
    "openai",
    "tiktoken",
    "jsonschema",
    "requests",
    "sqlite3",
    "pydantic_settings",
    "filescan_shared.triage",
    "aws_lambda_powertools.utilities.parameters",
    "aws_lambda_powertools.utilities.parser.models",
}
_PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
from filescan_shared import clients
print(json.dumps({
    "modules": sorted(sys.modules),
    "clients": clients._client.cache_info().currsize + clients.s3_presigner.cache_info().currsize,
}))
"""


@pytest.mark.parametrize("function", sorted(TEMPLATE_ENVIRONMENT))
def test_given_a_cold_start_when_the_handler_is_imported_then_it_loads_only_what_every_event_needs(
    function: str,
) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "FILESCAN_"))}
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(REPO / "functions" / function / "app.py")],
        capture_output=True,
        text=True,
        check=True,
        env={**env, **LAMBDA_ENVIRONMENT, **TEMPLATE_ENVIRONMENT[function]},
        cwd=REPO,
    )
    loaded = json.loads(result.stdout)

    assert loaded["clients"] == 0
    modules = set(loaded["modules"])
    assert "pydantic" in modules  # settings are validated at import: the probe did import the handler
    assert modules & NEVER_AT_IMPORT == set()
