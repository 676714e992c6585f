"""AWS's documented numbers the model uses: start latency, rate limits, quotas and list prices.

Every constant names its source. ``VERIFIED`` lists the ones checked against the cited page while the
model was written (2026-12); the others are stated assumptions (latencies AWS does not publish) or
prices quoted from the issue/third-party summaries of the pricing page, and are flagged in the
output. All prices are us-east-1, Linux/x86, USD. Fargate vCPU/GB prices come from the production
cost estimator (``filescan_shared.pipeline.cost.FargatePrices``), so the model and the recorded scan
costs can never disagree.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from filescan_shared.pipeline.cost import FargatePrices

# ---- Batch and Fargate: start latency and rates ---------------------------------------------------

FARGATE_PROVISION_SECONDS = 30.0
"""Fargate job provisioning, "about 30 seconds" (more with a larger image).
https://docs.aws.amazon.com/batch/latest/userguide/when-to-use-fargate.html"""

IMAGE_PULL_MIB_PER_SECOND = 25.0
"""Effective image pull + unpack rate. ASSUMPTION: AWS publishes none; Fargate never caches images and
pulls the whole image per task (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-pull-behavior.html);
users report 30-60 s to start with a ~250 MB image, i.e. ~10 s of pull on top of the 30 s."""

FARGATE_MINIMUM_BILLED_SECONDS = 60
"""Fargate bills per second "from the time you start to download your container image until the task
terminates", with a one-minute minimum. https://aws.amazon.com/fargate/pricing/"""

SUBMIT_JOB_TPS = 50.0
"""SubmitJob: 50 transactions per second per account, fixed.
https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html"""

FARGATE_LAUNCH_BURST = 100
FARGATE_LAUNCH_PER_SECOND = 20.0
"""Fargate task launch token bucket: 100 burst, 20 tasks/s sustained (on-demand and Spot).
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/throttling.html"""

BATCH_DISPATCH_SECONDS = 5.0
"""SUBMITTED -> RUNNABLE -> STARTING hand-off inside Batch. ASSUMPTION (not published); Batch's own
guidance: "the overhead to schedule the batch job might take longer than the runtime of the job".
https://docs.aws.amazon.com/batch/latest/userguide/bestpractice1.html"""

NEW_ACCOUNT_FARGATE_VCPUS = 6
"""Default Fargate vCPU quota of a new account (on-demand and Spot each), as the issue states.
NOT VERIFIED here (Service Quotas console: "Fargate On-Demand vCPU resource count")."""

ARRAY_MAX_CHILDREN = 10_000
"""Array job size limit. https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html"""

# ---- Lambda -----------------------------------------------------------------------------------------

LAMBDA_GB_SECOND = Decimal("0.0000166667")
LAMBDA_REQUEST = Decimal("0.0000002")
"""x86: $0.0000166667 per GB-second (first 6 billion GB-s/month), $0.20 per million requests.
https://aws.amazon.com/lambda/pricing/ (also https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html)"""

LAMBDA_CONCURRENCY = 1000
"""Default concurrent executions per Region. NOT VERIFIED here
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)."""

LAMBDA_IMAGE_COLD_START_SECONDS = 4.0
"""Cold start of the scanner as a container-image function (fetch, Python start-up, rules from the
pre-built cache). ASSUMPTION; measure with a deployed function. INIT is billed like the handler.
https://aws.amazon.com/lambda/pricing/"""

LAMBDA_IDLE_SECONDS = 300.0
"""How long an idle execution environment is kept warm. ASSUMPTION (undocumented by AWS)."""

# ---- Requests and events ----------------------------------------------------------------------------

SQS_REQUEST = Decimal("0.40") / 1_000_000
"""Standard queue, $0.40 per million requests (64 KB chunks). https://aws.amazon.com/sqs/pricing/"""

DYNAMODB_WRITE_UNIT = Decimal("0.625") / 1_000_000
DYNAMODB_READ_UNIT = Decimal("0.125") / 1_000_000
"""On-demand, $0.625 per million write and $0.125 per million read request units (after the
2024-11 price cut). https://aws.amazon.com/dynamodb/pricing/on-demand/"""

EVENTBRIDGE_CUSTOM_EVENT = Decimal("1.00") / 1_000_000
"""Custom events $1.00 per million; AWS service events (S3 Object Created, Batch Job State Change) on
the default bus are free. https://aws.amazon.com/eventbridge/pricing/"""

