"""Right-sizing: the Batch resources and timeout a scan gets, from the object's size.

A 5 KB file must not pay for 4 vCPU, and a 2 GB file must not run out of time. Ephemeral disk is a
job-definition property that SubmitJob cannot override, so the job definition carries enough disk for
the largest in-scope object and only vCPU, memory and timeout vary here.
"""

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_batch.type_defs import ContainerOverridesTypeDef

MiB = 1024**2
GiB = 1024**3


@dataclasses.dataclass(frozen=True, slots=True)
class JobSize:
    """Resources for one scan job (valid Fargate vCPU/memory pairs)."""

    name: str
    vcpus: str
    memory_mib: int
    timeout_seconds: int

    def container_overrides(self) -> "ContainerOverridesTypeDef":
        """The SubmitJob ``containerOverrides`` for these resources."""
        return {
            "resourceRequirements": [
                {"type": "VCPU", "value": self.vcpus},
                {"type": "MEMORY", "value": str(self.memory_mib)},
            ]
        }


# Upper size bound (inclusive) -> size class. Throughput is ~100+ MiB/s per vCPU, so timeouts leave a
# wide margin for a slow download or a deep archive.
_TIERS: tuple[tuple[int, JobSize], ...] = (
    (64 * MiB, JobSize("small", "0.5", 1024, 15 * 60)),
    (1 * GiB, JobSize("medium", "1", 2048, 60 * 60)),
    (8 * GiB, JobSize("large", "2", 4096, 4 * 3600)),
)
_HUGE = JobSize("huge", "4", 8192, 12 * 3600)


def size_job(object_bytes: int) -> JobSize:
    """The resources a scan of an object of ``object_bytes`` bytes gets."""
    for upper, size in _TIERS:
        if object_bytes <= upper:
            return size
    return _HUGE
