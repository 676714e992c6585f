"""The right-sizing report, against a moto server holding synthetic scan records and reports."""

from __future__ import annotations

import json

import boto3
import pytest

from bench.model.rightsizing import Resources, main, propose
from filescan_shared.records import ScanRecord
from filescan_shared.repository.items import to_item
from filescan_shared.states import ScanState
from tests.support.stack import StackNames, provision

KiB = 1024
MiB = 1024**2


def _scan(
    names: StackNames, index: int, *, size: int, stats: dict[str, float] | None, **fields: object
) -> None:
    scan_id = f"{index:064x}"
    report_key = f"reports/{scan_id}.json"
    record = ScanRecord(
        scan_id=scan_id,
        status=ScanState.COMPLETE,
        bucket="filescan-uploads",
        key=f"uploads/{index}",
        size=size,
        created_at="2026-12-01T00:00:00.000Z",
        updated_at="2026-12-01T00:01:00.000Z",
        report_key=report_key,
        **fields,
    )
    boto3.client("dynamodb").put_item(TableName=names.scans_table, Item=to_item(record))
    if stats is not None:
        body = json.dumps({"schema_version": "1.0", "stats": stats})
        boto3.client("s3").put_object(Bucket=names.reports_bucket, Key=report_key, Body=body)


@pytest.mark.usefixtures("aws")
def test_given_records_and_reports_when_rightsizing_runs_then_it_proposes_sizes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = provision()
    cost = {"vcpus": "0.5", "memory_gb": "1", "billed_seconds": 60, "usd": "0.0001", "capacity": "spot"}
    for index in range(20):
        stats = {"seconds": 1.0, "cpu_seconds": 0.2, "peak_rss_bytes": 120 * MiB, "bytes": 10 * KiB}
        _scan(names, index, size=10 * KiB, stats=stats, cost=cost)
    for index in range(20, 25):
        stats = {"seconds": 10.0, "cpu_seconds": 8.0, "peak_rss_bytes": 300 * MiB, "bytes": 200 * MiB}
        _scan(names, index, size=200 * MiB, stats=stats)
    _scan(names, 30, size=10 * KiB, stats=None)  # report gone: skipped
    _scan(names, 31, size=10 * KiB, stats={"seconds": 1.0}, cached_from="0" * 64)  # no scan of its own

    argv = ["--table", names.scans_table, "--reports-bucket", names.reports_bucket, "--json"]
    assert main(argv) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"small", "medium"}
    small, medium = rows["small"], rows["medium"]
    assert small["scans"] == 20 and medium["scans"] == 5
    assert small["requested"] == {
        "vcpus": 0.5,
        "memory_mib": 1024,
        "timeout_seconds": 900,
        "ephemeral_gib": 50,
    }
    assert small["cpu_p95"] == pytest.approx(0.2)
    assert small["peak_mib_p99"] == pytest.approx(120)
    assert small["proposed"] == {"vcpus": 0.25, "memory_mib": 512, "timeout_seconds": 60, "ephemeral_gib": 20}
    assert medium["requested"]["vcpus"] == 1.0  # from size_job: the record has no cost
    assert medium["proposed"] == {
        "vcpus": 1.0,
        "memory_mib": 2048,
        "timeout_seconds": 60,
        "ephemeral_gib": 20,
    }

    assert main(argv[:-1]) == 0
    table = capsys.readouterr().out
    assert "| small | 20 | 0.5 / 0.20 / 0.25 |" in table


def test_given_usage_when_sizes_are_proposed_then_they_are_valid_fargate_sizes() -> None:
    requested = Resources(vcpus=1, memory_mib=2048, timeout_seconds=3600, ephemeral_gib=50)
    # Memory beyond what 2 vCPUs can have moves the job to 4 vCPUs.
    big = propose(requested, cpu_p95=1.5, peak_mib=12_000, seconds=600, largest=30 * 1024**3)
    assert (big.vcpus, big.memory_mib, big.timeout_seconds, big.ephemeral_gib) == (4.0, 18432, 2400, 38)
    # No CPU figures (older reports): keep the requested vCPUs.
    assert propose(requested, cpu_p95=None, peak_mib=100, seconds=1, largest=1).vcpus == 1
