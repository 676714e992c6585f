"""Several engines on every file, end to end in a local stack (issue 11's bar).

Three engines enabled (filescan, ClamAV, the foreign-output yara-cli), jobs run as host processes
(``FILESCAN_LOCAL_DOCKER=0``: clamscan and yara from Debian, each engine container replaced by its
catalogue ``local_command``): the demo samples get one row per engine and a combined verdict; EICAR
is malicious by at least two engines; a required engine whose command fails every attempt makes
the clean sample not clean, naming the engine.

Needs the merged pipeline: the catalogue's generated job definitions (``<stack>-engine-<name>``,
``EnabledEngines``, ``ENGINE_JOB_DEFINITIONS``) and the fan-out/fan-in on the scan record.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from filescan_local.demo import engine_rows
from filescan_local.samples import demo_samples
from filescan_local.stack import CATALOGUE_PATH
from filescan_local.template import plain_yaml
from tests.e2e.conftest import Pipeline, start_pipeline

pytestmark = pytest.mark.slow

ENGINES = ("filescan", "clamav", "yara-cli")
CLEAN = b"Quarterly notes: nothing to see here.\n" * 27


def _three_engines(**overrides: Any) -> Iterator[Pipeline]:
    yield from start_pipeline(use_docker=False, parameters={"EnabledEngines": ",".join(ENGINES)}, **overrides)


@pytest.fixture(scope="module")
def engines_pipeline() -> Iterator[Pipeline]:
    """A stack with the three engines, as the catalogue defines them."""
    yield from _three_engines()


def _scan(pipeline: Pipeline, key: str, body: bytes) -> dict[str, Any]:
    item = pipeline.put(key, body)
    pipeline.wait([item], timeout=180)
    status, view = pipeline.api(f"/scans/{item.scan_id}")
    assert status == 200, view
    return dict(view)


def test_given_three_engines_when_the_demo_samples_are_scanned_then_each_has_a_row_per_engine(
    engines_pipeline: Pipeline,
) -> None:
    samples = demo_samples()
    uploads = [engines_pipeline.put(f"uploads/e2e/engines/{s.name}", s.body) for s in samples]
    engines_pipeline.wait(uploads, timeout=240)
    views = {}
    for sample, item in zip(samples, uploads, strict=True):
        status, body = engines_pipeline.api(f"/scans/{item.scan_id}")
        assert status == 200, body
        assert body["status"] == "COMPLETE"
        assert body["verdict"] in sample.expected, (sample.name, body["verdict"], body.get("verdict_reasons"))
        assert set(body.get("engines") or {}) == set(ENGINES), (sample.name, body.get("engines"))
        assert all(run["state"] in {"succeeded", "failed"} for run in body["engines"].values())
        # What `make demo ENGINES=...` prints: one row per engine under the combined row.
        assert [row[0] for row in engine_rows(body)] == sorted(ENGINES)
        views[sample.name] = body
    eicar = views["eicar.com"]["engines"]
    malicious = sorted(name for name, run in eicar.items() if run.get("verdict") == "malicious")
    assert len(malicious) >= 2, eicar
    assert {"filescan", "clamav"} <= set(malicious)
    clean = views["notes.txt"]["engines"]
    assert all(run.get("verdict") == "clean" for run in clean.values()), clean
    # Every call was checked against the template's IAM and bucket policies: none was refused, and
    # the engine jobs and the combined result used the grants made for them.
    decisions = engines_pipeline.stack.iam_decisions()
    assert not [d for d in decisions if not d["allowed"]], [d for d in decisions if not d["allowed"]][:5]
    assert any("EngineJobRole" in d["role"] for d in decisions)
    combined = [d for d in decisions if "AnalysisFunctionRole" in d["role"] and d["action"] == "s3:PutObject"]
    assert any("engines.json" in d["resource"] for d in combined), combined


def _failing_clamav_catalogue(tmp: Path) -> Path:
    """The catalogue with ClamAV's local command crashing (exit 3) on every attempt (a required engine).

    Not 1: clamscan's 1 means "found something" (one of the engine's ``ok`` codes)."""
    document = plain_yaml(CATALOGUE_PATH.read_text(encoding="utf-8"))
    for engine in document["engines"]:
        if engine["name"] == "clamav":
            assert engine.get("required", True), "the bar needs ClamAV to be a required engine"
            engine["local_command"] = [sys.executable, "-c", "import sys; sys.exit(3)", "{input}", "{output}"]
    path = tmp / "catalogue.yaml"
    path.write_text(json.dumps(document))  # JSON is YAML
    return path


def test_given_a_required_engine_failing_every_attempt_when_a_clean_file_is_scanned_then_it_is_not_clean(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    catalogue = _failing_clamav_catalogue(tmp_path_factory.mktemp("catalogue"))
    for pipeline in _three_engines(catalogue_path=catalogue):
        view = _scan(pipeline, "uploads/e2e/engines-failing/notes.txt", CLEAN)
        assert view["status"] == "COMPLETE"
        assert view["verdict"] != "clean", view
        assert view["engines"]["clamav"]["state"] == "failed", view["engines"]
        assert view["engines"]["filescan"].get("verdict") == "clean"
        assert "clamav" in " ".join(view.get("verdict_reasons") or []), view.get("verdict_reasons")
        jobs = [job for job in pipeline.stack.batch.jobs() if job.name.endswith("-clamav")]  # type: ignore[union-attr]
        assert jobs and all(len(job.attempts) > 1 for job in jobs)  # retried, then failed for good
