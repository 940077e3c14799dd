"""`python -m compression darts`: differentiable architecture search, then the derived cell retrained.

darts --dataset D --epochs N --cells L --nodes K --channels C [--order 1|2] [--partial-channels K]
      [--cure none|early-stop|cap-skips] [--selection alpha|perturbation] [--retrain-epochs N]
      [--warmup-epochs N] [--preset default|target] [--json] [--record]
`--preset target` is the recorded 15-minute fashion-mnist search (any flag given overrides it).
The retrained network is measured (`metrics.measure`) against the dataset's LeNet-5 baseline, the
reference the run's lineage names on the Compare page.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from torch import nn

from compression import data, metrics, runs, techniques, train
from compression.cli import ProgressBar, add_label_args, baseline_source, seed, speed_line

REFERENCE = "lenet5"  # the zoo baseline a DARTS run is compared against (same dataset)


# the config's fields the command line sets (flag: --field-with-dashes); each defaults to the preset's value
FIELDS = (
    "dataset", "epochs", "cells", "nodes", "channels", "order", "partial_channels", "cure", "selection",
    "warmup_epochs", "retrain_epochs", "retrain_lr", "search_subset", "retrain_subset", "arch_lr", "lr",
    "size_penalty", "batch_size", "seed",
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from compression.search.darts import CURES, SELECTIONS, TARGET, DartsConfig, start_retrain_lr

    d = DartsConfig()
    p = sub.add_parser(
        "darts",
        help="differentiable architecture search (DARTS, PC-DARTS) and the derived network retrained",
        description="Search a cell of mixed operations (alphas by gradient descent on half a training "
        "subset, weights on the other half), derive the genotype (top-2 inputs per node), retrain it from "
        "scratch and measure it against the dataset's LeNet-5 baseline. Every setting starts from the "
        "preset's value (shown as 'default') unless given.",
    )
    p.add_argument(
        "--preset",
        choices=["default", "target"],
        default="default",
        help="target: the recorded 15-minute fashion-mnist search (bench/results/darts_target.md): "
        f"{TARGET.epochs} epochs, the first {TARGET.warmup_epochs} weights only, {TARGET.cells} cells x "
        f"{TARGET.nodes} nodes, C={TARGET.channels}, K={TARGET.partial_channels}, {TARGET.cure}, "
        f"{TARGET.search_subset:,} images, alpha step {TARGET.arch_lr:g}, retrained {TARGET.retrain_epochs} "
        f"epochs at {TARGET.retrain_lr:g}",
    )
    p.add_argument("--dataset", choices=list(data.DATASETS), help="default: digits")
    p.add_argument("--epochs", type=int, help=f"search budget in epochs (default {d.epochs})")
    p.add_argument("--cells", type=int, help=f"cells, reductions at 1/3 and 2/3 (default {d.cells})")
    p.add_argument("--nodes", type=int, help=f"intermediate nodes per cell (default {d.nodes})")
    p.add_argument("--channels", type=int, help=f"C, the first cells' channels (default {d.channels})")
    p.add_argument("--order", type=int, choices=[1, 2], help="architecture gradient order (default 1)")
    p.add_argument("--partial-channels", type=int, help="PC-DARTS K (default 1: all channels)")
    p.add_argument("--cure", choices=list(CURES), help=f"default {d.cure}")
    p.add_argument(
        "--selection",
        choices=list(SELECTIONS),
        help="how the cell is derived: the strongest alpha (DARTS, the default) or the op whose removal "
        "costs the supernet most validation loss (DARTS-PT)",
    )
    p.add_argument(
        "--warmup-epochs", type=int, help="first search epochs that train the weights only (default 0)"
    )
    p.add_argument(
        "--retrain-epochs",
        type=int,
        help=f"default: 30 on digits, {d.retrain_epochs} elsewhere (as the page)",
    )
    p.add_argument(
        "--retrain-lr",
        type=float,
        help=f"Adam step of the retraining (default: {start_retrain_lr('fashion-mnist'):g} on fashion-mnist, "
        f"else {d.retrain_lr:g})",
    )
    p.add_argument(
        "--search-subset",
        type=int,
        help=f"training images of the search, 2 halves (default {d.search_subset})",
    )
    p.add_argument("--retrain-subset", type=int, help="training images of the retraining (default 0: all)")
    p.add_argument("--arch-lr", type=float, help=f"Adam learning rate of the alphas (default {d.arch_lr:g})")
    p.add_argument("--lr", type=float, help=f"SGD learning rate of the supernet's weights (default {d.lr:g})")
    p.add_argument(
        "--size-penalty",
        type=float,
        help="lambda of resource-aware DARTS: alpha's loss adds lambda x the cells' expected op size (0..1); "
        "default 0 = plain DARTS",
    )
    p.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    p.add_argument("--seed", type=seed, help="default 0")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    p.add_argument("--no-latency", action="store_true", help="skip the paired latency timing")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--record", action="store_true", help="store the retrained network as a run")
    p.add_argument(
        "--store", help="SQLAlchemy URL of the run store for --record (default: $COMPRESSION_STORE)"
    )
    p.add_argument("--who", default="cli")
    add_label_args(p)
    p.set_defaults(func=handle)


def _config(args: argparse.Namespace) -> Any:
    """The preset, with the settings given on the command line; the per-dataset starts (retraining epochs
    and step, as the page) where neither sets them."""
    from compression.search.darts import TARGET, DartsConfig, start_retrain_epochs, start_retrain_lr

    given = {k: getattr(args, k) for k in FIELDS if getattr(args, k) is not None}
    if args.preset == "target":
        cfg = dataclasses.replace(TARGET, **given)
    else:
        dataset = given.get("dataset", "digits")
        base = DartsConfig(
            dataset=dataset,
            retrain_epochs=start_retrain_epochs(dataset),
            retrain_lr=start_retrain_lr(dataset),
        )
        cfg = dataclasses.replace(base, **given)
    cfg.validate()
    return cfg


def _record(args: argparse.Namespace, model: nn.Module, base: nn.Module, cfg: Any, m: Any) -> int:
    genotype = f"genotype {json.dumps(model._cla_meta['darts']['genotype'])}"  # type: ignore[index]
    return runs.record_run(
        model,
        dataset=cfg.dataset,
        arch="darts",
        baseline_hash=train.weights_hash(base),
        recipe=[cfg],
        measurement=m,
        technique=cfg.technique,
        who=args.who,
        tags=args.tag,
        store=args.store,
        baseline=baseline_source(args, base),
        notes="\n\n".join(n for n in (genotype, args.notes) if n),  # the genotype, then the user's notes
    )


def handle(args: argparse.Namespace) -> int:
    from compression.search.darts import search_and_retrain

    try:
        cfg = _config(args)
        args.dataset = cfg.dataset  # a preset's, where not given: what recording and the baseline read
        ds = data.load(cfg.dataset)
    except (ValueError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(enabled=True)
    try:
        base = train.get_baseline(train.default_config(cfg.dataset, REFERENCE))
        result, model = search_and_retrain(cfg, ds, progress=bar, device=args.device)
    except (train.Cancelled, RuntimeError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    m = metrics.measure(model, ds, baseline=base, latency=not args.no_latency)
    m_base = metrics.measure(base, ds, latency=False)
    out: dict[str, Any] = {
        "dataset": cfg.dataset,
        "config": techniques.to_dict(cfg),
        "device": result.device,
        "genotype": result.genotype.to_dict(),
        "skips": result.genotype.skip_count(),
        "stopped_at": result.stopped_at,
        "search_seconds": result.seconds,
        "selection_seconds": result.selection_seconds,
        "epochs": [r.summary() for r in result.records],
        "reference": {"model": REFERENCE, "top1": m_base.top1, "params": m_base.params_total},
        "measurement": m.as_dict(),
    }
    if args.record:
        try:
            out["run_id"] = _record(args, model, base, cfg, m)
        except runs.StoreError as exc:
            print(f"error: the run was not recorded: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    _print(args, cfg, result, m, m_base, out.get("run_id"))
    return 0


def _print(args: argparse.Namespace, cfg: Any, result: Any, m: Any, m_base: Any, run_id: int | None) -> None:
    knobs = {
        k: v
        for k, v in dataclasses.asdict(cfg).items()
        if k in ("order", "partial_channels", "cure", "selection")
    }
    print(
        f"DARTS on {cfg.dataset}: {cfg.cells} cells x {cfg.nodes} nodes, C={cfg.channels}, "
        f"{len(result.records)}/{cfg.epochs} search epochs on {result.device} in {result.seconds:.1f} s ({knobs})"
    )
    for r in result.records:
        stop = "  <- early stop" if r.stopped else ""
        print(
            f"  epoch {r.epoch}: search acc {r.train_acc:.2%}, alpha-half acc {r.val_acc:.2%}, "
            f"{r.skips} skip(s) in the normal cell, {r.seconds:.1f} s{stop}"
        )
    if result.selection_scores is not None:
        print(f"  cell chosen by perturbation (DARTS-PT) in {result.selection_seconds:.1f} s")
    g = result.genotype
    print(f"  normal cell: {', '.join(f'{op}<-{i}' for op, i in g.normal)}")
    print(f"  reduction cell: {', '.join(f'{op}<-{i}' for op, i in g.reduce)}")
    print(
        f"  retrained {cfg.retrain_epochs} epoch(s): test top-1 {m.top1:.2%}, {m.params_total:,} params, "
        f"MACs/image {m.macs:,} (LeNet-5 {m_base.top1:.2%}, {m_base.params_total:,} params, {m_base.macs:,} MACs)"
    )
    if m.speedup_b256 is not None:
        print(f"  {speed_line(m)}")
    if run_id is not None:
        print(f"  recorded as run #{run_id}")
