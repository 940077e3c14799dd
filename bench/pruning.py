"""Pruning benchmark (issue #4).

1. Han et al. 2015 on fashion-mnist: LeNet-300-100 pruned to >= 92% and LeNet-5 to >= 90% with
   a gradual (Zhu & Gupta) schedule and fine-tuning between steps: top-1 within 0.5 points of dense?
2. Structured pruning of half the channels of bn-cnn and small-resnet (fashion-mnist): speed-up
   at batch 256 and batch 1 against the unpruned model as a paired ratio (both timed interleaved
   in one process, pinned threads; median and IQR of the per-round ratios, CPU named; targets 3x
   and 1.5x), top-1 after fine-tuning (within 1.5 points), and the speed-up as a fraction of the
   MAC reduction (the physical limit). --speed-only re-measures the speed alone: no training,
   no fine-tuning (the pruned shapes, not the weights, decide the speed).
3. Slider interactivity on the Pruning lab (LeNet-5 / fashion-mnist, no fine-tuning) in a real
   browser: median time from a slider key press to new numbers shown (target < 1 s).
4. A 10-level sensitivity scan of LeNet-5 on fashion-mnist (target < 30 s).

Run: .venv/bin/python -m bench.pruning [--sections 1,2,3,4] [--threads 1] [--speed-only]
Each section merges its result into bench/results/pruning.json and rewrites pruning.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

import torch

from bench.common import RESULTS, machine, write_results
from compression import data, latency, metrics, models, train
from compression import pruning as P

FASHION = "fashion-mnist"


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _progress(label: str) -> train.Progress:
    last = [-1.0]

    def report(frac: float, msg: str) -> None:
        if frac - last[0] >= 0.1 or frac >= 1.0:
            last[0] = frac
            _log(f"{label}: {frac:.0%} {msg}")

    return report


def baseline(
    model_name: str, max_epochs: int | None = None
) -> tuple[torch.nn.Module, train.TrainConfig, str]:
    """The default baseline when cached/shipped; else (if max_epochs) a shorter one, said so."""
    cfg = train.default_config(FASHION, model_name)
    found = train.load_baseline(cfg)
    if found is not None:
        return found, cfg, "default baseline (cached/shipped)"
    if max_epochs is not None and max_epochs < cfg.epochs:
        cfg = train.with_epochs(cfg, max_epochs)
        note = f"shortened baseline: {max_epochs} epochs instead of the default (CPU budget)"
    else:
        note = "default baseline, trained now"
    return train.get_baseline(cfg, _progress(f"train {model_name}")), cfg, note


# ---------------------------------------------------------------- 1. Han et al. style


def han(model_name: str, amount: float, steps: int, epochs_per_step: int) -> dict[str, Any]:
    ds = data.load(FASHION)
    model, cfg, note = baseline(model_name)
    dense = metrics.evaluate(model, ds.x_test, ds.y_test)[0]
    config = P.MagnitudePrune(
        amount=amount, scope="global", schedule="gradual", steps=steps, finetune_epochs=epochs_per_step
    )
    oneshot = metrics.evaluate(
        P.unstructured.masked_prune(model, P.MagnitudePrune(amount=amount, scope="global"), ds),
        ds.x_test,
        ds.y_test,
    )[0]
    t = time.perf_counter()
    pruned = P.unstructured.masked_prune(model, config, ds, _progress(f"prune {model_name}"))
    seconds = time.perf_counter() - t
    m = metrics.measure(pruned, ds, latency=False)
    drop = (dense - m.top1) * 100
    return {
        "model": model_name,
        "baseline": note,
        "baseline_epochs": cfg.epochs,
        "config": {"technique": config.technique, **config.__dict__},
        "sparsity": P.sparsity(pruned),
        "dense_top1": dense,
        "one_shot_top1_no_finetune": oneshot,
        "pruned_top1": m.top1,
        "drop_points": drop,
        "compression_x": m.params_total / max(1, m.params_nonzero),
        "artifact_bytes": m.size_artifact_bytes,
        "dense_bytes": m.size_dense_bytes,
        "seconds": seconds,
        "target": f"sparsity >= {amount:.2f} and drop <= 0.5 points",
        "met": P.sparsity(pruned) >= amount - 1e-9 and drop <= 0.5,
    }


# ---------------------------------------------------------------- 2. structured speed


ROUNDS = 32  # paired rounds per speed-up (bench/results/latency.md)


def _paired(
    dense: torch.nn.Module, pruned: torch.nn.Module, shape: tuple[int, ...], batch: int
) -> dict[str, Any]:
    """Dense and pruned timed interleaved in one process: both medians, the median ratio, its IQR."""
    p = latency.paired_latency(dense, pruned, shape, batch, rounds=ROUNDS)
    return {
        "dense_ms": p.baseline_ms,
        "pruned_ms": p.candidate_ms,
        "speedup": p.speedup,
        "lo": p.speedup_lo,
        "hi": p.speedup_hi,
        "cv": p.cv,
        "noisy": p.noisy,
        "load": p.load,
        "rounds": p.rounds,
        "threads": p.threads,
        "cpu": p.cpu,
    }


def speed_only(model_name: str, baseline_epochs: int, clock: str = "wall") -> dict[str, Any]:
    """The paired speed-ups of half the channels removed, without training or fine-tuning.

    clock: "wall" (compression.latency as it is) or "cpu" (its rounds timed in thread CPU time,
    the proposal bench/latency.py tries)."""
    from bench.latency import clock as timing_clock

    ds = data.load(FASHION)
    cfg = train.default_config(FASHION, model_name)
    model, note = None, "untrained weights (speed depends on the pruned shapes, not on the weights)"
    for c in (cfg, train.with_epochs(cfg, baseline_epochs)):
        model = train.load_baseline(c)
        if model is not None:
            note = f"{c.epochs}-epoch baseline (cached)"
            break
    model = model or models.build(model_name, ds.input_shape, ds.num_classes)
    pruned = P.structured.structured_prune(model, P.StructuredPrune(amount=0.5, norm="l1"), ds)
    mac_x = metrics.macs(model, ds.input_shape)[0] / max(1, metrics.macs(pruned, ds.input_shape)[0])
    with timing_clock(clock):
        b256 = _paired(model, pruned, ds.input_shape, 256)
        b1 = _paired(model, pruned, ds.input_shape, 1)
    return {
        "model": model_name,
        "clock": clock,
        "weights": note,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "params_dense": sum(p.numel() for p in model.parameters()),
        "params_pruned": sum(p.numel() for p in pruned.parameters()),
        "mac_reduction_x": mac_x,
        "b256": b256,
        "b1": b1,
        "speedup_b256_fraction_of_mac_reduction": b256["speedup"] / mac_x,
        "targets": {"speedup_b256_x": 3.0, "speedup_b1_x": 1.5},
        "met": {"b256": b256["speedup"] >= 3.0, "b1": b1["speedup"] >= 1.5},
    }


def structured_speed(model_name: str, baseline_epochs: int, finetune_epochs: int) -> dict[str, Any]:
    ds = data.load(FASHION)
    model, cfg, note = baseline(model_name, max_epochs=baseline_epochs)
    config = P.StructuredPrune(amount=0.5, norm="l1")
    pruned = P.structured.structured_prune(model, config, ds)
    macs_dense, _ = metrics.macs(model, ds.input_shape)
    macs_pruned, _ = metrics.macs(pruned, ds.input_shape)
    b256 = _paired(model, pruned, ds.input_shape, 256)
    b1 = _paired(model, pruned, ds.input_shape, 1)
    dense_top1 = metrics.evaluate(model, ds.x_test, ds.y_test)[0]
    no_ft = metrics.evaluate(pruned, ds.x_test, ds.y_test)[0]
    ft_cfg = P.StructuredPrune(amount=0.5, norm="l1", finetune_epochs=finetune_epochs)
    t = time.perf_counter()
    tuned = P.structured.structured_prune(model, ft_cfg, ds, _progress(f"fine-tune {model_name}"))
    ft_seconds = time.perf_counter() - t
    tuned_top1 = metrics.evaluate(tuned, ds.x_test, ds.y_test)[0]
    mac_x = macs_dense / max(1, macs_pruned)
    s256, s1 = b256["speedup"], b1["speedup"]
    drop = (dense_top1 - tuned_top1) * 100
    return {
        "model": model_name,
        "baseline": note,
        "baseline_epochs": cfg.epochs,
        "params_dense": sum(p.numel() for p in model.parameters()),
        "params_pruned": sum(p.numel() for p in pruned.parameters()),
        "macs_dense": macs_dense,
        "macs_pruned": macs_pruned,
        "mac_reduction_x": mac_x,
        "b256": b256,
        "b1": b1,
        "speedup_b256_x": s256,
        "speedup_b1_x": s1,
        "speedup_b256_fraction_of_mac_reduction": s256 / mac_x,
        "speedup_b1_fraction_of_mac_reduction": s1 / mac_x,
        "dense_top1": dense_top1,
        "pruned_top1_no_finetune": no_ft,
        "finetune_epochs": finetune_epochs,
        "finetuned_top1": tuned_top1,
        "drop_points": drop,
        "finetune_seconds": ft_seconds,
        "targets": {"speedup_b256_x": 3.0, "speedup_b1_x": 1.5, "drop_points": 1.5},
        "met": {"b256": s256 >= 3.0, "b1": s1 >= 1.5, "accuracy": drop <= 1.5},
    }


# ---------------------------------------------------------------- 4. sensitivity scan


def _scan_once(model: torch.nn.Module, ds: data.Dataset, max_images: int | None) -> dict[str, Any]:
    amounts = (*(round(0.1 * i, 2) for i in range(1, 10)), 0.95)
    ticks: list[float] = []
    t, cpu = time.perf_counter(), time.process_time()
    result = P.scan(model, ds, amounts, max_images=max_images, progress=lambda f, _m: ticks.append(f))
    seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
    return {
        "levels": len(amounts),
        "layers": len(result.layers),
        "evaluations": len(amounts) * len(result.layers),
        "val_images": min(len(ds.x_val), max_images or len(ds.x_val)),
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "load_average_1m": __import__("os").getloadavg()[0],
        "progress_updates": len(ticks),
        "rates_for_1_point": P.rates_for_drop(result, 0.01),
        "target_seconds": 30,
        "met": seconds < 30,
    }


def sensitivity_time() -> dict[str, Any]:
    """The page's scan (first 2,000 validation images) and the full validation split."""
    ds = data.load(FASHION)
    model, _cfg, note = baseline("lenet5")
    page = _scan_once(model, ds, P.sensitivity.PAGE_IMAGES)
    return {"model": "lenet5", "baseline": note, **page, "full_validation": _scan_once(model, ds, None)}


