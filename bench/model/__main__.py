"""``make model``: replay an upload mix through each small-file strategy and print the comparison.

``python -m bench.model [--config mix.json] [--files-per-day N] [--seed S] [--vcpu-quota V] ...``
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from decimal import Decimal
from pathlib import Path

from bench.model import aws
from bench.model.mix import GiB, MixConfig, generate
from bench.model.pipeline import Stack, Timing
from bench.model.report import GuardDuty, Summary, choose, guardduty, judge, summarise
from bench.model.simulate import Options, Strategy, replay


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.model", description=__doc__)
    parser.add_argument("--config", type=Path, help="JSON mix settings (MixConfig fields)")
    parser.add_argument("--files-per-day", type=int)
    parser.add_argument("--small-fraction", type=float)
    parser.add_argument("--huge-files", type=int)
    parser.add_argument("--burst-fraction", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--vcpu-quota", type=float, help="vCPU cap (default: template SpotMaxvCpus)")
    parser.add_argument("--on-demand", action="store_true", help="price Fargate on-demand, not Spot")
    parser.add_argument("--image-mib", type=float, help="scanner image size (MiB)")
    parser.add_argument("--batch-max-wait", type=float, help="batched/array: maximum wait (s)")
    parser.add_argument("--batch-work", type=float, help="batched: seconds of work per job")
    parser.add_argument("--lambda-memory", type=int, help="fast path memory (MiB)")
    return parser


def _override[T](value: T, **changes: object) -> T:
    kept = {name: change for name, change in changes.items() if change is not None}
    return dataclasses.replace(value, **kept) if kept else value  # type: ignore[type-var]


def main(argv: list[str] | None = None) -> int:
    """Run the model and print the tables, the bar per strategy and the choice (exit 0 either way)."""
    args = build_parser().parse_args(argv)
    mix = MixConfig.from_json(args.config) if args.config else MixConfig()
    mix = _override(
        mix,
        files_per_day=args.files_per_day,
        small_fraction=args.small_fraction,
        huge_files=args.huge_files,
        burst_fraction=args.burst_fraction,
        seed=args.seed,
    )
    stack = _override(Stack(), vcpu_quota=args.vcpu_quota, spot=False if args.on_demand else None)
    timing = _override(Timing(), image_mib=args.image_mib)
    options = _override(
        Options(),
        batch_max_wait_seconds=args.batch_max_wait,
        batch_work_seconds=args.batch_work,
        lambda_memory_mib=args.lambda_memory,
    )
    uploads = generate(mix)
    summaries = {
        strategy: summarise(replay(uploads, strategy, stack=stack, timing=timing, options=options))
        for strategy in Strategy
    }
    peer = guardduty(uploads)
    baseline = summaries[Strategy.PER_FILE]
    verdicts = [judge(summary, baseline, peer) for summary in summaries.values()]
    chosen = choose(verdicts, summaries)
    total_gib = sum(u.size for u in uploads) / GiB
    print(
        f"mix: {len(uploads)} files/day, {total_gib:.1f} GiB, seed {mix.seed}; "
        f"vCPU cap {stack.vcpu_quota:g}, Fargate {'Spot' if stack.spot else 'on-demand'}, "
        f"image {timing.image_mib:g} MiB, ephemeral {stack.ephemeral_gib} GiB, "
        f"small-file route <= {options.small_limit // 1024**2} MiB, batch wait "
        f"{options.batch_max_wait_seconds:g} s / work {options.batch_work_seconds:g} s, "
        f"Lambda {options.lambda_memory_mib} MiB\n"
    )
    print(latency_table(list(summaries.values())))
    print()
    print(cost_table(list(summaries.values()), peer))
    print()
    for verdict in verdicts:
        p50 = summaries[verdict.strategy].classes[0].p50
        print(
            f"{verdict.strategy:<9} small p50 {_seconds(p50)} s "
            f"{'<=' if verdict.small_p50_ok else '>'} 60 s; "
            f"per 1,000 small files {verdict.small_cost_ratio:.1f}x below one job per file "
            f"(scan compute alone {verdict.small_compute_ratio:.1f}x); "
            f"per GB {verdict.gb_cost_ratio:.1f}x below GuardDuty -> {'PASS' if verdict.passes else 'fail'}"
        )
    chosen_verdict = next(v for v in verdicts if v.strategy is chosen)
    print(f"\nbuild: {chosen} ({'meets' if chosen_verdict.passes else 'does NOT meet'} the bar)")
    print("\nnot verified against AWS pages in this model (assumptions or third-party copies):")
    for item in aws.NOT_VERIFIED:
        print(f"  - {item}")
    return 0


def latency_table(summaries: list[Summary]) -> str:
    """Markdown: p50/p99 upload-to-verdict seconds per size class and strategy."""
    classes = [row.name for row in summaries[0].classes]
    header = (
        "| strategy | "
        + " | ".join(f"{name} p50 / p99 (s)" for name in classes)
        + " | jobs | SubmitJob calls |"
    )
    lines = [header, "|" + " --- |" * (len(classes) + 3)]
    for summary in summaries:
        cells = []
        for row in summary.classes:
            cell = f"{_seconds(row.p50)} / {_seconds(row.p99)}"
            if row.skipped:
                cell += f" ({row.skipped} skipped)"
            cells.append(cell)
        lines.append(
            f"| {summary.strategy} | " + " | ".join(cells) + f" | {summary.tasks} | {summary.submissions} |"
        )
    return "\n".join(lines)


def cost_table(summaries: list[Summary], peer: GuardDuty) -> str:
    """Markdown: ceiling and costs per strategy, GuardDuty last."""
    lines = [
        "| strategy | small files/s ceiling | $ per day | $ per 1,000 files | $ per 1,000 small files "
        "(scan compute) | $ per GB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        lines.append(
            f"| {s.strategy} | {s.ceiling:,.1f} | {_usd(s.usd_total)} | {_usd(s.usd_per_1000_files)} | "
            f"{_usd(s.usd_per_1000_small)} ({_usd(s.compute_per_1000_small)}) | {_usd(s.usd_per_gb)} |"
        )
    lines.append(
        f"| GuardDuty Malware Protection for S3 | n/a | {_usd(peer.usd_total)} | "
        f"{_usd(peer.usd_per_1000_files)} | {_usd(peer.usd_per_1000_small)} | {_usd(peer.usd_per_gb)} |"
    )
    return "\n".join(lines)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _usd(value: Decimal) -> str:
    return f"{value:.4f}" if value < 1 else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