S3_PUT_REQUEST = Decimal("0.005") / 1000
S3_GET_REQUEST = Decimal("0.0004") / 1000
"""S3 Standard: PUT, COPY, POST, LIST $0.005 per 1,000; GET, SELECT and others (HEAD) $0.0004 per 1,000.
https://aws.amazon.com/s3/pricing/"""

FARGATE_STORAGE_GB_HOUR = Decimal("0.000111")
"""Ephemeral storage above the 20 GB included, per GB-hour. https://aws.amazon.com/fargate/pricing/"""

FARGATE_INCLUDED_STORAGE_GIB = 20

# ---- GuardDuty Malware Protection for S3 ------------------------------------------------------------

GUARDDUTY_PER_GB = Decimal("0.09")
GUARDDUTY_PER_1000_OBJECTS = Decimal("0.215")
"""$0.09 per GB scanned + $0.215 per 1,000 objects evaluated (after the free tier).
https://aws.amazon.com/guardduty/pricing/ -- NOT VERIFIED here: the pricing page renders its table
dynamically; the figures are the issue's. The pricing model (per GB + per object) is documented at
https://docs.aws.amazon.com/guardduty/latest/ug/pricing-malware-protection-for-s3-guardduty.html"""

GUARDDUTY_MAX_OBJECT_BYTES = 100 * 1024**3
"""GuardDuty scans objects up to 100 GB (the issue; larger ones are skipped). NOT VERIFIED here."""

VERIFIED = (
    "FARGATE_PROVISION_SECONDS",
    "FARGATE_MINIMUM_BILLED_SECONDS",
    "SUBMIT_JOB_TPS",
    "FARGATE_LAUNCH_BURST",
    "FARGATE_LAUNCH_PER_SECOND",
    "ARRAY_MAX_CHILDREN",
    "LAMBDA_GB_SECOND",
    "LAMBDA_REQUEST",
    "FargatePrices (on-demand; Spot from a third-party copy of the pricing page)",
)
NOT_VERIFIED = (
    "IMAGE_PULL_MIB_PER_SECOND (assumption)",
    "BATCH_DISPATCH_SECONDS (assumption)",
    "LAMBDA_IMAGE_COLD_START_SECONDS (assumption)",
    "LAMBDA_IDLE_SECONDS (assumption)",
    "LAMBDA_CONCURRENCY",
    "NEW_ACCOUNT_FARGATE_VCPUS",
    "GUARDDUTY_PER_GB / GUARDDUTY_PER_1000_OBJECTS / GUARDDUTY_MAX_OBJECT_BYTES (issue's figures)",
    "SQS, DynamoDB, EventBridge, S3 request and Fargate storage prices (third-party copies of the "
    "pricing pages, which render dynamically)",
)


@dataclasses.dataclass(frozen=True)
class FargateRate:
    """What one second of a Fargate task costs, by its size."""

    prices: FargatePrices = dataclasses.field(default_factory=FargatePrices)
    spot: bool = True

    def per_second(self, vcpus: float, memory_mib: int, ephemeral_gib: int) -> Decimal:
        """USD per billed second of a task with these resources."""
        price = self.prices.spot if self.spot else self.prices.on_demand
        extra_storage = max(0, ephemeral_gib - FARGATE_INCLUDED_STORAGE_GIB)
        hourly = (
            Decimal(str(vcpus)) * price.vcpu_hour
            + Decimal(memory_mib) / 1024 * price.gb_hour
            + Decimal(extra_storage) * FARGATE_STORAGE_GB_HOUR
        )
        return hourly / 3600

    def task_cost(self, billed_seconds: float, vcpus: float, memory_mib: int, ephemeral_gib: int) -> Decimal:
        """USD for one task billed ``billed_seconds`` (the one-minute minimum applied here)."""
        seconds = max(float(FARGATE_MINIMUM_BILLED_SECONDS), billed_seconds)
        return Decimal(str(round(seconds, 3))) * self.per_second(vcpus, memory_mib, ephemeral_gib)


def guardduty_cost(objects: int, total_bytes: int) -> Decimal:
    """GuardDuty Malware Protection for S3's list price for ``objects`` objects of ``total_bytes``."""
    gigabytes = Decimal(total_bytes) / Decimal(1024**3)
    return gigabytes * GUARDDUTY_PER_GB + Decimal(objects) / 1000 * GUARDDUTY_PER_1000_OBJECTS
