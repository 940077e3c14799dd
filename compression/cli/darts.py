"""`python -m compression darts`: differentiable architecture search, then the derived cell retrained.

darts --dataset D --epochs N --cells L --nodes K --channels C [--order 1|2] [--partial-channels K]
      [--cure none|early-stop|cap-skips] [--selection alpha|perturbation] [--retrain-epochs N]
      [--json] [--record]
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


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from compression.search.darts import CURES, SELECTIONS, DartsConfig

    d = DartsConfig()
    p = sub.add_parser(
        "darts",
        help="differentiable architecture search (DARTS, PC-DARTS) and the derived network retrained",
        description="Search a cell of mixed operations (alphas by gradient descent on half a training "
        "subset, weights on the other half), derive the genotype (top-2 inputs per node), retrain it from "
        "scratch and measure it against the dataset's LeNet-5 baseline.",
    )
    p.add_argument("--dataset", default="digits", choices=list(data.DATASETS))
    p.add_argument("--epochs", type=int, default=d.epochs, help="search budget in epochs")
    p.add_argument("--cells", type=int, default=d.cells, help="cells (reduction cells at 1/3 and 2/3)")
    p.add_argument("--nodes", type=int, default=d.nodes, help="intermediate nodes per cell")
    p.add_argument("--channels", type=int, default=d.channels, help="C, the first cells' channels")
    p.add_argument("--order", type=int, default=d.order, choices=[1, 2], help="architecture gradient order")
    p.add_argument(
        "--partial-channels", type=int, default=d.partial_channels, help="PC-DARTS K (1: all channels)"
    )
    p.add_argument("--cure", default=d.cure, choices=list(CURES))
    p.add_argument(
        "--selection",
        default=d.selection,
        choices=list(SELECTIONS),
        help="how the cell is derived: the strongest alpha (DARTS) or the op whose removal costs the "
        "supernet most validation loss (DARTS-PT)",
    )
    p.add_argument(
        "--retrain-epochs",
        type=int,
        help=f"default: 30 on digits, {d.retrain_epochs} elsewhere (as the page)",
    )
    p.add_argument(
        "--search-subset", type=int, default=d.search_subset, help="training images of the search (2 halves)"
    )
    p.add_argument("--arch-lr", type=float, default=d.arch_lr, help="Adam learning rate of the alphas")
    p.add_argument("--lr", type=float, default=d.lr, help="SGD learning rate of the supernet's weights")
    p.add_argument(
        "--size-penalty",
        type=float,
        default=d.size_penalty,
        help="lambda of resource-aware DARTS: alpha's loss adds lambda x the cells' expected op size (0..1); "
        "0 = plain DARTS",
    )
    p.add_argument("--retrain-subset", type=int, default=d.retrain_subset, help="0: the whole training split")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seed", type=seed, default=d.seed)
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
    from compression.search.darts import DartsConfig, start_retrain_epochs

    retrain_epochs = (
        start_retrain_epochs(args.dataset) if args.retrain_epochs is None else args.retrain_epochs
    )
    cfg = DartsConfig(
        dataset=args.dataset,
        epochs=args.epochs,
        cells=args.cells,
        nodes=args.nodes,
        channels=args.channels,
        order=args.order,
        partial_channels=args.partial_channels,
        cure=args.cure,
        selection=args.selection,
        retrain_epochs=retrain_epochs,
        search_subset=args.search_subset,
        retrain_subset=args.retrain_subset,
        arch_lr=args.arch_lr,
        lr=args.lr,
        size_penalty=args.size_penalty,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    cfg.validate()
    return cfg


def _record(args: argparse.Namespace, model: nn.Module, base: nn.Module, cfg: Any, m: Any) -> int:
    genotype = f"genotype {json.dumps(model._cla_meta['darts']['genotype'])}"  # type: ignore[index]
    return runs.record_run(
        model,
        dataset=args.dataset,
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
        ds = data.load(args.dataset)
    except (ValueError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(enabled=True)
    try:
        base = train.get_baseline(train.default_config(args.dataset, REFERENCE))
        result, model = search_and_retrain(cfg, ds, progress=bar, device=args.device)
    except (train.Cancelled, RuntimeError) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar.close()
    m = metrics.measure(model, ds, baseline=base, latency=not args.no_latency)
    m_base = metrics.measure(base, ds, latency=False)
    out: dict[str, Any] = {
        "dataset": args.dataset,
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
        f"DARTS on {args.dataset}: {cfg.cells} cells x {cfg.nodes} nodes, C={cfg.channels}, "
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
