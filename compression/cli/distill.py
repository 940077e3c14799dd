"""`python -m compression distill`: distil a student from a teacher, next to its scratch twin."""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
from pathlib import Path
from typing import Any

from torch import nn

from compression import data, metrics, models, runs, techniques, train, uploads
from compression.cli import ProgressBar, add_label_args, baseline_source, speed_line
from compression.distillation import LOSSES, DistillConfig, start_settings, train_pair, twin_recipe


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "distill",
        help="distil a student (a zoo model at a width) from a teacher, next to its scratch twin",
        description="Train a student on the teacher's soft targets and the same student from scratch (same "
        "init, optimizer and steps); report both on the test split, the student measured against the teacher.",
    )
    p.add_argument("--dataset", default="digits", choices=list(data.DATASETS))
    p.add_argument(
        "--teacher", default="lenet5", choices=list(models.MODELS), help="the teacher's architecture"
    )
    p.add_argument(
        "--teacher-weights",
        help="a state_dict (.pt/.pth, loaded weights-only) or .safetensors of the teacher; "
        "default: its trained baseline (trained and cached when missing)",
    )
    p.add_argument("--student", default="lenet-300-100", choices=list(models.MODELS))
    p.add_argument("--width", type=float, default=0.25, help="the student's width multiplier")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument(
        "--alpha", type=float, default=0.9, help="weight of the soft term; 1 - alpha goes to CE on labels"
    )
    p.add_argument("--loss", default="kl", choices=list(LOSSES))
    p.add_argument("--epochs", type=int, help="default: as the lab, 30 on digits, 5 elsewhere")
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--lr", type=float, help="default: the dataset's training rate (digits 3e-3, else 1e-3)")
    p.add_argument(
        "--labels", type=int, default=0, help="labelled training images (0: all); the rest a transfer set"
    )
    p.add_argument(
        "--seeds", type=int, default=1, help="train this many seeds (0..K-1); mean and spread reported"
    )
    p.add_argument(
        "--jitter", type=int, default=0, help="random +-N pixel shifts of the training images (both students)"
    )
    p.add_argument("--no-latency", action="store_true", help="skip the paired latency of the student")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--record", action="store_true", help="store seed 0's student and twin as runs")
    p.add_argument(
        "--store", help="SQLAlchemy URL of the run store for --record (default: $COMPRESSION_STORE)"
    )
    p.add_argument("--who", default="cli")
    add_label_args(p)
    p.set_defaults(func=handle)


def _teacher(args: argparse.Namespace, ds: data.Dataset, bar: ProgressBar) -> nn.Module:
    if not args.teacher_weights:
        return train.get_baseline(train.default_config(args.dataset, args.teacher), bar)
    path = Path(args.teacher_weights)
    model = models.build(args.teacher, ds.input_shape, ds.num_classes)
    try:
        blob = uploads.read_at_most(path, uploads.MAX_BYTES)
    except OSError as exc:
        raise uploads.UploadError(f"cannot read {path}: {exc}") from exc
    model.load_state_dict(uploads.weights_for(model, path.name, blob))
    return model.eval()


def _record(
    args: argparse.Namespace, teacher: nn.Module, cfg: DistillConfig, model: nn.Module, m: Any, twin: bool
) -> int:
    recipe: list[Any] = [cfg]
    if twin:
        recipe = [twin_recipe(cfg)]
    return runs.record_run(
        model,
        dataset=args.dataset,
        arch=cfg.student,
        baseline_hash=train.weights_hash(teacher),
        recipe=recipe,
        measurement=m,
        technique="scratch-twin" if twin else cfg.technique,
        who=args.who,
        tags=args.tag,
        notes=args.notes,
        store=args.store,
        baseline=baseline_source(args, teacher),
    )


