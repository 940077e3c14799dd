"""Paired latency under load (issue #10): is a speed-up ratio steady when the machine is busy?

Repeats the paired measurement (`compression.latency.paired_latency`) of LeNet-300-100 fp32 and
its static INT8 twin (fashion-mnist, the shipped baseline) at batch 256 ten times, first on the
machine as it is ("idle": no load of ours, other users' jobs may run), then while processes of
ours keep every core busy. Target: under load the ten ratios spread (max/min) by at most 1.25x.
For contrast, the old way under the same load: two unpaired medians taken one after the other
(`metrics.latency_ms` of the baseline, then of the INT8 model) and their ratio.

    .venv/bin/python -m bench.latency [--repeats 10] [--settings 16x0.02,32x0.02] [--load spin]

--settings: paired_latency's rounds x round_s to try under load (the first is the default).
--cpu-clock: also run each setting with the rounds timed in wall time (the clock used before thread CPU time)
instead of wall time: a proposal for `compression.latency`, tried here by swapping its timing
function for the run (at 1 thread the forward pass runs in the calling thread, so its CPU time
is the model's cost, and time spent waiting for a core, which load adds to one half of a round
and not the other, is not counted).
Writes bench/results/latency.json and latency.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import timeit
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from bench.common import RESULTS
from compression import data, latency, metrics, train
from compression.quantization import int8

warnings.filterwarnings("ignore")
FASHION = "fashion-mnist"
BATCH = 256
TARGET_SPREAD = 1.25
LOADERS = {
    "spin": "while True: pass",  # pure CPU: takes time slices, not caches
    "matmul": "import numpy as np\na = np.random.rand(384, 384)\nwhile True: a @ a",  # CPU + caches
}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def loads() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


@contextlib.contextmanager
def busy(kind: str, procs: int) -> Iterator[list[int]]:
    """`procs` processes of ours spinning on the CPU (one thread each) until the block ends."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = [subprocess.Popen([sys.executable, "-c", LOADERS[kind]], env=env) for _ in range(procs)]
    try:
        time.sleep(3)  # let them reach full speed
        yield [p.pid for p in started]
    finally:
        for p in started:  # only the processes this benchmark started
            p.terminate()
        for p in started:
            p.wait(timeout=10)


def models() -> tuple[torch.nn.Module, torch.nn.Module, dict[str, Any], float, float]:
    ds = data.load(FASHION)
    cfg = train.default_config(FASHION, "lenet-300-100")
    base = train.load_baseline(cfg)
    if base is None:
        raise SystemExit("the shipped fashion-mnist LeNet-300-100 baseline is missing (assets/baselines/)")
    q = int8.quantize(base, int8.Int8PTQ("static"), ds.x_train[:512])
    top1 = metrics.evaluate(base, ds.x_test, ds.y_test)[0], metrics.evaluate(q, ds.x_test, ds.y_test)[0]
    return base, q, dict(q._cla_int8), *top1


@contextlib.contextmanager
def clock(kind: str) -> Iterator[None]:
    """'cpu': compression.latency as shipped (at 1 thread, rounds in the thread's CPU time);
    'wall': the same rounds in wall time, the clock it used before (for contrast)."""
    if kind == "cpu":
        yield
        return
    original, name = latency._time, latency.clock_name

    def wall_time(model: torch.nn.Module, x: torch.Tensor, number: int) -> float:
        return original(model, x, number, clock=timeit.default_timer)

    # the measurement's description names its clock too: both swapped, both restored
    latency._time, latency.clock_name = wall_time, lambda threads: "wall time"  # type: ignore[assignment]
    try:
        yield
    finally:
        latency._time, latency.clock_name = original, name  # type: ignore[assignment]


def spread(values: list[float]) -> float:
    return max(values) / min(values)


