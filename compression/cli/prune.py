"""`python -m compression prune`: prune a baseline with any method, measure it, optionally record it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from compression import data, metrics, techniques, train
from compression import pruning as P
from compression.cli import (
    ProgressBar,
    add_baseline_args,
    add_result_args,
    record_and_dump,
    recorded_line,
    speed_line,
)
from compression.distillation import recovery


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "prune",
        help="prune a baseline: magnitude, random, L1/L2 filters, activation, network slimming",
        description="Prune the trained baseline of DATASET/MODEL and measure accuracy, size and latency.",
    )
    add_baseline_args(p)
    p.add_argument("--method", default="magnitude", choices=list(P.METHODS))
    p.add_argument(
        "--amount", type=float, default=0.5, help="fraction of weights/groups zeroed or channels removed"
    )
    p.add_argument("--scope", default="layer", choices=list(P.SCOPES))
    p.add_argument(
        "--granularity", default="weight", choices=list(P.GRANULARITIES), help="masked methods only"
    )
    p.add_argument("--exclude", default="", help="comma-separated layer names to keep dense")
    p.add_argument("--schedule", default="one-shot", choices=list(P.SCHEDULES))
    p.add_argument("--steps", type=int, default=3, help="pruning steps for iterative/gradual schedules")
    p.add_argument("--finetune-epochs", type=int, default=0, help="fine-tuning epochs after each step")
    p.add_argument("--optimizer", default="sgd", choices=["sgd", "adam"])
    p.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default by optimizer)")
    p.add_argument("--l1", type=float, default=1e-4, help="slimming: L1 strength on BN scales")
    p.add_argument("--sparsity-epochs", type=int, default=2, help="slimming: epochs trained with the penalty")
    recovery.add_cli_args(p)
    add_result_args(p)
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        if not 0.0 <= args.amount <= 0.99:
            raise ValueError(f"--amount must be between 0 and 0.99, got {args.amount}")
        config = P.make_config(
            args.method,
            args.amount,
            scope=args.scope,
            granularity=args.granularity,
            exclude=tuple(n.strip() for n in args.exclude.split(",") if n.strip()),
            schedule=args.schedule,
            steps=args.steps if args.schedule != "one-shot" else 1,
            finetune_epochs=args.finetune_epochs,
            optimizer=args.optimizer,
            lr=args.lr,
            l1=args.l1,
            sparsity_epochs=args.sparsity_epochs,
        )
        config.validate()
        ds = data.load(args.dataset)
    except (ValueError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    bar = ProgressBar(enabled=True)
    base = train.get_baseline(train.default_config(args.dataset, args.model), bar)
    unknown = [n for n in config.exclude if n not in P.layer_names(base)]
    if unknown:
        bar.close()
        print(
            f"error: unknown layer(s) {', '.join(unknown)}; prunable: {', '.join(P.layer_names(base))}",
            file=sys.stderr,
        )
        return 2
    try:
        if args.kd:  # the recipe says so: kd-recovery wrapping the pruning config
            config = recovery.KDRecovery.wrap(config, args.kd_temperature, args.kd_alpha)
        pruned = techniques.apply(base, config, ds, bar)
    except (ValueError, train.Cancelled) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    m = metrics.measure(pruned, ds, baseline=base, latency=not args.no_latency)  # paired with the baseline
    mb = metrics.measure(base, ds, latency=False)
    result: dict[str, Any] = {
        "dataset": args.dataset,
        "model": args.model,
        "config": techniques.to_dict(config),
        "removed_fraction": P.methods.removed_fraction(base, pruned),
        "baseline": mb.as_dict(),
        "measurement": m.as_dict(),
        "notes": metrics.explain_gaps(m),
    }
    done = record_and_dump(args, result, pruned, base, config, m)
    if done is not None:
        return done
    print(f"{args.model} on {args.dataset}: {techniques.to_dict(config)}")
    print(f"  top-1 {m.top1:.2%} (dense {mb.top1:.2%}, {100 * (m.top1 - mb.top1):+.2f} points)")
    print(
        f"  weights gone {result['removed_fraction']:.1%}; params {m.params_nonzero:,} non-zero of "
        f"{m.params_total:,} (dense {mb.params_total:,})"
    )
    print(
        f"  size: dense {m.size_dense_bytes:,} B, theoretical {m.size_theoretical_bytes:,} B, "
        f"file {m.size_artifact_bytes:,} B (dense model's file {mb.size_artifact_bytes:,} B)"
    )
    print(f"  MACs/image {m.macs:,} (dense {mb.macs:,}); zero-skipping {m.macs_effective:,}")
    if m.speedup_b256 is not None:
        print(f"  {speed_line(m)}")
    for note in result["notes"]:
        print(f"  - {note}")
    if "run_id" in result:
        print(recorded_line(result))
    return 0
