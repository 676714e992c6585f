"""Right-sizing: the Batch job definition, queue, resources and timeout a scan gets, from its size.

A 5 KB file must not pay for 4 vCPU, and a 2 GB file must not run out of time. The scanner reads the
object in place (parallel ranged GETs, no local copy), so disk is only needed by analyzers that want a
local file (a PE, an Office document, ClamAV) and for extracted archive members; ephemeral storage is a
job-definition property that SubmitJob cannot override, so each disk class has its own job definition:

* ``standard``: Fargate with ``JobEphemeralStorageGiB`` (the small, medium and large classes);
* ``large-disk``: Fargate with its maximum, 200 GiB (objects whose local copy needs it);
* ``ec2``: the EC2 compute environments (Spot first, then on-demand) and their own queue, for what
  Fargate cannot take: a local copy over ~190 GiB, more than 16 vCPU.

vCPU and memory are SubmitJob ``containerOverrides`` per class (valid Fargate pairs up to ``xlarge``).
Fargate limits: https://docs.aws.amazon.com/batch/latest/userguide/fargate.html
"""

import dataclasses
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from mypy_boto3_batch.type_defs import ContainerOverridesTypeDef

MiB = 1024**2
GiB = 1024**3

Definition = Literal["standard", "large-disk", "ec2"]
S3_MAX_OBJECT_BYTES = 10_000 * 5 * GiB
"""S3's largest object: 10,000 parts of at most 5 GiB ("50 TB", 53.7 TB exactly):
https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingObjects.html"""
EC2_SECONDS_PER_GIB = 20
"""Attempt timeout of the EC2 class per GiB (~50 MiB/s, a wide margin under the scanner's ~200)."""


@dataclasses.dataclass(frozen=True, slots=True)
class JobSize:
    """Resources for one scan job."""

    name: str
    vcpus: str
    memory_mib: int
    timeout_seconds: int
    definition: Definition = "standard"

    def container_overrides(self) -> "ContainerOverridesTypeDef":
        """The SubmitJob ``containerOverrides`` for these resources."""
        return {
            "resourceRequirements": [
                {"type": "VCPU", "value": self.vcpus},
                {"type": "MEMORY", "value": str(self.memory_mib)},
            ]
        }


@dataclasses.dataclass(frozen=True, slots=True)
class JobTargets:
    """The job definitions and the EC2 queue of a deployment (empty: fall back to ``standard``)."""

    standard: str
    large_disk: str = ""
    ec2: str = ""
    ec2_queue: str = ""

    def definition(self, size: JobSize) -> str:
        """The job definition of ``size``'s class."""
        chosen = {"standard": self.standard, "large-disk": self.large_disk, "ec2": self.ec2}[size.definition]
        return chosen or self.standard

    def queue(self, size: JobSize, queue: str) -> str:
        """The EC2 queue for the EC2 class (its definition runs nowhere else), else ``queue``."""
        return self.ec2_queue if size.definition == "ec2" and self.ec2 and self.ec2_queue else queue


# Upper size bound (inclusive) -> size class. Throughput is ~100+ MiB/s per vCPU, so timeouts leave a
# wide margin for slow ranged GETs or a deep archive.
_TIERS: tuple[tuple[int, JobSize], ...] = (
    (64 * MiB, JobSize("small", "0.5", 1024, 15 * 60)),
    (1 * GiB, JobSize("medium", "1", 2048, 60 * 60)),
    (8 * GiB, JobSize("large", "2", 4096, 4 * 3600)),
    (150 * GiB, JobSize("xlarge", "4", 8192, 12 * 3600, "large-disk")),
)
_HUGE = ("huge", "8", 16384)


def size_job(object_bytes: int) -> JobSize:
    """The resources a scan of an object of ``object_bytes`` bytes gets."""
    for upper, size in _TIERS:
        if object_bytes <= upper:
            return size
    timeout = max(12 * 3600, min(object_bytes, S3_MAX_OBJECT_BYTES) // GiB * EC2_SECONDS_PER_GIB)
    return JobSize(*_HUGE, timeout, "ec2")