def paired_repeats(
    base: torch.nn.Module, q: torch.nn.Module, repeats: int, rounds: int, round_s: float, kind: str = "wall"
) -> dict[str, Any]:
    shape = (1, 28, 28)
    rows = []
    t = time.perf_counter()
    for _ in range(repeats):
        with clock(kind):
            p = latency.paired_latency(base, q, shape, BATCH, rounds=rounds, round_s=round_s)
        rows.append(
            {
                "speedup": p.speedup,
                "lo": p.speedup_lo,
                "hi": p.speedup_hi,
                "baseline_ms": p.baseline_ms,
                "candidate_ms": p.candidate_ms,
                "cv": p.cv,
                "noisy": p.noisy,
                "load": p.load,
            }
        )
    ratios = [r["speedup"] for r in rows]
    return {
        "clock": kind,
        "rounds": rounds,
        "round_s": round_s,
        "repeats": rows,
        "spread": spread(ratios),
        "median": sorted(ratios)[len(ratios) // 2],
        "seconds_per_measurement": (time.perf_counter() - t) / repeats,
        "loads_after": loads(),
        "met": spread(ratios) <= TARGET_SPREAD,
    }


def unpaired_repeats(base: torch.nn.Module, q: torch.nn.Module, repeats: int) -> dict[str, Any]:
    """The old way: the baseline's median, then the candidate's, at different moments; their ratio."""
    rows = []
    for _ in range(repeats):
        a = metrics.latency_ms(base, (1, 28, 28), BATCH)
        b = metrics.latency_ms(q, (1, 28, 28), BATCH)
        rows.append({"baseline_ms": a, "candidate_ms": b, "speedup": a / b})
    ratios = [r["speedup"] for r in rows]
    return {"repeats": rows, "spread": spread(ratios), "loads_after": loads()}


def run(
    repeats: int, settings: list[tuple[int, float]], load_kind: str, procs: int, cpu_clock: bool
) -> dict[str, Any]:
    base, q, choice, fp32_top1, int8_top1 = models()
    out: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpu": latency.cpu_info().describe(),
        "threads": latency.measurement_threads(),
        "torch": torch.__version__,
        "int8": choice,
        "top1": {"fp32": fp32_top1, "int8": int8_top1},
        "batch": BATCH,
        "load": {"kind": load_kind, "processes": procs, "code": LOADERS[load_kind]},
        "loads_before": loads(),
        "target": f"ten paired ratios under load spread (max/min) <= {TARGET_SPREAD}x",
    }
    variants = [("cpu", *settings[0])] + [("wall", *settings[0])] * cpu_clock
    out["idle"] = []
    for kind, rounds, round_s in variants:
        _log(f"idle, paired {rounds}x{round_s} {kind}")
        out["idle"].append(paired_repeats(base, q, repeats, rounds, round_s, kind))
        _log(f"idle spread {out['idle'][-1]['spread']:.3f}")
    variants = [("cpu", r, s) for r, s in settings] + [("wall", r, s) for r, s in settings if cpu_clock]
    out["loaded"] = []
    with busy(load_kind, procs):
        out["loads_under_load"] = loads()
        for kind, rounds, round_s in variants:
            _log(f"loaded, paired {rounds}x{round_s} {kind}")
            row = paired_repeats(base, q, repeats, rounds, round_s, kind)
            out["loaded"].append(row)
            _log(f"loaded spread {row['spread']:.3f}")
        _log("loaded, unpaired")
        out["unpaired_loaded"] = unpaired_repeats(base, q, repeats)
        _log(f"unpaired spread {out['unpaired_loaded']['spread']:.3f}")
    out["loads_after"] = loads()
    out["met"] = out["loaded"][0]["met"]
    return out


# ---------------------------------------------------------------- report


def _ratios(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['speedup']:.2f} [{r['lo']:.2f}-{r['hi']:.2f}]" for r in rows)


CLOCKS = {"cpu": "thread CPU time (as shipped)", "wall": "wall time (the earlier clock)"}


def _row(label: str, x: dict[str, Any]) -> str:
    verdict = f" ({'met' if x['met'] else 'missed'})" if label == "loaded" else ""
    return (
        f"| paired, {label} | {CLOCKS[x['clock']]} | {x['rounds']} x {x['round_s']} | {_ratios(x['repeats'])} | "
        f"**{x['spread']:.3f}x**{verdict} | {x['seconds_per_measurement']:.1f} |"
    )


