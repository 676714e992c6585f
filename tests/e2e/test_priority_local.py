"""With capacity full (tiny MaxvCpus from template parameters), a priority-queue job overtakes
standard jobs that were queued before it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from filescan_local.faults import parse_fault
from tests.e2e.conftest import Pipeline, start_pipeline, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def small_pipeline() -> Iterator[Pipeline]:
    # Jobs for small files take 0.5 vCPU: one vCPU per compute environment = two jobs at a time each.
    yield from start_pipeline(parameters={"SpotMaxvCpus": "1", "OnDemandMaxvCpus": "1"})


def test_given_waiting_standard_jobs_when_a_priority_upload_arrives_then_it_overtakes_them(
    small_pipeline: Pipeline,
) -> None:
    pipeline = small_pipeline
    pipeline.stack.inject_fault(parse_fault("slow=2", pattern="uploads/*slow/*"))
    standard = [pipeline.put(f"uploads/e2e/slow/s-{i}.txt", b"standard %d\n" % i) for i in range(8)]
    batch = pipeline.stack.batch
    assert batch is not None
    wait_until(lambda: sum(job.status == "RUNNABLE" for job in batch.jobs()) >= 4)
    urgent = pipeline.put("uploads/priority/slow/urgent.txt", b"urgent\n")
    pipeline.wait([*standard, urgent])
    (job,) = pipeline.jobs_named(urgent.scan_id)
    assert job.queue.priority == 100
    overtaken = [
        other
        for item in standard
        for other in pipeline.jobs_named(item.scan_id)
        if other.created_at < job.created_at and (other.started_at or 0) > (job.started_at or 0)
    ]
    assert overtaken, "the priority job started after every standard job queued before it"
