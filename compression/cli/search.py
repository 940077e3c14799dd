"""`python -m compression search`: a compression-policy or architecture search on Optuna, and `search worker`.

search --dataset D --model M --space policy|arch --strategy S --budget N [--objectives acc,size] [--workers K]
search worker --study NAME [--storage URL]      # one more process on an existing study
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from compression import runs
from compression.cli import add_baseline_args, seed, time_limit


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from compression.search import OBJECTIVES, STRATEGIES
    from compression.search.space import SCHEMES

    p = sub.add_parser(
        "search",
        help="search per-layer prune rates and bit widths, or architectures (random, TPE, NSGA-II, GP, SA, RL)",
        description="Compression-policy search (a prune rate and a bit width per layer, scored on a "
        "validation subset without fine-tuning) or architecture search (depth, channels, kernels, width of a "
        "LeNet-5 / BN-CNN-like family, each trial trained briefly on a training subset). `search worker --study "
        "NAME --storage URL` adds a process to an existing study (PostgreSQL: several machines).",
    )
    p.add_argument("action", nargs="?", default="run", choices=["run", "worker", "list"])
    add_baseline_args(p)
    p.add_argument(
        "--space",
        default="policy",
        choices=["policy", "arch"],
        help="policy: per-layer prune rate and bits of the baseline; arch: an architecture family",
    )
    p.add_argument(
        "--train-images", type=int, default=None, help="--space arch: training images of a trial's proxy"
    )
    p.add_argument("--proxy-epochs", type=int, default=None, help="--space arch: epochs of a trial's proxy")
    p.add_argument("--strategy", default="tpe", choices=list(STRATEGIES))
    p.add_argument("--budget", type=_trials, default=None, help="completed trials (default 40)")
    p.add_argument(
        "--objectives", default="acc,size", help=f"acc plus one or two of {', '.join(list(OBJECTIVES)[1:])}"
    )
    p.add_argument(
        "--max-size-kb", type=float, default=None, help="size budget: larger trials are infeasible"
    )
    p.add_argument("--val-images", type=int, default=1000, help="validation images each trial is scored on")
    p.add_argument(
        "--scheme", default="linear", choices=list(SCHEMES), help="how the per-layer bits are spent"
    )
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument(
        "--storage", default=None, help="study storage URL (default: studies.db beside the run store)"
    )
    p.add_argument("--study", default=None, help="study name: resume it, or name the new one")
    p.add_argument("--workers", type=int, default=1, help="processes sharing the study (this one included)")
    p.add_argument("--worker-index", type=int, default=None, help=argparse.SUPPRESS)  # None: a joining worker
    p.add_argument("--timeout", type=time_limit, default=None, help="stop after this many seconds")
    p.add_argument("--record-front", action="store_true", help="record the front's trials as runs")
    p.add_argument("--no-latency", action="store_true", help="record without timing latency")
    p.add_argument(
        "--finetune-epochs",
        type=int,
        default=0,
        help="--record-front: policy: fine-tune each after pruning, before quantizing; arch: train each this "
        "many epochs on the full training split (0: the space's full_epochs)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=handle)


def _trials(text: str) -> int:
    """A budget of at least one trial (argparse says so and exits 2 otherwise)."""
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"a budget is at least 1 trial (got {n})")
    return n


def handle(args: argparse.Namespace) -> int:
    """`_handle`, with a bad storage URL, an unknown study or a refused name as one error line."""
    try:
        return _handle(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _handle(args: argparse.Namespace) -> int:
    import torch

    from compression.search import Problem, study

    torch.set_num_threads(1)  # trials are tiny; workers scale out in processes
    if args.action == "list":
        rows = [
            {
                "study": i.name,
                "strategy": i.strategy,
                "seed": i.seed,
                "budget": i.budget,
                "dataset": i.problem.dataset,
            }
            for i in study.studies(args.storage)
        ]
        print(
            json.dumps(rows, indent=2)
            if args.json
            else "\n".join(" ".join(map(str, r.values())) for r in rows)
        )
        return 0
    if args.action == "worker":
        if not args.study:
            print("error: search worker needs --study NAME", file=sys.stderr)
            return 2
        ran = study.run(args.study, args.storage, timeout_s=args.timeout, worker_index=args.worker_index)
        if args.json:
            print(json.dumps({"study": args.study, "trials": ran}))
        else:
            print(f"worker ran {ran} trial(s) of {args.study}")
        return 0

    names = {i.name for i in study.studies(args.storage)}
    if args.study and args.study in names:
        name = args.study
        if args.budget is not None:
            study.set_budget(name, args.budget, args.storage)
        study.set_stopped(name, False, args.storage)
    else:
        problem = Problem(
            dataset=args.dataset,
            model=args.model,
            space=_space(args),
            objectives=tuple(o.strip() for o in args.objectives.split(",") if o.strip()),
            max_size_kb=args.max_size_kb,
            val_images=args.val_images,
        )
        name = study.create(
            problem,
            args.strategy,
            seed=args.seed,
            budget=40 if args.budget is None else args.budget,
            name=args.study,
            storage_url=args.storage,
        )
    t0 = time.monotonic()
    helpers = [_spawn(name, args, i) for i in range(1, max(1, args.workers))]
    ran = study.run(name, args.storage, timeout_s=args.timeout, worker_index=0)
    for proc in helpers:
        proc.wait()
    seconds = time.monotonic() - t0
    return _report(args, name, ran, seconds)


def _space(args: argparse.Namespace) -> Any:
    from compression.search.arch import ArchSpace
    from compression.search.space import PolicySpace

    if args.space == "policy":
        return PolicySpace(scheme=args.scheme)
    proxy = {"train_images": args.train_images, "proxy_epochs": args.proxy_epochs}
    return ArchSpace.for_dataset(args.dataset, **{k: v for k, v in proxy.items() if v is not None})


def _spawn(name: str, args: argparse.Namespace, index: int) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "compression",
        "search",
        "worker",
        "--study",
        name,
        "--worker-index",
        str(index),
    ]
    if args.storage:
        cmd += ["--storage", args.storage]
    if args.timeout:
        cmd += ["--timeout", str(args.timeout)]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL)


def _report(args: argparse.Namespace, name: str, ran: int, seconds: float) -> int:
    from compression.search import study

    s = study.load(name, args.storage)
    info = study.Info.of(s)
    df = study.trials_frame(s, info)
    c = study.counts(s)
    hv = study.hv_history(df, info)
    front = df[df["front"]].sort_values("size_kb") if not df.empty else df
    result: dict[str, Any] = {
        "study": name,
        "space": info.problem.space.kind,
        "storage": study.shown(args.storage or study.default_storage()),
        "strategy": info.strategy,
        "seed": info.seed,
        "budget": info.budget,
        "complete": c.complete,
        "failed": c.failed,
        "seconds": round(seconds, 2),
        "median_trial_s": round(float(df["seconds"].median()), 4) if not df.empty else None,
        "hypervolume": round(hv[-1], 5) if hv else 0.0,
        "front": [
            {
                "trial": int(r.number),
                "val_acc": round(r.acc, 4),
                "size_kb": round(r.size_kb, 2),
                "macs_m": round(r.macs, 4),
                **({"latency_ms": round(r.latency_ms, 4)} if "latency" in info.problem.objectives else {}),
            }
            for r in front.itertuples()
        ],
    }
    arch = getattr(info.problem.space, "arch", None)
    if arch is not None:  # the architecture space: each front trial's network by name
        keys = list(info.problem.space.distributions(info.layers))
        for row, (_, r) in zip(result["front"], front.iterrows(), strict=True):
            row["arch"] = arch({k: r[k] for k in keys}).name
    if args.record_front:
        ids = []
        for r in front.itertuples():
            try:
                run_id, m = study.record_trial(
                    name,
                    int(r.number),
                    args.storage,
                    latency=not args.no_latency,
                    finetune_epochs=args.finetune_epochs,
                )
            except runs.StoreError as exc:
                print(f"error: trial {r.number} was not recorded: {exc}", file=sys.stderr)
                return 1
            ids.append({"trial": int(r.number), "run_id": run_id, "test_top1": round(m.top1, 4)})
        result["recorded"] = ids
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    print(
        f"study {name} ({info.strategy}, seed {info.seed}): {c.complete}/{info.budget} trials in {seconds:.1f} s, "
        f"{c.failed} failed; hypervolume {result['hypervolume']:.4f} (fraction of the baseline box)"
    )
    print(
        f"{info.problem.space.title} space: {info.problem.space.proxy_text()}, scored on "
        f"{info.ref.images or info.problem.val_images} validation images; storage {result['storage']}"
    )
    print("front:  trial  val acc   size KB   eff. MMACs")
    for row in result["front"]:
        print(f"       {row['trial']:5d}  {row['val_acc']:7.2%}  {row['size_kb']:8.2f}  {row['macs_m']:9.3f}")
    for row in result.get("recorded", []):
        print(f"recorded trial {row['trial']} as run #{row['run_id']} (test top-1 {row['test_top1']:.2%})")
    return 0
