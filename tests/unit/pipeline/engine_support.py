"""Three engines for fan-out/fan-in tests: filescan plus two engines defined by catalogue data only.

``alpha`` is required and read by a JMESPath mapping; ``beta`` is optional, has no mapping (the LLM
would read it) and escalates to on-demand after two Spot interruptions. ``FakeBatch`` records what
was submitted, answers ListJobs by name and DescribeJobs, and can fail one engine's SubmitJob.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from botocore.exceptions import ClientError

from filescan_shared.batch_events import JobStateDetail
from filescan_shared.engines.catalogue import Catalogue, bundled_catalogue, parse_catalogue
from filescan_shared.ids import engine_job_name
from filescan_shared.pipeline.engine_plan import EnginePlan, plan_engines
from filescan_shared.records import ScanRecord, iso
from filescan_shared.states import ScanState

SCAN = "0123456789abcdef0123456789abcdef"
T0 = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
STANDARD, PRIORITY = "queue-standard", "queue-priority"
DEFINITIONS = {"alpha": "arn:jobdef/alpha", "beta": "arn:jobdef/beta"}

ALPHA = {
    "name": "alpha",
    "image": {"uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/alpha:1"},
    "command": ["alpha-scan", "--in", "{input}", "--json", "{output}"],
    "timeout_seconds": 600,
    "exit_codes": {"ok": [0, 1], "unscannable": [3]},
    "mapping": {
        "findings": "detections",
        "rule_id": "signature",
        "title": "signature",
        "nothing_found": "length(detections) == `0`",
    },
}
BETA = {
    "name": "beta",
    "image": {"uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/beta:1"},
    "command": ["beta", "{input}", "{output}"],
    "output": "text",
    "required": False,
    "spot_interruptions_before_on_demand": 2,
}


def engine_catalogue() -> Catalogue:
    """The bundled catalogue (filescan) plus ``alpha`` and ``beta``, as plain catalogue data."""
    bundled = bundled_catalogue().model_dump(mode="json", exclude_defaults=True)
    return parse_catalogue({"engines": [*bundled["engines"], ALPHA, BETA]})


def three_engines() -> EnginePlan:
    """filescan, alpha and beta enabled."""
    return plan_engines(["filescan", "alpha", "beta"], DEFINITIONS, engine_catalogue())


def queued_record(scan_id: str = SCAN, **fields: Any) -> ScanRecord:
    """A new QUEUED scan record."""
    stamp = iso(T0)
    base: dict[str, Any] = {"bucket": "uploads", "key": "uploads/a b+c.txt", "version_id": "v1"}
    return ScanRecord(
        scan_id=scan_id,
        status=ScanState.QUEUED,
        created_at=stamp,
        updated_at=stamp,
        **(base | fields),
    )


class FakeBatch:
    """The Batch calls submitting needs (SubmitJob, ListJobs by name), in memory."""

    def __init__(self, *, fail_names: tuple[str, ...] = ()) -> None:
        """No jobs yet; SubmitJob of a job named in ``fail_names`` is throttled once."""
        self.jobs: list[dict[str, Any]] = []
        self._fail = set(fail_names)
        self._ids = itertools.count(1)

    def submit_job(self, **request: Any) -> dict[str, Any]:
        """Record the request as a job; throttled once for the names given."""
        if request["jobName"] in self._fail:
            self._fail.discard(request["jobName"])
            raise ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate"}}, "SubmitJob")
        job = {**request, "jobId": f"job-{next(self._ids)}", "status": "SUBMITTED"}
        self.jobs.append(job)
        return {"jobId": job["jobId"], "jobName": request["jobName"]}

    def list_jobs(self, *, jobQueue: str, filters: list[dict[str, Any]]) -> dict[str, Any]:
        """Jobs on ``jobQueue`` with the filtered name."""
        names = set(filters[0]["values"])
        found = [job for job in self.jobs if job["jobQueue"] == jobQueue and job["jobName"] in names]
        return {"jobSummaryList": [{"jobId": job["jobId"], "jobName": job["jobName"]} for job in found]}

    def fail_next(self, name: str) -> None:
        """Throttle the next SubmitJob of a job named ``name``."""
        self._fail.add(name)

    def describe_jobs(self, *, jobs: list[str]) -> dict[str, Any]:
        """The jobs Batch still knows among ``jobs``."""
        return {"jobs": [job for job in self.jobs if job["jobId"] in jobs]}

    def terminate_job(self, *, jobId: str, reason: str) -> None:
        """Mark a job FAILED with ``reason``."""
        for job in self.jobs:
            if job["jobId"] == jobId:
                job.update(status="FAILED", statusReason=reason)

    def named(self, name: str) -> list[dict[str, Any]]:
        """Every job submitted under ``name``."""
        return [job for job in self.jobs if job["jobName"] == name]


SPOT_REASON = "Your Spot Task was interrupted."


def job_detail(
    engine: str,
    job_id: str,
    status: str,
    *,
    queue: str = STANDARD,
    exit_codes: tuple[int | None, ...] = (),
    interrupted: int = 0,
    scan_id: str = SCAN,
) -> JobStateDetail:
    """A "Batch Job State Change" detail of ``engine``'s job for ``scan_id``.

    ``interrupted`` attempts ended by a Spot interruption come first, then one attempt per
    ``exit_codes`` entry (each 60 s long).
    """
    attempts: list[dict[str, Any]] = [
        {"container": {}, "startedAt": 1_000, "stoppedAt": 2_000, "statusReason": SPOT_REASON}
    ] * interrupted
    attempts += [
        {"container": {"exitCode": code}, "startedAt": 10_000, "stoppedAt": 70_000, "statusReason": "done"}
        for code in exit_codes
    ]
    detail = {
        "jobId": job_id,
        "jobName": engine_job_name(scan_id, engine),
        "jobQueue": queue,
        "status": status,
        "attempts": attempts,
        "createdAt": 0,
        "startedAt": 10_000 if attempts else None,
        "stoppedAt": 70_000 if status in {"SUCCEEDED", "FAILED"} else None,
        "parameters": {"scan_id": scan_id},
        "container": {
            "resourceRequirements": [{"type": "VCPU", "value": "1"}, {"type": "MEMORY", "value": "2048"}]
        },
    }
    return JobStateDetail.model_validate({k: v for k, v in detail.items() if v is not None})
