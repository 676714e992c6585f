"""The latency/cost model's arithmetic: known inputs give known latencies and costs."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from cfn_flip import load_yaml

from bench.model import aws
from bench.model.__main__ import main
from bench.model.mix import GiB, KiB, MiB, MixConfig, Upload, generate
from bench.model.pipeline import Stack, Timing, smallest_class_limit
from bench.model.report import choose, guardduty, judge, percentile, summarise
from bench.model.simulate import Options, Strategy, TokenBucket, replay
from filescan_shared.pipeline.sizing import size_job
from filescan_shared.settings import EnqueueSettings

REPO = Path(__file__).resolve().parents[3]

TIMING = Timing()
STACK = Stack()
# Ingest, the template's 5 s batching window, enqueue, Batch dispatch, provisioning, a 300 MiB pull
# at 25 MiB/s, process start: what every Fargate file waits before its own scan.
FARGATE_LEAD = 1.0 + 5 + 0.3 + 5 + 30 + 12 + 2


def usd(value: Decimal) -> object:
    """Compare dollar amounts to a nano-dollar (Decimal division order changes the last digits)."""
    return pytest.approx(float(value), rel=1e-9, abs=1e-12)


def test_given_a_token_bucket_when_drained_then_it_passes_the_burst_then_the_rate() -> None:
    bucket = TokenBucket(capacity=100, rate=20)
    times = [bucket.take(0.0) for _ in range(140)]
    assert times[99] == 0.0
    assert times[100] == pytest.approx(0.05)
    assert times[139] == pytest.approx(2.0)


def test_given_a_fargate_task_when_priced_then_one_minute_minimum_and_storage_over_20_gib() -> None:
    rate = aws.FargateRate(spot=True)
    hourly = Decimal("0.5") * Decimal("0.01334053") + Decimal("0.00146489")
    assert usd(rate.task_cost(10, 0.5, 1024, 20)) == usd(60 * hourly / 3600)
    assert usd(rate.task_cost(120, 0.5, 1024, 20)) == usd(120 * hourly / 3600)
    with_storage = rate.task_cost(60, 0.5, 1024, 50) - rate.task_cost(60, 0.5, 1024, 20)
    assert usd(with_storage) == usd(60 * 30 * Decimal("0.000111") / 3600)


def test_given_a_mix_when_guardduty_is_priced_then_per_gb_plus_per_thousand_objects() -> None:
    assert usd(aws.guardduty_cost(1000, GiB)) == usd(Decimal("0.09") + Decimal("0.215"))
    peer = guardduty([Upload(0, GiB), Upload(1, 200 * GiB)])  # over 100 GB: not scanned
    assert usd(peer.usd_total) == usd(Decimal("0.09") + Decimal("0.000215"))


def test_given_one_small_file_when_routed_per_file_then_it_is_its_own_job() -> None:
    result = replay([Upload(100.0, KiB)], Strategy.PER_FILE)
    [scan] = result.files
    expected = FARGATE_LEAD + TIMING.scan_seconds(KiB, 0.5) + 3.0
    assert scan.latency == pytest.approx(expected)
    billed = 12 + 2 + TIMING.scan_seconds(KiB, 0.5)  # under a minute: billed 60 s
    assert billed < 60
    assert usd(scan.compute_cost) == usd(aws.FargateRate().task_cost(billed, 0.5, 1024, STACK.ephemeral_gib))
    assert result.tasks == result.submissions == 1


def test_given_a_vcpu_cap_when_two_jobs_arrive_then_the_second_waits_for_the_first() -> None:
    stack = Stack(vcpu_quota=0.5)
    first, second = replay([Upload(0.0, KiB), Upload(0.0, 2 * KiB)], Strategy.PER_FILE, stack=stack).files
    assert first.latency is not None and second.latency is not None
    occupied = 30 + 12 + 2 + TIMING.scan_seconds(KiB, 0.5)
    assert second.latency - first.latency == pytest.approx(
        occupied + TIMING.scan_seconds(2 * KiB, 0.5) - TIMING.scan_seconds(KiB, 0.5)
    )


def test_given_a_batched_route_when_modelled_then_files_share_a_task_and_finish_in_turn() -> None:
    uploads = [Upload(0.0, KiB), Upload(2.0, KiB), Upload(4.0, KiB)]
    result = replay(uploads, Strategy.BATCHED, options=Options(batch_max_wait_seconds=10))
    assert result.tasks == 1
    verdicts = [f.verdict_at for f in result.files]
    assert verdicts[1] - verdicts[0] == pytest.approx(TIMING.scan_seconds(KiB, 0.5))  # type: ignore[operator]
    # The batch closes 10 s after its first file reached enqueue.
    assert result.files[0].latency == pytest.approx(FARGATE_LEAD + 10 + TIMING.scan_seconds(KiB, 0.5) + 3.0)
    shared = sum((f.compute_cost for f in result.files), Decimal(0))
    assert usd(shared) == usd(aws.FargateRate().task_cost(60, 0.5, 1024, STACK.ephemeral_gib))


def test_given_an_array_route_when_modelled_then_children_are_tasks_from_one_submit() -> None:
    result = replay([Upload(0.0, KiB), Upload(1.0, KiB)], Strategy.ARRAY)
    assert (result.tasks, result.submissions) == (2, 1)


def test_given_the_lambda_fast_path_when_files_arrive_then_cold_start_first_then_warm() -> None:
    options = Options(lambda_memory_mib=1769)
    result = replay([Upload(0.0, KiB), Upload(60.0, KiB)], Strategy.LAMBDA, options=options)
    cold, warm = result.files
    lead = 1.0 + 5 + 0.3
    scan = TIMING.scan_seconds(KiB, 1.0)
    assert cold.latency == pytest.approx(lead + aws.LAMBDA_IMAGE_COLD_START_SECONDS + scan + 0.3)
    assert warm.latency == pytest.approx(lead + scan + 0.3)  # the verdict is decided in-process
    assert result.lambda_cold_starts == 1
    assert result.tasks == 0


def test_given_files_over_the_enqueue_limit_when_modelled_then_they_are_skipped() -> None:
    result = replay([Upload(0.0, STACK.max_object_bytes + 1)], Strategy.PER_FILE)
    assert result.files[0].verdict_at is None
    assert result.tasks == 0


def test_given_a_small_file_when_routed_then_the_route_follows_size_job() -> None:
    limit = smallest_class_limit()
    assert size_job(limit).name == size_job(0).name != size_job(limit + 1).name
    big = replay([Upload(0.0, limit + 1)], Strategy.LAMBDA)
    assert big.tasks == 1 and big.lambda_invocations == 0


def test_given_a_seed_when_the_mix_is_drawn_then_it_is_deterministic_and_as_configured() -> None:
    config = MixConfig(files_per_day=2000, huge_files=2, large_files=3)
    uploads = generate(config)
    assert uploads == generate(config)
    assert len(uploads) == 2000
    assert sum(u.size < MiB for u in uploads) == 1800
    assert sum(u.size >= 10 * GiB for u in uploads) == 2
    assert all(0 <= u.arrival <= 86_400 for u in uploads)


def test_given_latencies_when_a_percentile_is_taken_then_it_is_the_nearest_rank() -> None:
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
    assert percentile([], 0.5) is None


def test_given_the_default_mix_when_modelled_then_the_bar_and_the_choice_are_reported() -> None:
    uploads = generate(MixConfig(files_per_day=500, huge_files=0, large_files=0, seed=3))
    summaries = {s: summarise(replay(uploads, s)) for s in Strategy}
    baseline = summaries[Strategy.PER_FILE]
    verdicts = [judge(summary, baseline, guardduty(uploads)) for summary in summaries.values()]
    per_file = next(v for v in verdicts if v.strategy is Strategy.PER_FILE)
    assert per_file.small_cost_ratio == pytest.approx(1.0)
    fast = next(v for v in verdicts if v.strategy is Strategy.LAMBDA)
    assert fast.small_p50_ok and fast.small_compute_ratio > 5  # few files: mostly cold starts
    assert choose(verdicts, summaries) is Strategy.LAMBDA


def test_given_the_model_command_when_run_then_it_prints_the_tables(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--files-per-day", "300", "--huge-files", "0", "--seed", "1"]) == 0
    output = capsys.readouterr().out
    assert "| per-file |" in output and "GuardDuty" in output and "build: " in output


def test_given_a_mix_file_when_read_then_json_loads_and_unknown_settings_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "mix.json"
    config.write_text('{"files_per_day": 50, "huge_files": 0, "seed": 7}')
    assert MixConfig.from_json(config) == MixConfig(files_per_day=50, huge_files=0, seed=7)
    config.write_text('{"files_per_day": 50, "files_per_hour": 2}')
    with pytest.raises(ValueError, match="files_per_hour"):
        MixConfig.from_json(config)


def test_given_the_template_when_the_stack_is_modelled_then_it_follows_its_defaults() -> None:
    stack = Stack()
    template = load_yaml((REPO / "template.yaml").read_text(encoding="utf-8"))
    parameters = template["Parameters"]
    mapping = template["Resources"]["EnqueueEventSourceMapping"]["Properties"]
    assert stack.batching_window_seconds == mapping["MaximumBatchingWindowInSeconds"]
    assert stack.vcpu_quota == parameters["SpotMaxvCpus"]["Default"]
    assert stack.ephemeral_gib == parameters["JobEphemeralStorageGiB"]["Default"]
    assert stack.max_object_bytes == EnqueueSettings.model_fields["max_object_bytes"].default


def test_given_a_mix_when_summarised_then_only_reached_size_classes_appear() -> None:
    summary = summarise(replay([Upload(0.0, KiB), Upload(1.0, 2 * MiB)], Strategy.PER_FILE))
    assert [row.name for row in summary.classes] == ["<1MiB", size_job(2 * MiB).name]
    assert [row.files for row in summary.classes] == [1, 1]
