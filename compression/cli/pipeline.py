"""`python -m compression pipeline --recipe FILE.json`: run a recipe stage by stage, each stage measured
(its file really written) and, with --record, recorded as a run linked to the previous stage."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compression import data, models, pipeline, train
from compression.cli import ProgressBar


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "pipeline",
        help="run a recipe (prune -> share -> Huffman, low-rank -> quantize, ...) stage by stage",
        description="Run a JSON recipe on a trained baseline; every stage is measured, optionally recorded.",
    )
    p.add_argument("--recipe", required=True, help="recipe JSON (see recipes/)")
    p.add_argument("--dataset", choices=list(data.DATASETS), help="default: the recipe's")
    p.add_argument("--model", choices=list(models.MODELS), help="default: the recipe's")
    p.add_argument(
        "--latency", action="store_true", help="time every stage paired with the baseline (slower)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument(
        "--record", action="store_true", help="store every stage as a run (tags pipeline:, stage:, prev-run:)"
    )
    p.add_argument("--store", help="SQLAlchemy URL of the run store for --record")
    p.add_argument("--who", default="cli")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    try:
        recipe = pipeline.load_recipe(Path(args.recipe))
        dataset = args.dataset or recipe.dataset
        model = args.model or recipe.model
        if model not in models.MODELS:
            raise ValueError(f"Unknown model '{model}' in the recipe")
        ds = data.load(dataset)
    except (OSError, ValueError, KeyError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(enabled=not args.json)
    base = train.get_baseline(train.default_config(dataset, model), bar)
    try:
        res = pipeline.run(
            recipe, base, ds, latency=args.latency, record=args.record, store=args.store, who=args.who,
            arch=model, progress=bar,
        )  # fmt: skip
    except (ValueError, train.Cancelled) as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a store that fails: say so, no traceback
        bar.close()
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    bar.close()
    if args.json:
        print(json.dumps({"dataset": dataset, "model": model, **res.as_dict()}, indent=2, default=str))
        return 0
    print(f"{recipe.name}: {model} on {dataset}, pipeline {res.pipeline_id}")
    b0 = res.stages[0].bytes
    for s in res.stages:
        run = f", run #{s.run_id}" if s.run_id is not None else ""
        print(
            f"  {s.index}. {s.label:<22} {s.bytes:>10,} B  {b0 / s.bytes:6.1f}x  top-1 {s.measurement.top1:.2%}"
            f"  ({s.seconds:.1f} s{run})"
        )
    print(f"  {res.ratio:.1f}x smaller than the dense fp32 file")
    return 0