# ---------------------------------------------------------------- 3. browser slider


def slider_latency(moves: int = 7) -> dict[str, Any]:
    """Real server + chromium: press ArrowRight on the prune slider, time until the metric changes."""
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "serve.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--global.developmentMode", "false"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urllib.request.urlopen(f"{base}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.25)
        samples: list[float] = []
        complete: list[float] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/prune?dataset={FASHION}&model=lenet5&amount=0.5", timeout=180_000)
            page.locator("[data-testid=stMetricValue]").first.wait_for(timeout=180_000)
            read = (
                "() => { for (const m of document.querySelectorAll('[data-testid=stMetric]')) {"
                " if (m.innerText.includes('Weights gone')) {"
                " const v = m.querySelector('[data-testid=stMetricValue]'); return v ? v.innerText : null; } }"
                " return null; }"
            )
            idle = "[data-testid=stApp][data-test-script-state=notRunning]"
            slider = page.get_by_role("slider").first
            for i in range(moves + 2):  # the first two moves warm the code paths
                page.wait_for_selector(idle, timeout=60_000)
                page.wait_for_timeout(300)
                before = page.evaluate(read)
                slider.focus()
                t = time.perf_counter()
                slider.press("ArrowRight")
                page.wait_for_function(f"(b) => ({read})() !== b", arg=before, timeout=60_000)
                shown = time.perf_counter() - t
                page.wait_for_timeout(100)
                page.wait_for_selector(idle, timeout=60_000)
                done = time.perf_counter() - t
                if i >= 2:
                    samples.append(shown)
                    complete.append(done)
            browser.close()
        med = statistics.median(samples)
        return {
            "samples_s": samples,
            "median_s": med,
            "rerun_complete_samples_s": complete,
            "rerun_complete_median_s": statistics.median(complete),
            "load_average_1m": os.getloadavg()[0],
            "target_s": 1.0,
            "met": med < 1.0,
            "note": "time from the key press until the 'Weights gone' card shows the new value "
            "(rerun_complete: until the whole rerun, charts included, finished); server run with OMP_NUM_THREADS=1",
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


# ---------------------------------------------------------------- report


def _md(results: dict[str, Any]) -> str:
    lines: list[str] = []
    for r in results.get("han", []):
        lines.append(
            f"- **{r['model']}** magnitude (global, gradual): sparsity {r['sparsity']:.1%} "
            f"({r['compression_x']:.1f}x fewer weights), top-1 {r['pruned_top1']:.2%} vs dense "
            f"{r['dense_top1']:.2%} (drop {r['drop_points']:+.2f} pts; one-shot without fine-tuning "
            f"{r['one_shot_top1_no_finetune']:.2%}); target {r['target']}: "
            f"**{'met' if r['met'] else 'MISSED'}** ({r['baseline']}, {r['seconds']:.0f} s)"
        )
    for r in results.get("structured", []):
        met = r["met"]
        if "b256" in r:  # paired
            a, b = r["b256"], r["b1"]
            speed = (
                f"paired speed-up b256 **{a['speedup']:.2f}x** [IQR {a['lo']:.2f}-{a['hi']:.2f}] "
                f"({a['dense_ms']:.1f} -> {a['pruned_ms']:.1f} ms)"
            )
            speed1 = f"b1 **{b['speedup']:.2f}x** [{b['lo']:.2f}-{b['hi']:.2f}]"
            where = f"; {a['cpu']}, {a['threads']} thread(s)"
        else:  # before issue 10: two medians, interleaved runs, AVX2-only CPU
            a, b = r["latency_b256_ms"], r["latency_b1_ms"]
            speed = (
                f"unpaired medians (before issue 10, AVX2 CPU): b256 {a['dense']:.1f} -> {a['pruned']:.1f} ms "
                f"= **{r['speedup_b256_x']:.2f}x**"
            )
            speed1 = f"b1 {b['dense']:.2f} -> {b['pruned']:.2f} ms = **{r['speedup_b1_x']:.2f}x**"
            where = ""
        lines.append(
            f"- **{r['model']}** 50% channels removed (L1): MACs /{r['mac_reduction_x']:.2f}, params "
            f"{r['params_dense']:,} -> {r['params_pruned']:,}; {speed} "
            f"({'met' if met['b256'] else 'MISSED'} 3x; {r['speedup_b256_fraction_of_mac_reduction']:.0%} of the "
            f"MAC reduction), {speed1} ({'met' if met['b1'] else 'MISSED'} 1.5x; "
            f"{r['speedup_b1_fraction_of_mac_reduction']:.0%} of MACs){where}; top-1 dense {r['dense_top1']:.2%}, "
            f"pruned {r['pruned_top1_no_finetune']:.2%}, after {r['finetune_epochs']} fine-tune epoch(s) "
            f"{r['finetuned_top1']:.2%} (drop {r['drop_points']:+.2f} pts, "
            f"{'met' if met['accuracy'] else 'MISSED'} 1.5); {r['baseline']}"
        )
    if "slider" in results:
        r = results["slider"]
        lines.append(
            f"- **Slider** (LeNet-5 / fashion-mnist, real browser): median {r['median_s']:.2f} s over "
            f"{len(r['samples_s'])} moves to new numbers (whole rerun with charts "
            f"{r.get('rerun_complete_median_s', float('nan')):.2f} s; load average "
            f"{r.get('load_average_1m', float('nan')):.1f}): **{'met' if r['met'] else 'MISSED'}** (< 1 s)"
        )
    if "sensitivity" in results:
        r = results["sensitivity"]
        lines.append(
            f"- **Sensitivity scan** LeNet-5 / fashion-mnist, {r['levels']} levels x {r['layers']} layers on "
            f"{r['val_images']} validation images (as on the page): {r['seconds']:.1f} s wall "
            f"({r.get('cpu_seconds', float('nan')):.1f} s CPU; load average {r.get('load_average_1m', float('nan')):.1f} "
            f"on {machine()['cpu_count']} cores): **{'met' if r['met'] else 'MISSED'}** (< 30 s wall)"
        )
    full = results.get("sensitivity", {}).get("full_validation")
    if full:
        lines.append(
            f"  - on the full validation split ({full['val_images']} images): {full['seconds']:.1f} s wall, "
            f"{full['cpu_seconds']:.1f} s CPU"
        )
    for note in results.get("notes", []):
        lines.append(f"- Note: {note}")
    paired = results.get("structured_paired", [])
    if paired:
        lines += ["", "## Paired re-measure of the structured-pruning speed (issue 10)", ""]
        lines.append(
            "Dense and pruned (half the channels removed, L1, no fine-tuning: the shapes decide the speed) timed "
            f"interleaved in one process; speed-up = median of {paired[0]['b256']['rounds']} per-round ratios "
            "[interquartile range]."
        )
        lines.append("")
    for r in paired:
        a, b, met = r["b256"], r["b1"], r["met"]
        clock = {"wall": "rounds in wall time", "cpu": "rounds in thread CPU time (as shipped)"}[
            r.get("clock", "wall")
        ]
        lines.append(
            f"- **{r['model']}**, {clock} ({r['date']}; {a['cpu']}; {a['threads']} thread(s); load average {a['load']:.1f}): "
            f"MACs /{r['mac_reduction_x']:.2f}; b256 **{a['speedup']:.2f}x** [{a['lo']:.2f}-{a['hi']:.2f}] "
            f"({a['dense_ms']:.1f} -> {a['pruned_ms']:.1f} ms, {r['speedup_b256_fraction_of_mac_reduction']:.0%} "
            f"of the MAC reduction; {'met' if met['b256'] else 'MISSED'} 3x), b1 **{b['speedup']:.2f}x** "
            f"[{b['lo']:.2f}-{b['hi']:.2f}] ({b['dense_ms']:.2f} -> {b['pruned_ms']:.2f} ms; "
            f"{'met' if met['b1'] else 'MISSED'} 1.5x); weights: {r['weights']}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="1,2,3,4")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fair on a shared machine)")
    parser.add_argument(
        "--baseline-epochs", type=int, default=2, help="cap for bn-cnn/small-resnet baselines"
    )
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--speed-only", action="store_true", help="section 2: paired speed only")
    parser.add_argument(
        "--clock", choices=("wall", "cpu"), default="cpu", help="--speed-only: round timing (cpu: as shipped)"
    )
    parser.add_argument("--models", default="bn-cnn,small-resnet", help="section 2's models")
    parser.add_argument("--han-models", default="lenet-300-100,lenet5", help="section 1's models")
    parser.add_argument("--han-epochs", type=int, default=None, help="section 1: fine-tune epochs per step")
    parser.add_argument("--han-steps", type=int, default=5, help="section 1: gradual pruning steps")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("COMPRESSION_THREADS", str(args.threads))  # the paired timings' threads
    sections = {s.strip() for s in args.sections.split(",")}
    path = RESULTS / "pruning.json"
    mine: dict[str, Any] = {}

    def save() -> None:
        """Merge this run's sections into the file (other sections may come from other runs)."""
        results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        results.update(mine)
        results["machine"] = machine()
        write_results("pruning", results, _md(results))

    if "4" in sections:
        mine["sensitivity"] = sensitivity_time()
        save()
    if "1" in sections:
        targets = {"lenet-300-100": 0.92, "lenet5": 0.90}
        for name in args.han_models.split(","):
            epochs = args.han_epochs or {"lenet-300-100": 4, "lenet5": 2}[name]  # the recorded budgets
            row = han(name, targets[name], args.han_steps, epochs)
            previous = json.loads(path.read_text()).get("han", []) if path.exists() else []
            mine["han"] = [r for r in previous if r["model"] != name] + [row]
            save()
    if "2" in sections and args.speed_only:
        for name in args.models.split(","):
            row = speed_only(name, args.baseline_epochs, args.clock)
            previous = json.loads(path.read_text()).get("structured_paired", []) if path.exists() else []
            mine["structured_paired"] = [
                *previous,
                row,
            ]  # every re-measure is kept: their spread is the point
            save()
    elif "2" in sections:
        for name in args.models.split(","):  # saved per model: each takes a while on a busy CPU
            row = structured_speed(name, args.baseline_epochs, args.finetune_epochs)
            previous = json.loads(path.read_text()).get("structured", []) if path.exists() else []
            mine["structured"] = [r for r in previous if r["model"] != name] + [row]
            save()
    if "3" in sections:
        mine["slider"] = slider_latency()
        save()


if __name__ == "__main__":
    main()
