"""The pipeline as the model sees it: its own routing and template settings, plus timing assumptions.

Routing comes from the production code (``size_job``, ``EnqueueSettings``); the stack's caps and
windows from ``template.yaml`` defaults. Only what the code cannot tell (how long a scan of N bytes
takes, how long analysis takes) is an assumption here, each one a field that can be overridden.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

from cfn_flip import load_yaml

from bench.model.mix import MiB
from filescan_shared.pipeline.sizing import JobSize, size_job
from filescan_shared.settings import EnqueueSettings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@functools.cache
def _template() -> dict[str, Any]:
    loaded: dict[str, Any] = load_yaml(TEMPLATE.read_text(encoding="utf-8"))
    return loaded


def template_default(parameter: str) -> int:
    """A numeric template parameter's default (e.g. ``SpotMaxvCpus``)."""
    return int(_template()["Parameters"][parameter]["Default"])


def template_property(logical_id: str, name: str) -> Any:
    """A property of a template resource (e.g. the ingest event source mapping's batching window)."""
    return _template()["Resources"][logical_id]["Properties"][name]


def function_memory_mib(logical_id: str) -> int:
    """A function's memory: its own ``MemorySize`` or the template's Globals."""
    own = _template()["Resources"][logical_id]["Properties"].get("MemorySize")
    return int(own if own is not None else _template()["Globals"]["Function"]["MemorySize"])


def max_object_bytes() -> int:
    """Objects larger than this are SKIPPED by enqueue (the production default)."""
    return int(EnqueueSettings.model_fields["max_object_bytes"].default)


def smallest_class_limit() -> int:
    """The largest object ``size_job`` still puts in its smallest class (found by bisection, so the
    model follows the production tiers without restating them)."""
    smallest = size_job(0).name
    low, high = 0, 1 << 50
    while low < high:
        middle = (low + high + 1) // 2
        if size_job(middle).name == smallest:
            low = middle
        else:
            high = middle - 1
    return low


@dataclasses.dataclass(frozen=True)
class Timing:
    """How long the pipeline's steps take. Defaults are assumptions unless a field says otherwise."""

    ingest_seconds: float = 1.0
    """S3 -> EventBridge -> SQS delivery (assumption)."""
    enqueue_seconds: float = 0.3
    """The enqueue Lambda's work for one message (HeadObject, conditional put, SubmitJob)."""
    analysis_seconds: float = 3.0
    """Job end -> state-change event -> analysis Lambda -> verdict recorded (assumption; no LLM; the
    analysis Lambda itself is billed for 0.5 s, see ``simulate.calls``)."""
    inline_analysis_seconds: float = 0.3
    """The Lambda fast path deciding the verdict in-process (verdict, record, tag, event; no LLM)."""
    image_mib: float = 300.0
    """Compressed scanner image (assumption: measure with ``make image``)."""
    container_start_seconds: float = 2.0
    """Interpreter start, rules from the pre-built cache, first byte (bench/README: ~0.13 s + libmagic,
    rules and report; rounded up for a cold container)."""
    per_file_seconds: float = 0.4
    """Fixed work per file once the process runs: HEAD, GET, report PUT, a few round trips."""
    scan_mib_per_vcpu_second: float = 100.0
    """Scanner throughput per vCPU (``sizing.py``: ~100+ MiB/s per vCPU; bench: 130-540 MiB/s on 2)."""
    download_mib_per_second: float = 200.0
    """S3 download with the transfer manager's parallel ranged GETs (S3: ~85-90 MB/s per GET)."""

    def scan_seconds(self, size: int, vcpus: float) -> float:
        """Seconds to fetch and scan one object of ``size`` bytes on ``vcpus`` vCPUs, once running."""
        mib = size / MiB
        return (
            self.per_file_seconds
            + mib / self.download_mib_per_second
            + mib / (self.scan_mib_per_vcpu_second * vcpus)
        )


@dataclasses.dataclass(frozen=True)
class Stack:
    """The deployed stack's settings the model needs (template defaults unless overridden)."""

    vcpu_quota: float = dataclasses.field(default_factory=lambda: float(template_default("SpotMaxvCpus")))
    """The compute environment's vCPU cap (template ``SpotMaxvCpus``); an account quota below it wins."""
    ephemeral_gib: int = dataclasses.field(default_factory=lambda: template_default("JobEphemeralStorageGiB"))
    batching_window_seconds: float = dataclasses.field(
        default_factory=lambda: float(
            template_property("EnqueueEventSourceMapping", "MaximumBatchingWindowInSeconds")
        )
    )
    max_object_bytes: int = dataclasses.field(default_factory=max_object_bytes)
    spot: bool = True
    """The standard queue runs on Fargate Spot first (its price is the model's)."""
    function_memory_mib: int = dataclasses.field(
        default_factory=lambda: function_memory_mib("EnqueueFunction")
    )
    analysis_memory_mib: int = dataclasses.field(
        default_factory=lambda: function_memory_mib("AnalysisFunction")
    )

    def job_size(self, size: int) -> JobSize:
        """The production size class of an object."""
        return size_job(size)