def markdown(runs: list[dict[str, Any]]) -> str:
    """Every recorded run, the newest first."""
    head = [
        "# Paired latency under load",
        "",
        "Target (issue 10): ten paired measurements of (LeNet-300-100 fp32, its static INT8) at batch 256, "
        f"taken while other processes load every core, give speed-ups whose max/min is at most {TARGET_SPREAD}x. "
        "Each speed-up is the median of its rounds' ratios; the brackets give that measurement's interquartile "
        "range. Reproduce: `python -m bench.latency --settings 16x0.02,32x0.02 --cpu-clock [--load matmul]`.",
        "",
    ]
    return "\n".join(head) + "\n" + "\n".join(run_markdown(r) for r in reversed(runs))


def run_markdown(r: dict[str, Any]) -> str:
    idle, unpaired = r["idle"][0], r["unpaired_loaded"]
    lines = [
        f"## {r['date']}: load `{r['load']['kind']}`",
        "",
        f"{r['date']}; CPU: {r['cpu']}; {r['threads']} measurement thread(s) (`COMPRESSION_THREADS`); "
        f"torch {r['torch']}. LeNet-300-100 fp32 (shipped fashion-mnist baseline, top-1 {r['top1']['fp32']:.2%}) "
        f"versus its static INT8 twin (engine {r['int8'].get('engine')}, reduce_range "
        f"{r['int8'].get('reduce_range')}, top-1 {r['top1']['int8']:.2%}) at batch {r['batch']}.",
        "",
        f"Load: {r['load']['processes']} processes of `{r['load']['code']!r}` (one thread each) on "
        f"{latency.cpu_info().cores} cores, started after the idle repeats and stopped at the end. Load averages "
        f"(1/5/15 min): {r['loads_before']} before, {r['loads_under_load']} once loaded, {r['loads_after']} after. "
        "'Idle' means no load of ours: other engineers' jobs share this machine.",
        "",
        f"Target: **{'met' if r['met'] else 'missed'}** with paired_latency's defaults "
        f"({r['loaded'][0]['rounds']} rounds x {r['loaded'][0]['round_s']} s).",
        "",
        "| measurement | clock | rounds x round_s | ten speed-ups (median [IQR] of each) | max/min | s each |",
        "|---|---|---|---|---|---|",
        *(_row("idle", x) for x in r["idle"]),
        *(_row("loaded", x) for x in r["loaded"]),
    ]
    lines += [
        "| unpaired (old way), loaded | wall time | `metrics.latency_ms` of each, one after the other | "
        + ", ".join(f"{x['speedup']:.2f}" for x in unpaired["repeats"])
        + f" | **{unpaired['spread']:.3f}x** | |",
        "",
        "Milliseconds (median of each paired measurement, fp32 / INT8): idle "
        + ", ".join(f"{x['baseline_ms']:.2f}/{x['candidate_ms']:.2f}" for x in idle["repeats"])
        + "; loaded "
        + ", ".join(f"{x['baseline_ms']:.2f}/{x['candidate_ms']:.2f}" for x in r["loaded"][0]["repeats"])
        + "; unpaired loaded "
        + ", ".join(f"{x['baseline_ms']:.2f}/{x['candidate_ms']:.2f}" for x in unpaired["repeats"])
        + ".",
        "",
    ]
    lines += [f"- {n}" for n in r.get("notes", [])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--settings", default="16x0.02", help="rounds x round_s, comma-separated")
    parser.add_argument("--load", choices=list(LOADERS), default="spin")
    parser.add_argument("--procs", type=int, default=os.cpu_count() or 2, help="load processes")
    parser.add_argument(
        "--cpu-clock", action="store_true", help="also time the rounds in wall time, for contrast"
    )
    parser.add_argument("--note", action="append", default=[], help="a line for the report")
    args = parser.parse_args()
    settings = [(int(a), float(b)) for a, b in (s.split("x") for s in args.settings.split(","))]
    r = run(args.repeats, settings, args.load, args.procs, args.cpu_clock)
    r["notes"] = args.note
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latency.json"
    old = json.loads(path.read_text()) if path.exists() else {"runs": []}
    runs = [*old.get("runs", [old] if "idle" in old else []), r]  # every run is kept
    path.write_text(json.dumps({"runs": runs}, indent=2, default=str))
    (RESULTS / "latency.md").write_text(markdown(runs))
    print(run_markdown(r))


if __name__ == "__main__":
    main()
