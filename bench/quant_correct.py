"""Correct quantizers (issue 10, part 4): mixed precision against uniform, k-means against scikit-learn.

1. Mixed precision on LeNet-300-100 / fashion-mnist (the shipped baseline): the map searched on
   validation under a 2-, 3- and 4-bit mean budget against uniform linear per-channel at that
   width; test top-1 of both, the achieved mean sum(n_l b_l) / sum(n_l), the chosen bits per
   layer and the search time. Target: mixed at a 3-bit mean >= uniform 3-bit on test.
2. k-means at 4 bits, per layer: SSE of each of our fits (Lloyd from the linear, density and
   random starts on all weights; "optimal") over scikit-learn's best of 10 k-means++ runs, and
   the fit times. Target: within 1.05x. The exact DP on fc1 (235,200 weights) is timed too: it
   is why "optimal" switches to the best Lloyd fit above EXACT_WORK.

Run: .venv/bin/python -m bench.quant_correct   (one torch thread)
Writes bench/results/quant_correct.json and .md with the machine (CPU model and ISA flags) and date.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans

from bench.common import machine, usage, write_results
from compression import data, latency, metrics, techniques, train
from compression.quantization import analysis, core, model_ops, schemes

warnings.filterwarnings("ignore")
FASHION = "fashion-mnist"
MODEL = "lenet-300-100"
BUDGETS = (2.0, 3.0, 4.0)


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def section_mixed(model: torch.nn.Module, ds: data.Dataset) -> list[dict[str, Any]]:
    params = analysis.layer_params(model)
    xv, yv = ds.x_val[: analysis.VAL_SUBSET], ds.y_val[: analysis.VAL_SUBSET]
    rows = []
    for budget in BUDGETS:
        t = time.perf_counter()
        chosen = dict(analysis.allocate_bits(model, ds, schemes.MixedPrecision(avg_bits=budget)))
        search_s = time.perf_counter() - t
        mixed = techniques.apply(model, schemes.MixedPrecision(layer_bits=tuple(chosen.items())), ds)
        uniform = techniques.apply(
            model, schemes.LinearQuant(bits=int(budget), granularity="per-channel"), ds
        )
        row = {
            "budget": budget,
            "chosen_bits": chosen,
            "mean_bits": analysis.mean_bits(chosen, params),
            "mixed_test_top1": metrics.evaluate(mixed, ds.x_test, ds.y_test)[0],
            "uniform_test_top1": metrics.evaluate(uniform, ds.x_test, ds.y_test)[0],
            "mixed_val_top1": metrics.evaluate(mixed, xv, yv)[0],
            "uniform_val_top1": metrics.evaluate(uniform, xv, yv)[0],
            "search_s": search_s,
        }
        rows.append(row)
        _log(f"mixed {row}")
    return rows


def _sklearn_best_of_10(x: np.ndarray, k: int) -> tuple[float, float]:
    t = time.perf_counter()
    km = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0).fit(x.reshape(-1, 1))
    return core.cluster_sse(np.sort(x), km.cluster_centers_.ravel()), time.perf_counter() - t


def section_kmeans(model: torch.nn.Module, bits: int = 4) -> list[dict[str, Any]]:
    rows = []
    for name, mod in model_ops.layers(model):
        w = mod.weight.detach()
        x = w.double().flatten().numpy()
        ref, ref_s = _sklearn_best_of_10(x, 1 << bits)
        row: dict[str, Any] = {"layer": name, "weights": x.size, "sklearn_sse": ref, "sklearn_s": ref_s}
        for init in core.KMEANS_INITS:
            t = time.perf_counter()
            cb = core.kmeans_codebook(w, bits, init)
            row[f"{init}_s"] = time.perf_counter() - t
            row[f"{init}_ratio"] = core.cluster_sse(np.sort(x), cb.double().numpy()) / ref
        if (1 << bits) * x.size > core.EXACT_WORK:  # "optimal" took the Lloyd route: time the exact DP too
            t = time.perf_counter()
            exact = core.kmeans_1d_optimal(np.sort(x), 1 << bits)
            row["exact_dp_s"] = time.perf_counter() - t
            row["exact_dp_ratio"] = core.cluster_sse(np.sort(x), exact) / ref
        rows.append(row)
        _log(f"kmeans {row}")
    return rows


def summary(results: dict[str, Any]) -> str:
    cpu = results["cpu"]
    lines = [
        f"CPU: {cpu}. torch threads: 1. Date: {results['machine']['date']}.",
        "",
        f"## Mixed precision versus uniform linear per-channel ({MODEL} / {FASHION}, shipped baseline, "
        f"fp32 test top-1 {100 * results['fp32_test_top1']:.2f}%)",
        "",
        "Map searched on the first 2,000 validation images; top-1 on the 10,000 test images. "
        "Mean bits = sum(n_l b_l) / sum(n_l) over the layers' weights.",
        "",
        "| budget | chosen bits per layer | mean bits | mixed test top-1 | uniform test top-1 | "
        "mixed val top-1 | uniform val top-1 | search (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["mixed"]:
        bits = ", ".join(f"{k}={v}" for k, v in r["chosen_bits"].items())
        lines.append(
            f"| {r['budget']:g} | {bits} | {r['mean_bits']:.3f} | {100 * r['mixed_test_top1']:.2f}% | "
            f"{100 * r['uniform_test_top1']:.2f}% | {100 * r['mixed_val_top1']:.2f}% | "
            f"{100 * r['uniform_val_top1']:.2f}% | {r['search_s']:.1f} |"
        )
    three = next(r for r in results["mixed"] if r["budget"] == 3.0)
    ok = three["mixed_test_top1"] >= three["uniform_test_top1"]
    lines += [
        "",
        f"Target (mixed at a 3-bit mean >= uniform 3-bit on test): {'met' if ok else 'NOT met'} "
        f"({100 * three['mixed_test_top1']:.2f}% vs {100 * three['uniform_test_top1']:.2f}%).",
        "",
        "## k-means at 4 bits: SSE over scikit-learn's best of 10 k-means++ runs (all weights)",
        "",
        "Before this change (10,000-weight sample, scikit-learn Lloyd from one start): 1.09-1.78x (issue 10).",
        "",
        "| layer | weights | linear | density | random | optimal | optimal fit (s) | sklearn best of 10 (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["kmeans"]:
        lines.append(
            f"| {r['layer']} | {r['weights']:,} | {r['linear_ratio']:.4f} | {r['density_ratio']:.4f} | "
            f"{r['random_ratio']:.4f} | {r['optimal_ratio']:.4f} | {r['optimal_s']:.2f} | {r['sklearn_s']:.2f} |"
        )
    worst = max(r["optimal_ratio"] for r in results["kmeans"])
    lines += [
        "",
        f"Target (optimal within 1.05x on every layer): {'met' if worst <= 1.05 else 'NOT met'} "
        f"(worst {worst:.4f}x).",
    ]
    for r in results["kmeans"]:
        if "exact_dp_s" in r:
            lines.append(
                f"Exact DP on {r['layer']} ({r['weights']:,} weights, above EXACT_WORK): {r['exact_dp_ratio']:.4f}x "
                f"in {r['exact_dp_s']:.2f} s, against {r['optimal_ratio']:.4f}x in {r['optimal_s']:.2f} s for the "
                "best Lloyd fit that 'optimal' uses there."
            )
    return "\n".join(lines)


def main() -> None:
    usage(__doc__)
    torch.set_num_threads(1)
    ds = data.load(FASHION)
    model = train.load_baseline(train.default_config(FASHION, MODEL))
    if model is None:
        raise SystemExit(f"no shipped or cached {MODEL} / {FASHION} baseline: train it first")
    results: dict[str, Any] = {
        "machine": {**machine(), "torch_threads": torch.get_num_threads()},
        "cpu": latency.cpu_info().describe(),
        "cpu_flags": list(latency.cpu_info().flags),
        "fp32_test_top1": metrics.evaluate(model, ds.x_test, ds.y_test)[0],
    }
    results["mixed"] = section_mixed(model, ds)
    results["kmeans"] = section_kmeans(model)
    write_results("quant_correct", results, summary(results))


if __name__ == "__main__":
    main()
