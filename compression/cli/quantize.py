"""`python -m compression quantize`: quantize a baseline with any scheme, measure it, optionally record it."""

from __future__ import annotations

import argparse
import contextlib
import sys

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
from compression.quantization import catalog, core, schemes, storage


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "quantize",
        help="quantize a baseline: linear, k-means, log, binary, ternary, XNOR, FP16/BF16, mixed, INT8, QAT",
        description="Quantize the trained baseline of DATASET/MODEL and measure accuracy, size and latency.",
    )
    add_baseline_args(p)
    p.add_argument("--scheme", default="linear", choices=list(catalog.SCHEMES))
    p.add_argument("--bits", type=int, default=8, help="bits per weight (1..8 or 16; k-means/log 1..8)")
    p.add_argument("--granularity", default="per-channel", choices=list(schemes.GRANULARITIES))
    p.add_argument("--asymmetric", action="store_true", help="linear: fit [min, max] with a zero point")
    p.add_argument("--activations", action="store_true", help="linear: fake-quantize activations too")
    p.add_argument("--act-bits", type=int, default=8)
    p.add_argument("--calibration", default="minmax", choices=list(core.RANGE_METHODS))
    p.add_argument("--init", default="linear", choices=list(core.KMEANS_INITS), help="k-means centroid init")
    p.add_argument("--avg-bits", type=float, default=4.0, help="mixed: mean bits per weight budget")
    p.add_argument(
        "--layer-bits",
        default="",
        help='mixed/linear/k-means/log overrides, e.g. "features.0=8,classifier.5=8"',
    )
    p.add_argument("--qat-epochs", type=int, default=0, help="fine-tune with quantization-aware training")
    p.add_argument("--qat-lr", type=float, default=1e-4)
    recovery.add_cli_args(p)
    add_result_args(p)
    p.set_defaults(func=handle)


def _layer_bits(text: str) -> schemes.LayerBits:
    pairs = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, bits = item.partition("=")
        if not bits.strip().isdigit():
            raise ValueError(f"--layer-bits entry '{item}' is not LAYER=BITS")
        pairs.append((name.strip(), int(bits)))
    return tuple(pairs)


def handle(args: argparse.Namespace) -> int:
    try:
        if args.scheme in ("kmeans", "log") and args.bits > 8:  # the page's slider clamps; a command says so
            raise ValueError(f"--scheme {args.scheme} takes 1..8 bits, got {args.bits}")
        config = catalog.make_config(
            args.scheme,
            args.bits,
            granularity=args.granularity,
            symmetric=not args.asymmetric,
            activations=args.activations,
            act_bits=args.act_bits,
            calibration=args.calibration,
            kmeans_init=args.init,
            layer_bits=_layer_bits(args.layer_bits),
            avg_bits=args.avg_bits,
            qat_epochs=args.qat_epochs,
            qat_lr=args.qat_lr,
        )
        ds = data.load(args.dataset)
    except (ValueError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    progress = ProgressBar(enabled=not args.json)
    cfg = train.default_config(args.dataset, args.model)
    base = train.get_baseline(cfg, progress)
    names = P.layer_names(base)
    unknown = [n for n, _ in _layer_bits(args.layer_bits) if n not in names]
    if unknown:  # pruning and low rank refuse them too; they were ignored here
        progress.close()
        print(
            f"error: unknown layer(s) {', '.join(unknown)}; quantizable: {', '.join(names)}", file=sys.stderr
        )
        return 2
    kd = (
        recovery.kd_context(base, args.kd_temperature, args.kd_alpha) if args.kd else contextlib.nullcontext()
    )
    try:
        with kd:  # QAT's training loop distils from the float baseline
            quantized, m = catalog.run(base, ds, config, latency=not args.no_latency, progress=progress)
    except ValueError as exc:  # a value only the model can refuse (a bit budget below every width)
        progress.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.kd:  # the recipe says so: kd-recovery wrapping the quantization config
        config = recovery.KDRecovery.wrap(config, args.kd_temperature, args.kd_alpha)
    progress.close()
    base_top1, _, _ = metrics.evaluate(base, ds.x_test, ds.y_test)
    result = {
        "dataset": args.dataset,
        "model": args.model,
        "config": techniques.to_dict(config),
        "kind": storage.kind_of(quantized),
        "baseline_top1": base_top1,
        "measurement": m.as_dict(),
        "notes": storage.gap_notes(m, quantized),
    }
    chosen = getattr(quantized, "_cla_layer_bits", None)
    if chosen:  # mixed precision: the bits per layer, searched or given
        result["layer_bits"] = dict(chosen)
    done = record_and_dump(args, result, quantized, base, config, m)
    if done is not None:
        return done
    lat = "simulated (runs in float)" if result["kind"] == "simulated" else "real"
    print(f"{args.model} on {args.dataset}: {techniques.to_dict(config)}")
    print(f"  top-1 {m.top1:.2%} (float32 {base_top1:.2%}, {100 * (m.top1 - base_top1):+.2f} points)")
    if chosen:
        print("  bits per layer: " + ", ".join(f"{k}={v}" for k, v in chosen.items()))
    print(
        f"  bits/weight {m.effective_bits:.2f}; size: dense {m.size_dense_bytes:,} B, theoretical "
        f"{m.size_theoretical_bytes:,} B, file {m.size_artifact_bytes:,} B"
    )
    if m.speedup_b256 is not None:
        print(f"  {speed_line(m)} ({lat})")
    for note in result["notes"]:  # type: ignore[union-attr]
        print(f"  - {note}")
    if "run_id" in result:
        print(recorded_line(result))
    return 0
