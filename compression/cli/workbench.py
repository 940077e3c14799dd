"""`info` (the Model page's measurements, headless) and `train` (train and cache a baseline)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch
from tqdm import tqdm

from compression import data, fmt, metrics, models, train
from compression.cli import count, seed


def classes(text: str) -> int:
    n = count(text)
    if not 1 <= n <= 100_000:
        raise argparse.ArgumentTypeError(f"classes are 1 to 100,000 (got {n})")
    return n


def register(sub: argparse._SubParsersAction) -> None:
    info = sub.add_parser("info", help="measure a baseline model (the Model page's numbers)")
    info.add_argument(
        "--dataset", choices=list(data.DATASETS), help="omit with --input-size to measure compute only"
    )
    info.add_argument("--model", required=True, choices=list(models.MODELS))
    info.add_argument("--input-size", help="CxHxW, e.g. 3x224x224 (no dataset: params, MACs, latency only)")
    info.add_argument("--classes", type=classes, default=1000, help="classes when --input-size is given")
    info.add_argument("--no-latency", action="store_true", help="skip the latency benchmark")
    info.add_argument("--layers", action="store_true", help="also print the per-layer table")
    info.add_argument("--json", action="store_true", help="machine-readable output")
    info.set_defaults(func=cmd_info)

    tr = sub.add_parser("train", help="train a baseline and cache it on disk")
    tr.add_argument("--dataset", required=True, choices=list(data.DATASETS))
    tr.add_argument("--model", required=True, choices=list(models.MODELS))
    tr.add_argument("--epochs", type=int)
    tr.add_argument("--optimizer", choices=["adam", "sgd"])
    tr.add_argument("--lr", type=float)
    tr.add_argument("--batch-size", type=int)
    tr.add_argument("--seed", type=seed)
    tr.add_argument("--width", type=float, default=1.0)
    tr.add_argument("--out", help="folder to save into (default: the cache; assets/baselines to ship)")
    tr.add_argument("--force", action="store_true", help="retrain even when cached")
    tr.set_defaults(func=cmd_train)


def _progress_bar(desc: str) -> tuple[tqdm, train.Progress]:
    bar = tqdm(total=100, desc=desc, file=sys.stderr, bar_format="{l_bar}{bar}| {postfix}")

    def update(frac: float, msg: str) -> None:
        bar.n = round(frac * 100)
        bar.set_postfix_str(msg)

    return bar, update


MAX_INPUT = 3 * 1024 * 1024  # values per image: --input-size measures one image at a time


def _input_size(text: str) -> tuple[int, int, int]:
    """CxHxW from '3x224x224': three positive sizes, at most MAX_INPUT values in all."""
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise SystemExit("--input-size must be CxHxW, e.g. 3x224x224") from None
    if min(c, h, w) < 1 or c * h * w > MAX_INPUT:
        raise SystemExit(f"--input-size: C, H and W at least 1 and C*H*W at most {MAX_INPUT:,} (3x1024x1024)")
    return c, h, w


def cmd_info(args: argparse.Namespace) -> int:
    if args.input_size:
        shape = _input_size(args.input_size)
        try:
            model = models.build(args.model, shape, args.classes)
            executed, effective = metrics.macs(model, shape)
        except RuntimeError as exc:  # e.g. an image smaller than the model's kernels
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise SystemExit(f"error: {args.model} cannot take a {args.input_size} input: {first}") from None
        out: dict[str, object] = {
            "model": args.model,
            "input_size": list(shape),
            "classes": args.classes,
            "params_total": sum(p.numel() for p in model.parameters()),
            "macs": executed,
            "macs_effective": effective,
            "threads": torch.get_num_threads(),
        }
        if not args.no_latency:
            out["latency_b1_ms"] = metrics.latency_ms(model, shape, 1)
        return _print(out, args.json)
    if not args.dataset:
        raise SystemExit("give --dataset, or --input-size to measure compute only")
    try:
        ds = data.load(args.dataset)
    except data.DatasetUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None
    cfg = train.default_config(args.dataset, args.model)
    bar, update = _progress_bar("baseline")
    model = train.get_baseline(cfg, update)
    bar.close()
    m = metrics.measure(model, ds, latency=not args.no_latency)
    out = {"dataset": args.dataset, "model": args.model, "weights": train.weights_hash(model), **m.as_dict()}
    if args.layers:
        out["layers"] = metrics.layer_table(model, ds.input_shape)
    code = _print(out, args.json)
    if not args.json:
        for note in metrics.explain_gaps(m):
            print(f"note: {note}")
    return code


def _print(out: dict[str, object], as_json: bool) -> int:
    if as_json:
        print(json.dumps(out, indent=2))
        return 0
    for key, value in out.items():
        if key == "layers":
            continue
        if isinstance(value, float) and key.startswith("top"):
            text = f"{value:.2%}"
        elif key.endswith("_bytes"):
            text = fmt.bytes_(value)  # type: ignore[arg-type]
        elif key.startswith("macs"):
            text = f"{value:,} ({fmt.count(value)})"  # type: ignore[arg-type]
        elif isinstance(value, float):
            text = f"{value:.4g}"
        else:
            text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
        print(f"{key:>24}: {text}")
    for row in out.get("layers", []):  # type: ignore[union-attr]
        print("  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    overrides = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "optimizer": args.optimizer,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "seed": args.seed,
        }.items()
        if v is not None
    }
    try:  # every refusal before the training, not after it
        cfg = replace(train.default_config(args.dataset, args.model, args.width), **overrides)
        data.load(cfg.dataset)
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
    except (ValueError, OSError, data.DatasetUnavailable) as exc:
        raise SystemExit(f"error: {exc}") from None
    if train.baseline_path(cfg) is not None and not args.force and not args.out:
        print(f"already cached: {train.baseline_path(cfg)}")
        return 0
    bar, update = _progress_bar(f"train {cfg.model} on {cfg.dataset}")
    model = train.train_baseline(cfg, update)
    bar.close()
    path = train.save_baseline(model, cfg, Path(args.out) if args.out else None)
    ds = data.load(cfg.dataset)
    top1, _, _ = metrics.evaluate(model, ds.x_test, ds.y_test)
    print(json.dumps({"path": str(path), "test_top1": top1, "config": asdict(cfg)}))
    return 0
