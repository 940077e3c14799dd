"""Quantization benchmarks: PTQ accuracy, k-means QAT, real INT8 size and speed, torch.ao vs torchao,
and slider interactivity in a real browser.

    .venv/bin/python -m bench.quantization [--sections ptq,kmeans,int8,backends,slider]

Writes bench/results/quantization.json and .md with the machine description. Speed-ups are
paired ratios (`compression.latency.paired_latency`): fp32 and the candidate timed interleaved
in one process at the pinned thread count, the median of the per-round ratios with its
interquartile range, the CPU (model, AVX2 / AVX-512 VNNI / AMX) named.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression import artifact, data, latency, metrics, techniques, train
from compression.quantization import int8, qat, schemes, storage

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).parent / "results"
FASHION = "fashion-mnist"
ROUNDS = 32  # paired rounds per speed-up (bench/results/latency.md: 16 spread 3.5x under load, 32 met 1.25x)


def machine() -> dict[str, Any]:
    choice = int8.engine_choice()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu": latency.cpu_info().describe(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "threads": latency.measurement_threads(),
        "quantized_engine": choice.engine,
        "reduce_range": choice.reduce_range,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "note": "2 cores shared with other processes: absolute times are noisy; speed-ups are paired ratios "
        f"(median of {ROUNDS} interleaved rounds, IQR in brackets) at the pinned thread count",
    }


def baseline(model: str) -> tuple[nn.Module, str]:
    """The default fashion-mnist baseline, or (bn-cnn only, when it is not trained yet) a 2-epoch one."""
    cfg = train.default_config(FASHION, model)
    m = train.load_baseline(cfg)
    if m is not None:
        return m, f"default baseline ({cfg.epochs} epochs)"
    short = replace(cfg, epochs=2)
    return train.get_baseline(short), "2-epoch baseline (the default 15-epoch one was not trained in time)"


def top1(model: nn.Module, ds: data.Dataset) -> float:
    return metrics.evaluate(model, ds.x_test, ds.y_test)[0]


def paired(base: nn.Module, candidate: nn.Module, shape: tuple[int, ...], batch: int) -> dict[str, Any]:
    """fp32 and the candidate timed interleaved: both medians, the median ratio and its IQR."""
    p = latency.paired_latency(base, candidate, shape, batch, rounds=ROUNDS)
    return {
        "ms": p.candidate_ms,
        "fp32_ms": p.baseline_ms,
        "speedup": p.speedup,
        "lo": p.speedup_lo,
        "hi": p.speedup_hi,
        "cv": p.cv,
        "noisy": p.noisy,
        "load": p.load,
    }


# ---------------------------------------------------------------- sections


def section_ptq(ds: data.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {"target": "8-bit per-channel linear PTQ within 0.3 points of fp32 top-1"}
    for arch in ("lenet5", "bn-cnn"):
        base, source = baseline(arch)
        q = techniques.apply(base, schemes.LinearQuant(bits=8, granularity="per-channel"), ds)
        b, a = top1(base, ds), top1(q, ds)
        m = storage.measure(q, ds, latency=False)
        out[arch] = {
            "baseline": source,
            "fp32_top1": b,
            "int8_sim_top1": a,
            "drop_points": 100 * (b - a),
            "pass": 100 * (b - a) <= 0.3,
            "file_bytes": m.size_artifact_bytes,
            "fp32_file_bytes": metrics.artifact_bytes(base),
        }
        print(arch, out[arch], flush=True)
    return out


def section_kmeans(
    ds: data.Dataset, epochs: dict[int, int], bits_list: tuple[int, ...] = (4, 2)
) -> dict[str, Any]:
    base, source = baseline("lenet5")
    b = top1(base, ds)
    out: dict[str, Any] = {
        "target": "k-means 4 bits within 0.5 points and 2 bits within 2 points of fp32 after QAT (LeNet-5)",
        "baseline": source,
        "fp32_top1": b,
    }
    for bits, limit in ((4, 0.5), (2, 2.0)):
        if bits not in bits_list:
            continue
        ptq = techniques.apply(base, schemes.KMeansQuant(bits=bits), ds)
        t = time.time()
        cfg = qat.QAT(scheme="kmeans", bits=bits, epochs=epochs[bits], lr=1e-3)
        q = techniques.apply(base, cfg, ds)
        m = storage.measure(q, ds, latency=False)
        row = {
            "ptq_top1": top1(ptq, ds),
            "qat_top1": m.top1,
            "drop_points": 100 * (b - m.top1),
            "limit_points": limit,
            "pass": 100 * (b - m.top1) <= limit,
            "qat": techniques.to_dict(cfg),
            "qat_seconds": time.time() - t,
            "file_bytes": m.size_artifact_bytes,
            "fp32_file_bytes": metrics.artifact_bytes(base),
        }
        out[f"{bits}bit"] = row
        print(bits, row, flush=True)
    return out


def _int8_file(model: nn.Module) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "m.pt"
        int8.save(model, p)
        return p.stat().st_size


def section_int8(ds: data.Dataset) -> dict[str, Any]:
    out: dict[str, Any] = {
        "target": "real INT8 artifact >= 3.5x smaller than fp32, batch-256 paired speed-up >= 2x",
        "machine": {**machine(), "rounds": ROUNDS},
    }
    calib = ds.x_train[:512]
    for arch in ("lenet-300-100", "bn-cnn"):
        base, source = baseline(arch)
        variants = {"fp32": base}
        for mode in int8.MODES:
            variants[mode] = int8.quantize(base, int8.Int8PTQ(mode=mode), calib)
        fp32_file = metrics.artifact_bytes(base, artifact.save)
        row: dict[str, Any] = {"baseline": source, "fp32_top1": top1(base, ds), "fp32_file_bytes": fp32_file}
        for mode in int8.MODES:
            q = variants[mode]
            size = _int8_file(q)
            b256, b1 = paired(base, q, ds.input_shape, 256), paired(base, q, ds.input_shape, 1)
            row[mode] = {
                "top1": top1(q, ds),
                "int8": dict(q._cla_int8),
                "file_bytes": size,
                "size_ratio": fp32_file / size,
                "b256": b256,
                "b1": b1,
                "pass": fp32_file / size >= 3.5 and b256["speedup"] >= 2.0,
            }
        other = not row["static"]["int8"]["reduce_range"]  # the static top-1 at the other activation range
        alt = int8.quantize(
            base, int8.Int8PTQ(mode="static"), calib, int8.EngineChoice("x86", other, "bench")
        )
        row["static_top1_by_reduce_range"] = {
            str(other): top1(alt, ds),
            str(not other): row["static"]["top1"],
        }
        out[arch] = row
        print(arch, json.dumps(row, indent=1), flush=True)
    return out


def pt2e_inductor(base: nn.Module, calib: torch.Tensor) -> nn.Module:
    """torchao's pt2e flow with the X86InductorQuantizer, compiled by Inductor (oneDNN int8 kernels with
    quantize/dequantize fused): the path PyTorch recommends for x86 CPUs. Bench only: compiling takes
    tens of seconds, too slow for a slider."""
    import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
    from torchao.quantization.pt2e import allow_exported_model_train_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    batch = torch.export.Dim("batch", min=2)
    x = calib[:256]
    graph = torch.export.export(train.clone(base).eval(), (x,), dynamic_shapes=({0: batch},)).module()
    quantizer = xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(graph, quantizer)  # type: ignore[arg-type]
    with torch.no_grad():
        prepared(calib)
    converted = allow_exported_model_train_eval(convert_pt2e(prepared))  # latency_ms calls .eval()
    compiled = torch.compile(converted, dynamic=True)
    with torch.inference_mode():
        compiled(x)  # compile now, not inside the first timing
    return compiled  # type: ignore[return-value]


def section_backends(ds: data.Dataset) -> dict[str, Any]:
    """torch.ao (eager dynamic / FX static) versus torchao 0.18's int8 dynamic config and its pt2e +
    Inductor flow, same models."""
    out: dict[str, Any] = {"machine": {**machine(), "rounds": ROUNDS}}
    calib = ds.x_train[:512]
    for arch in ("lenet-300-100", "bn-cnn"):
        base, _ = baseline(arch)
        variants = {
            "fp32": base,
            "torch.ao dynamic": int8.quantize(base, int8.Int8PTQ("dynamic"), calib),
            "torch.ao static": int8.quantize(base, int8.Int8PTQ("static"), calib),
            "torchao dynamic": int8.quantize(base, int8.Int8PTQ("dynamic", "torchao"), calib),
            "torchao pt2e + Inductor": pt2e_inductor(base, calib),
        }
        out[arch] = {k: paired(base, v, ds.input_shape, 256) for k, v in variants.items() if k != "fp32"}
        out[arch]["top1"] = {k: top1(v, ds) for k, v in variants.items()}
        print(arch, out[arch], flush=True)
    archs = ("lenet-300-100", "bn-cnn")
    fastest = {a: max((k for k in out[a] if k != "top1"), key=lambda k: out[a][k]["speedup"]) for a in archs}
    out["fastest"] = fastest
    return out


BITS = [1, 2, 3, 4, 5, 6, 7, 8, 16]  # the page's slider stops
GRID_SHOWS_JS = """(bits) => [...document.querySelectorAll('[data-testid=stPlotlyChart] .js-plotly-plot')].some(
  (el) => { const t = el._fullLayout && el._fullLayout.title && el._fullLayout.title.text;
            return !!t && t.includes('Weights and the quantization grid') && t.includes(`(${bits} bits)`); })"""


def section_slider(moves: int = 8) -> dict[str, Any]:
    """Real browser: press ArrowLeft/Right on the bit-width slider; time until the new numbers show."""
    from playwright.sync_api import expect, sync_playwright

    from tests.e2e import helpers

    url, proc = helpers.start_server({})
    times: list[float] = []  # key press to the end of the rerun (every chart redrawn)
    shown: list[float] = []  # key press to the new numbers and grid on screen
    try:
        with sync_playwright() as pw:
            browser = helpers.launch_browser(pw)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            helpers.wait_idle(page)
            page.goto(f"{url}/quantize?dataset={FASHION}&model=lenet5&bits=8&scheme=linear")
            helpers.wait_idle(page)
            slider = page.get_by_test_id("stSlider").filter(has_text="Bits per weight").get_by_role("slider")
            card = (
                page.get_by_test_id("stMetric").filter(has_text="File size").get_by_test_id("stMetricValue")
            )
            keys = ["ArrowLeft"] * (moves // 2) + ["ArrowRight"] * (moves // 2)
            bits = 8
            for key in keys * 2:  # widths 7..4 are new the first time (computed), then cached
                bits = BITS[BITS.index(bits) + (1 if key == "ArrowRight" else -1)]
                before = card.inner_text()
                slider.focus()
                t = time.perf_counter()
                page.keyboard.press(key)
                expect(card).not_to_have_text(before, timeout=60_000)
                page.wait_for_function(GRID_SHOWS_JS, arg=bits, timeout=60_000, polling=20)
                shown.append(time.perf_counter() - t)
                page.wait_for_selector(
                    "[data-testid=stApp][data-test-script-state=notRunning]", state="attached", timeout=60_000
                )
                times.append(time.perf_counter() - t)
            browser.close()
    finally:
        helpers.stop_server(proc)
    half = moves // 2  # the first moves reach widths never computed; every later one is cached
    return {
        "target": "median < 1 s from key press to new numbers and grid (LeNet-5 / fashion-mnist)",
        "shown_uncached_s": shown[:half],
        "shown_cached_s": shown[half:],
        "rerun_uncached_s": times[:half],
        "rerun_cached_s": times[half:],
        "median_shown_uncached_s": statistics.median(shown[:half]),
        "median_shown_cached_s": statistics.median(shown[half:]),
        "median_rerun_uncached_s": statistics.median(times[:half]),
        "median_rerun_cached_s": statistics.median(times[half:]),
        "median_shown_all_s": statistics.median(shown),
        "pass": statistics.median(shown) < 1.0,  # every move counts, first visits and revisits
    }


# ---------------------------------------------------------------- report


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "quantization.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    for key, value in results.items():  # merge per section: sections may run in separate processes
        unpaired = key in ("int8", "backends") and "machine" not in (old.get(key) or {})
        if isinstance(value, dict) and isinstance(old.get(key), dict) and not unpaired:
            old[key].update(
                value
            )  # an unpaired speed section (before issue 10) is replaced; "history" keeps it
        else:
            old[key] = value
    path.write_text(json.dumps(old, indent=2, default=str))
    (RESULTS / "quantization.md").write_text(markdown(old))


def _ok(flag: object) -> str:
    return "met" if flag else "**missed**"


def markdown(r: dict[str, Any]) -> str:
    lines = ["# Quantization benchmarks", ""]
    mach = r.get("machine", {})
    lines += [
        f"Machine of the latest run: {mach.get('cpu', mach.get('platform'))}, torch {mach.get('torch')}, "
        f"{mach.get('threads')} threads. {mach.get('note', '')}.",
        "",
    ]
    sections = [k for k in ("ptq", "kmeans", "int8", "backends", "slider") if isinstance(r.get(k), dict)]
    stamped = [
        f"{k}: {r[k]['machine'].get('cpu')}, {r[k]['machine'].get('date')}"
        for k in sections
        if "machine" in r[k]
    ]
    older = [k for k in sections if "machine" not in r[k]]
    if stamped:
        lines += ["Measured on: " + "; ".join(stamped) + ".", ""]
    if older:
        lines += [
            f"Sections {', '.join(older)} were measured before issue 10 on a 2-core AMD EPYC with AVX2 and no "
            "AVX-512 VNNI (the machine was not recorded per section then).",
            "",
        ]
    if "ptq" in r:
        lines += [
            "## 8-bit per-channel linear PTQ (fashion-mnist, test top-1)",
            "",
            "| model | fp32 | 8-bit | drop (pts) | target <= 0.3 | baseline |",
            "|---|---|---|---|---|---|",
        ]
        for arch in ("lenet5", "bn-cnn"):
            x = r["ptq"].get(arch)
            if x:
                lines.append(
                    f"| {arch} | {x['fp32_top1']:.2%} | {x['int8_sim_top1']:.2%} | {x['drop_points']:.2f} | {_ok(x['pass'])} | {x['baseline']} |"
                )
        lines.append("")
    if "kmeans" in r:
        k = r["kmeans"]
        lines += [
            f"## k-means weight sharing + QAT (LeNet-5, fashion-mnist; fp32 {k['fp32_top1']:.2%})",
            "",
            "| bits | PTQ top-1 | after QAT | drop (pts) | limit | result | QAT |",
            "|---|---|---|---|---|---|---|",
        ]
        for bits in (4, 2):
            x = k.get(f"{bits}bit")
            if x:
                lines.append(
                    f"| {bits} | {x['ptq_top1']:.2%} | {x['qat_top1']:.2%} | {x['drop_points']:.2f} | {x['limit_points']} | "
                    f"{_ok(x['pass'])} | {x['qat']['epochs']} epochs, lr {x['qat']['lr']}, {x['qat_seconds']:.0f} s |"
                )
        lines += ["", *[f"- {n}" for n in k.get("notes", [])], ""]
    if "machine" in r.get("int8", {}):  # before issue 10 (unpaired): kept under "history"
        sm = r["int8"].get("machine", mach)
        lines += [
            f"## Real INT8 (torch.ao kernels) versus fp32, paired ({sm.get('date')}, {sm.get('cpu')})",
            "",
            f"Speed-ups are paired ratios, median [interquartile range] of {sm.get('rounds')} interleaved rounds at "
            f"{sm.get('threads')} thread(s), load average {sm.get('load_average')}; ms are the medians of the same "
            "rounds (INT8 / fp32).",
            "",
            "| model | mode | engine, 7-bit act. | top-1 (fp32) | file (fp32 file) | size ratio | b256 ms | b256 speed-up | b1 ms | b1 speed-up | target |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for arch in ("lenet-300-100", "bn-cnn"):
            x = r["int8"].get(arch)
            if not x:
                continue
            for mode in int8.MODES:
                y = x[mode]
                a, b = y["b256"], y["b1"]
                lines.append(
                    f"| {arch} | {mode} | {y['int8']['engine']}, {y['int8']['reduce_range']} | {y['top1']:.2%} ({x['fp32_top1']:.2%}) | "
                    f"{y['file_bytes']:,} ({x['fp32_file_bytes']:,}) | {y['size_ratio']:.2f}x | {a['ms']:.2f} / {a['fp32_ms']:.2f} | "
                    f"**{a['speedup']:.2f}x** [{a['lo']:.2f}-{a['hi']:.2f}] | {b['ms']:.3f} / {b['fp32_ms']:.3f} | "
                    f"{b['speedup']:.2f}x [{b['lo']:.2f}-{b['hi']:.2f}] | {_ok(y['pass'])} |"
                )
        lines.append("")
        for arch in ("lenet-300-100", "bn-cnn"):
            by_rr = r["int8"].get(arch, {}).get("static_top1_by_reduce_range")
            if by_rr:
                lines.append(
                    f"- {arch} static top-1 by activation range: 7-bit (reduce_range) {by_rr['True']:.2%}, "
                    f"full 8-bit {by_rr['False']:.2%}."
                )
        noisy = [
            f"{a} {m} b{b}"
            for a in ("lenet-300-100", "bn-cnn")
            for m in int8.MODES
            for b in (256, 1)
            if r["int8"].get(a, {}).get(m, {}).get(f"b{b}", {}).get("noisy")
        ]
        if noisy:
            lines.append(
                f"- Flagged noisy (robust CV of the round ratios > 10 % or load above the cores): {', '.join(noisy)}."
            )
        lines += [*[f"- {n}" for n in r["int8"].get("notes", [])]]
        lines += [
            "",
            "Batch 1 is often slower in INT8: quantizing the input and dequantizing the output are fixed costs that "
            "one small image cannot amortise, and dynamic quantization also computes activation ranges per call.",
            "",
        ]
    if "machine" in r.get("backends", {}):
        bm = r["backends"].get("machine", mach)
        lines += [
            f"## torch.ao versus torchao 0.18 (batch 256, paired speed-up vs fp32 [IQR], ms; {bm.get('cpu')}, "
            f"{bm.get('threads')} thread(s), {bm.get('date')})",
            "",
        ]
        for arch in ("lenet-300-100", "bn-cnn"):
            x = r["backends"].get(arch)
            if not x:
                continue
            lines.append(
                f"- {arch}: "
                + ", ".join(
                    f"{k} **{v['speedup']:.2f}x** [{v['lo']:.2f}-{v['hi']:.2f}] ({v['ms']:.2f} ms vs {v['fp32_ms']:.2f})"
                    for k, v in x.items()
                    if k != "top1"
                )
            )
        lines += ["", f"Fastest per model: {r['backends'].get('fastest')}. The app uses torch.ao.", ""]
        lines += [f"- {n}" for n in r["backends"].get("notes", [])]
    if "slider" in r:
        s = r["slider"]
        lines += [
            "## Slider interactivity (real browser, LeNet-5 / fashion-mnist)",
            "",
            f"Key press until the new numbers and the new grid are on screen: median "
            f"**{s['median_shown_uncached_s']:.2f} s** on the first visit of each width, "
            f"{s['median_shown_cached_s']:.2f} s when cached, **{s['median_shown_all_s']:.2f} s** over all moves "
            f"({_ok(s['pass'])}, target < 1 s). Until the whole "
            f"rerun has finished (every chart below redrawn too): {s['median_rerun_uncached_s']:.2f} s / "
            f"{s['median_rerun_cached_s']:.2f} s.",
            "",
            s.get("analysis", ""),
            "",
        ]
    for h in r.get("history", []):  # earlier results that a re-measure replaced, kept as they were written
        lines += [f"## History: {h['title']}", "", h["md"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sections", default="ptq,kmeans,int8,backends,slider")
    parser.add_argument("--qat-epochs-4", type=int, default=2)
    parser.add_argument("--qat-epochs-2", type=int, default=6)
    parser.add_argument("--kmeans-bits", default="4,2")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="paired latency rounds per speed-up")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; 1 avoids oversubscription stalls on a shared machine",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("COMPRESSION_THREADS", str(args.threads))  # the paired timings' threads
    globals()["ROUNDS"] = args.rounds  # paired reads the module default
    ds = data.load(FASHION)
    results: dict[str, Any] = {"machine": machine()}
    for name in args.sections.split(","):
        t = time.time()
        if name == "ptq":
            results["ptq"] = section_ptq(ds)
        elif name == "kmeans":
            bits = tuple(int(b) for b in args.kmeans_bits.split(","))
            results["kmeans"] = section_kmeans(ds, {4: args.qat_epochs_4, 2: args.qat_epochs_2}, bits)
        elif name == "int8":
            results["int8"] = section_int8(ds)
        elif name == "backends":
            results["backends"] = section_backends(ds)
        elif name == "slider":
            results["slider"] = section_slider()
        results.setdefault("seconds", {})[name] = time.time() - t
        if isinstance(results.get(name), dict):  # every section says which CPU it was measured on
            results[name].setdefault("machine", {**machine(), "rounds": ROUNDS})
        write(results)


if __name__ == "__main__":
    main()
