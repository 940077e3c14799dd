"""`python -m compression lowrank`: factorise a baseline (SVD, Tucker-2, CP), measure it, optionally record it."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from compression import data, metrics, techniques, train
from compression.cli import (
    ProgressBar,
    add_baseline_args,
    add_result_args,
    record_and_dump,
    recorded_line,
    speed_line,
)
from compression.distillation import recovery
from compression.lowrank import METHODS, LowRank, plan


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "lowrank",
        help="low-rank factorisation: truncated SVD of linear layers, Tucker-2 / CP of convolutions",
        description="Factorise the trained baseline of DATASET/MODEL and measure accuracy, size, MACs and latency.",
    )
    add_baseline_args(p)
    p.add_argument(
        "--method", default="svd", choices=list(METHODS), help="svd: linear layers; tucker/cp: convs"
    )
    rule = p.add_mutually_exclusive_group()
    rule.add_argument("--rank", type=int, help="fixed rank of every factorised layer")
    rule.add_argument("--energy", type=float, help="keep this fraction (0..1] of the squared singular values")
    rule.add_argument("--auto", action="store_true", help="VBMF picks each layer's rank")
    p.add_argument(
        "--layers", default="", help="comma-separated layers to factorise (default: every eligible one)"
    )
    p.add_argument("--exclude", default="", help="comma-separated layers to keep whole")
    p.add_argument("--finetune-epochs", type=int, default=0)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--lr", type=float, default=None)
    recovery.add_cli_args(p)
    add_result_args(p)
    p.set_defaults(func=handle)


def _names(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def handle(args: argparse.Namespace) -> int:
    try:
        if args.auto:
            rule: dict[str, Any] = {"rule": "auto"}
        elif args.rank is not None:
            rule = {"rule": "rank", "rank": args.rank}
        else:
            rule = {"rule": "energy", "energy": 0.9 if args.energy is None else args.energy}
        config = LowRank(
            method=args.method,
            layers=_names(args.layers),
            exclude=_names(args.exclude),
            finetune_epochs=args.finetune_epochs,
            optimizer=args.optimizer,
            lr=args.lr,
            **rule,
        )
        ds = data.load(args.dataset)
    except (ValueError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(enabled=not args.json)
    base = train.get_baseline(train.default_config(args.dataset, args.model), bar)
    rows = plan(base, config)
    known = {r.name for r in plan(base, LowRank(method=args.method))}
    unknown = [n for n in (*config.layers, *config.exclude) if n not in known]
    if unknown or not rows:
        bar.close()
        why = (
            f"unknown layer(s) {', '.join(unknown)}" if unknown else f"no layer that {args.method} factorises"
        )
        print(f"error: {why}; eligible: {', '.join(sorted(known)) or 'none'}", file=sys.stderr)
        return 2
    step: Any = config
    if args.kd:  # the recipe says so: kd-recovery wrapping the low-rank config
        step = recovery.KDRecovery.wrap(config, args.kd_temperature, args.kd_alpha)
    try:
        out = techniques.apply(base, step, ds, bar)
    except (ValueError, train.Cancelled) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    m = metrics.measure(out, ds, baseline=base, latency=not args.no_latency)
    result: dict[str, Any] = {
        "dataset": args.dataset,
        "model": args.model,
        "config": techniques.to_dict(step),
        "layers": [
            {
                "layer": r.name,
                "ranks": list(r.ranks),
                "full_ranks": list(r.full_ranks),
                "energy_kept": r.energy_kept,
                "params_before": r.params_before,
                "params_after": r.params_after,
                "factorised": r.factorise,
            }
            for r in rows
        ],
        "measurement": m.as_dict(),
    }
    done = record_and_dump(args, result, out, base, step, m)
    if done is not None:
        return done
    print(f"{args.model} on {args.dataset}: {techniques.to_dict(step)}")
    for r in rows:
        what = (
            f"ranks {r.ranks} of {r.full_ranks}" if r.factorise else "kept whole (factorisation not smaller)"
        )
        print(
            f"  {r.name}: {what}, energy kept {r.energy_kept:.1%}, params {r.params_before:,} -> {r.params_after:,}"
        )
    base_top1 = metrics.evaluate(base, ds.x_test, ds.y_test)[0]
    print(f"  top-1 {m.top1:.2%} (baseline {base_top1:.2%}, {100 * (m.top1 - base_top1):+.2f} points)")
    print(
        f"  params {m.params_total:,} (baseline {m.baseline_params:,}, {m.baseline_params / max(1, m.params_total):.2f}x "
        f"fewer); MACs/image {m.macs:,} (baseline {m.baseline_macs:,}); file {m.size_artifact_bytes:,} B"
    )
    if m.speedup_b256 is not None:
        print(f"  {speed_line(m)}")
    if "run_id" in result:
        print(recorded_line(result))
    return 0
