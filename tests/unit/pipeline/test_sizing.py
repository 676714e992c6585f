"""Size classes: each object size gets one job definition (its disk) and the EC2 class its own queue."""

from __future__ import annotations

import pytest

from filescan_shared.pipeline.sizing import S3_MAX_OBJECT_BYTES, GiB, JobTargets, MiB, size_job

TARGETS = JobTargets(standard="def-std", large_disk="def-large", ec2="def-ec2", ec2_queue="queue-ec2")


@pytest.mark.parametrize(
    ("size", "name", "definition", "queue"),
    [
        (0, "small", "def-std", "queue-std"),
        (64 * MiB, "small", "def-std", "queue-std"),
        (1 * GiB, "medium", "def-std", "queue-std"),
        (8 * GiB, "large", "def-std", "queue-std"),
        (8 * GiB + 1, "xlarge", "def-large", "queue-std"),
        (150 * GiB, "xlarge", "def-large", "queue-std"),
        (150 * GiB + 1, "huge", "def-ec2", "queue-ec2"),
        (S3_MAX_OBJECT_BYTES, "huge", "def-ec2", "queue-ec2"),
    ],
)
def test_given_each_size_when_sized_then_it_gets_its_class_definition_and_queue(
    size: int, name: str, definition: str, queue: str
) -> None:
    job = size_job(size)

    assert job.name == name
    assert TARGETS.definition(job) == definition
    assert TARGETS.queue(job, "queue-std") == queue


def test_given_huge_objects_when_sized_then_timeouts_grow_up_to_s3s_maximum() -> None:
    assert size_job(200 * GiB).timeout_seconds == 12 * 3600  # the floor
    assert size_job(10_000 * GiB).timeout_seconds > size_job(5_000 * GiB).timeout_seconds
    assert size_job(2**63).timeout_seconds == size_job(S3_MAX_OBJECT_BYTES).timeout_seconds


def test_given_no_extra_definitions_when_sized_then_every_class_runs_on_the_standard_one() -> None:
    plain = JobTargets(standard="def-std")

    for size in (1, 100 * GiB, 1000 * GiB):
        job = size_job(size)
        assert plain.definition(job) == "def-std"
        assert plain.queue(job, "queue-std") == "queue-std"


def test_given_the_fargate_classes_when_sized_then_vcpu_memory_pairs_are_valid() -> None:
    fargate = {"0.5": {1024, 2048, 3072, 4096}, "1": set(range(2048, 8193, 1024))}
    fargate |= {"2": set(range(4096, 16385, 1024)), "4": set(range(8192, 30721, 1024))}
    for size in (1, GiB, 8 * GiB, 150 * GiB):
        job = size_job(size)
        assert job.definition != "ec2"
        assert job.memory_mib in fargate[job.vcpus]