def handle(args: argparse.Namespace) -> int:
    try:
        epochs, lr = start_settings(args.dataset)  # what --epochs / --lr left unset start at
        base_cfg = DistillConfig(
            student=args.student,
            width=args.width,
            temperature=args.temperature,
            alpha=args.alpha,
            loss=args.loss,
            epochs=epochs if args.epochs is None else args.epochs,
            optimizer=args.optimizer,
            lr=lr if args.lr is None else args.lr,
            labels=args.labels,
            jitter=args.jitter,
            batch_size=train.DEFAULT_BATCH.get(args.dataset, 128),
        )
        base_cfg.validate()
        if args.seeds < 1:
            raise ValueError("--seeds must be at least 1")
        ds = data.load(args.dataset)
        models.build(
            args.student, ds.input_shape, ds.num_classes, args.width
        )  # a width it cannot take fails here
    except (ValueError, data.DatasetUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bar = ProgressBar(enabled=True)
    try:
        teacher = _teacher(args, ds, bar)
    except uploads.UploadError as exc:
        bar.close()
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows, first = [], None
    for seed in range(args.seeds):
        cfg = dataclasses.replace(base_cfg, seed=seed)
        span = (seed / args.seeds, (seed + 1) / args.seeds)
        try:
            r = train_pair(
                teacher,
                cfg,
                ds,
                progress=lambda f, m, span=span, seed=seed: bar(
                    span[0] + (span[1] - span[0]) * f, f"seed {seed}: {m}"
                ),
                evaluate_every_epoch=False,
            )
        except train.Cancelled as exc:
            bar.close()
            print(f"error: {exc}", file=sys.stderr)
            return 2
        assert r.scratch is not None
        rows.append(
            {
                "seed": seed,
                "distilled": metrics.evaluate(r.student, ds.x_test, ds.y_test)[0],
                "scratch": metrics.evaluate(r.scratch, ds.x_test, ds.y_test)[0],
                "epoch_cost_ratio": r.epoch_cost_ratio,
            }
        )
        if first is None:
            first = (cfg, r)
    bar.close()
    assert first is not None
    cfg0, r0 = first
    assert r0.scratch is not None
    m_teacher = metrics.measure(teacher, ds, latency=False)
    m = metrics.measure(
        r0.student, ds, baseline=teacher, latency=not args.no_latency
    )  # paired with the teacher
    gains = [100 * (r["distilled"] - r["scratch"]) for r in rows]
    result: dict[str, Any] = {
        "dataset": args.dataset,
        "teacher": args.teacher,
        "teacher_top1": m_teacher.top1,
        "config": techniques.to_dict(base_cfg),
        "seeds": rows,
        "distilled_mean": statistics.mean(r["distilled"] for r in rows),
        "scratch_mean": statistics.mean(r["scratch"] for r in rows),
        "gain_pts_mean": statistics.mean(gains),
        "gain_pts_min": min(gains),
        "gain_pts_max": max(gains),
        "measurement": m.as_dict(),
    }
    if args.record:
        try:
            m_twin = metrics.measure(r0.scratch, ds, baseline=teacher, latency=not args.no_latency)
            result["run_id"] = _record(args, teacher, cfg0, r0.student, m, twin=False)
            result["twin_run_id"] = _record(args, teacher, cfg0, r0.scratch, m_twin, twin=True)
        except runs.StoreError as exc:
            print(f"error: the run was not recorded: {exc}", file=sys.stderr)
            return 1
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(
        f"{args.student} x{args.width:g} from {args.teacher} on {args.dataset}: T={args.temperature:g}, "
        f"alpha={args.alpha:g}, loss {args.loss}, {base_cfg.epochs} epochs, "
        f"{'all labels' if args.labels == 0 else f'{args.labels:,} labels + transfer set'}"
    )
    print(f"  teacher top-1 {m_teacher.top1:.2%} ({m_teacher.params_total:,} params)")
    for row in rows:
        print(f"  seed {row['seed']}: distilled {row['distilled']:.2%}, scratch twin {row['scratch']:.2%}")
    print(
        f"  mean distilled {result['distilled_mean']:.2%} vs scratch {result['scratch_mean']:.2%}: "
        f"{result['gain_pts_mean']:+.2f} points (min {min(gains):+.2f}, max {max(gains):+.2f})"
    )
    print(
        f"  student: {m.params_total:,} params ({m_teacher.params_total / max(1, m.params_total):.1f}x fewer), "
        f"file {m.size_artifact_bytes:,} B, MACs/image {m.macs:,} (teacher {m_teacher.macs:,})"
    )
    if m.speedup_b256 is not None:
        print(f"  {speed_line(m)}")
    if "run_id" in result:
        print(f"  recorded as run #{result['run_id']} (its scratch twin #{result['twin_run_id']})")
    return 0
