"""DARTS benchmark (issue #15), on fashion-mnist with one torch thread on the CPU.

1. pc: a PC-DARTS (K=4) search epoch against a full-channel (K=1) one, the two timed interleaved in
   one process (alternating which goes first), on the same network and subset. Target: >= 2x faster.
2. search + random (the target): a search of at most 15 minutes on a training subset, the derived genotype retrained on the
   whole training split; against 3 random genotypes of the same space retrained with the same budget.
   Target: >= 91 % test top-1 with <= 100k parameters, and better than the random genotypes' mean.
3. collapse: one long search without a cure on a small subset (the regime where skips take over);
   the same search with the cures: the P-DARTS cap derives from the same final alphas, the DARTS+
   early stop is the same seeded search cut at its stop epoch (identical up to there), so both come
   from this one trajectory. Each distinct genotype is retrained with the same budget.
   Target: the uncured search ends with more skips and a worse retrained accuracy than the cured one.

4. retrain: a recorded search's cell retrained again with another budget (--from-key), for random cells
   retrained with that budget (--random-key).
5. proxy: the cells of the target searches and the random cells trained briefly (--proxy-epochs on
   --proxy-subset images) and scored on the validation split: does a short training pick the better of
   two searches, as DARTS's paper picks among its 4? (--proxy-part i/n splits the cells between processes)

Run: .venv/bin/python -m bench.darts [--sections pc,batched,search,random,retrain,collapse,proxy] [sizes: see --help]
Each section merges its result into bench/results/darts.json (under a file lock: sections may run
in separate processes) and rewrites darts.md; wall time, process CPU time and the load average are
recorded next to every timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from bench.common import RESULTS, machine, write_results
from compression import data, metrics
from compression.search import darts
from compression.search.darts.batched import edge_by_edge
from compression.search.darts.config import SELECTION_IMAGES
from compression.search.darts.genotype import Genotype
from compression.search.darts.network import SearchCell
from compression.search.darts.search import final_genotype

FASHION = "fashion-mnist"
SEARCH_LIMIT_S = 15 * 60


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


@contextmanager
def _clock() -> Iterator[dict[str, float]]:
    """Wall time, process CPU time and the 1-minute load average before and after."""
    out: dict[str, float] = {"load_before": os.getloadavg()[0]}
    t0, c0 = time.perf_counter(), time.process_time()
    yield out
    out.update(wall_s=time.perf_counter() - t0, cpu_s=time.process_time() - c0, load_after=os.getloadavg()[0])


def _config(args: argparse.Namespace, dataset: str = FASHION, **kw: Any) -> darts.DartsConfig:
    return darts.DartsConfig(
        dataset=dataset,
        cells=args.cells,
        nodes=args.nodes,
        channels=args.channels,
        batch_size=64,
        retrain_epochs=args.retrain_epochs,
        retrain_lr=args.retrain_lr,
        retrain_subset=args.retrain_subset,
        **kw,
    )


def retrained(
    genotype: Genotype, cfg: darts.DartsConfig, ds: data.Dataset, label: str, device: str = "cpu"
) -> dict[str, Any]:
    with _clock() as t:
        model = darts.retrain(genotype, cfg, ds, device=device)
    top1 = metrics.evaluate(model, ds.x_test, ds.y_test)[0]
    params = sum(p.numel() for p in model.parameters())
    log(f"{label}: test top-1 {top1:.2%}, {params:,} params, retrain {t['wall_s']:.0f} s")
    return {
        "label": label,
        "genotype": genotype.to_dict(),
        "skips": genotype.skip_count(),
        "top1": top1,
        "params": params,
        "retrain": t,
    }


def timed_search(
    cfg: darts.DartsConfig, ds: data.Dataset, device: str = "cpu"
) -> tuple[darts.SearchResult, dict[str, float]]:
    def epoch(r: darts.EpochRecord) -> None:
        log(f"  epoch {r.epoch}: acc {r.train_acc:.2%}/{r.val_acc:.2%}, {r.skips} skips, {r.seconds:.0f} s")

    with _clock() as t:
        result = darts.search(cfg, ds, on_epoch=epoch, device=device)
    return result, t


# ---------------------------------------------------------------- sections


def pc(ds: data.Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Paired, interleaved: one search epoch with K=1 and one with K=4 per pair, order alternating."""
    cfgs = {k: _config(args, epochs=1, partial_channels=k, search_subset=args.pc_subset) for k in (1, 4)}
    rows = []
    for i in range(args.pairs):
        order = (1, 4) if i % 2 == 0 else (4, 1)
        row: dict[str, Any] = {"pair": i, "first": order[0], "load": os.getloadavg()[0]}
        for k in order:
            with _clock() as t:
                r = darts.search(cfgs[k], ds, device="cpu")
            row[f"k{k}_epoch_s"] = r.records[0].seconds
            row[f"k{k}_cpu_s"] = t["cpu_s"]
        row["ratio"] = row["k1_epoch_s"] / row["k4_epoch_s"]
        row["cpu_ratio"] = row["k1_cpu_s"] / row["k4_cpu_s"]
        log(f"pair {i}: K=1 {row['k1_epoch_s']:.1f} s, K=4 {row['k4_epoch_s']:.1f} s, {row['ratio']:.2f}x")
        rows.append(row)
    ratios = [r["ratio"] for r in rows]
    return {
        "subset": args.pc_subset,
        "network": {"cells": args.cells, "nodes": args.nodes, "channels": args.channels, "batch": 64},
        "pairs": rows,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "cpu_ratio_median": statistics.median(r["cpu_ratio"] for r in rows),
        "met": statistics.median(ratios) >= 2.0,
        "forward": "batched",  # each node's edges at once (batched.py); sections without it: edge by edge
    }


@contextmanager
def cell_forward(batched: bool) -> Iterator[None]:
    """Search cells as they run (each node's edges batched) or edge by edge (batched.edge_by_edge)."""
    saved = SearchCell.forward
    if not batched:
        SearchCell.forward = edge_by_edge  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        SearchCell.forward = saved  # type: ignore[method-assign]


def batched_section(ds: data.Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """Paired, interleaved: a search epoch with the nodes' edges batched and edge by edge, at K=1 and K=4;
    the four variants in alternating order each round."""
    cfgs = {k: _config(args, epochs=1, partial_channels=k, search_subset=args.pc_subset) for k in (1, 4)}
    variants = [(k, b) for k in (1, 4) for b in (False, True)]
    rows = []
    for i in range(args.pairs):
        row: dict[str, Any] = {"round": i, "load": os.getloadavg()[0]}
        for k, b in variants if i % 2 == 0 else variants[::-1]:
            with cell_forward(b):
                row[f"k{k}_{'batched' if b else 'edges'}_s"] = (
                    darts.search(cfgs[k], ds, device="cpu").records[0].seconds
                )
        log(", ".join(f"{key} {v:.1f}" for key, v in row.items() if key.endswith("_s")))
        rows.append(row)

    def median(f: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(f(r) for r in rows)

    return {
        "subset": args.pc_subset,
        "network": {"cells": args.cells, "nodes": args.nodes, "channels": args.channels, "batch": 64},
        "rounds": rows,
        "speedup": {
            f"k{k}": median(lambda r, k=k: r[f"k{k}_edges_s"] / r[f"k{k}_batched_s"]) for k in (1, 4)
        },
        "pc_ratio": {f: median(lambda r, f=f: r[f"k1_{f}_s"] / r[f"k4_{f}_s"]) for f in ("edges", "batched")},
    }


def search_section(
    ds: data.Dataset, args: argparse.Namespace, save: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """The target search (at most 15 minutes) and its derived genotype retrained."""
    cfg = dataclasses.replace(target_config(args), seed=args.search_seed)
    if args.search_channels:  # a wider supernet (DARTS searches at C=16, evaluates at another width)
        cfg = dataclasses.replace(cfg, channels=args.search_channels)
    log(f"target search: {cfg}")
    result, t = timed_search(cfg, ds)
    # every network retrains with the same seed, at the width of the random cells it is compared with
    cfg = dataclasses.replace(cfg, seed=args.retrain_seed, channels=args.channels)
    out: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "search_channels": args.search_channels or args.channels,
        "search": t,
        "search_epochs": [r.summary() for r in result.records],
        "genotype": result.genotype.to_dict(),
        "random_key": args.random_key,
        "search_seed": args.search_seed,
        "selection_s": result.selection_seconds,
        "selection_scores": result.selection_scores,
    }
    save(out)
    kind = f"PC K={args.search_k}" if args.search_k > 1 else "full channels"
    penalty = f", size penalty λ = {cfg.size_penalty:g}" if cfg.size_penalty else ""
    label = f"DARTS ({kind}, cap-skips{penalty}" + (
        ", DARTS-PT selection)" if cfg.selection == "perturbation" else ")"
    )
    out["derived"] = retrained(result.genotype, cfg, ds, label)
    if cfg.selection == "perturbation" and args.also_alpha:  # the same supernet, its largest-α cell
        save(out)
        alpha = final_genotype(result.records)
        out["derived_alpha"] = retrained(alpha, cfg, ds, "DARTS, same supernet, largest-α cell")
    return out


def target_config(args: argparse.Namespace) -> darts.DartsConfig:
    return _config(
        args,
        epochs=args.search_epochs,
        partial_channels=args.search_k,
        cure="cap-skips",
        search_subset=args.search_subset,
        warmup_epochs=args.warmup,
        arch_lr=args.arch_lr,
        selection=args.selection,
        size_penalty=args.size_penalty,
    )


def random_section(ds: data.Dataset, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    """A random genotype of the same space, retrained with the same budget as the derived one."""
    cfg = dataclasses.replace(target_config(args), seed=args.retrain_seed)
    label = f"random genotype {seed}" + (f", retrain seed {args.retrain_seed}" if args.retrain_seed else "")
    return retrained(darts.random_genotype(cfg.nodes, seed), cfg, ds, label)


def target_verdict(res: dict[str, Any], key: str = "search") -> dict[str, Any]:
    """The target's four conditions, from a search section and the random genotypes recorded."""
    search = res.get(key, {})
    rand = list(res.get(search.get("random_key", "random"), {}).values())
    d = search.get("derived")
    mean = statistics.mean(r["top1"] for r in rand) if rand else None
    return {
        "random_mean": mean,
        "random_count": len(rand),
        "search_within_15_min": search["search"]["wall_s"] <= SEARCH_LIMIT_S if search else None,
        "top1_at_least_91": d["top1"] >= 0.91 if d else None,
        "params_at_most_100k": d["params"] <= 100_000 if d else None,
        "beats_random_mean": d["top1"] > mean if d and mean is not None and len(rand) == 3 else None,
    }


def retrain_section(ds: data.Dataset, args: argparse.Namespace) -> dict[str, Any]:
    """A recorded search's cell retrained again with this run's budget (--retrain-epochs, --retrain-seed),
    to set against random cells retrained with that budget (--random-key): the search is not run again."""
    res = recorded()
    src, when = res[args.from_key], res.get("machines", {}).get(args.from_key, {}).get("date", "?")
    fields = {f.name for f in dataclasses.fields(darts.DartsConfig)}
    cfg = darts.DartsConfig(**{k: v for k, v in src["config"].items() if k in fields})
    cfg = dataclasses.replace(cfg, retrain_epochs=args.retrain_epochs, seed=args.retrain_seed)
    keep = ("search", "search_epochs", "genotype", "search_seed", "search_channels")
    return {
        **{k: src[k] for k in keep if k in src},
        "config": dataclasses.asdict(cfg),
        "random_key": args.random_key,
        "from_key": args.from_key,
        "note": f"The search is `{args.from_key}`'s ({when}), not run again; its cell and the random cells "
        f"are retrained here with {args.retrain_epochs} epochs.",
        "derived": retrained(Genotype.from_dict(src["genotype"]), cfg, ds, f"DARTS ({args.from_key}'s cell)"),
    }


def proxy_cells(res: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The cells of the largest group of target searches differing only by seed, then its random cells:
    (name, their recorded retraining: genotype, test top-1, params)."""
    rk, keys = max(seed_groups(res), key=lambda g: len(g[1]))
    return [(k, res[k]["derived"]) for k in keys] + [(f"{rk}/{g}", r) for g, r in sorted(res[rk].items())]


def proxy_section(ds: data.Dataset, args: argparse.Namespace, cell: dict[str, Any]) -> dict[str, Any]:
    """One recorded cell trained briefly from scratch (--proxy-epochs on --proxy-subset images, the
    target's retraining otherwise) and scored on the validation split: the selection DARTS's paper makes
    between its 4 searches' cells, tried as a way to pick the better of several searches here."""
    cfg = dataclasses.replace(
        darts.TARGET,
        retrain_epochs=args.proxy_epochs,
        retrain_subset=args.proxy_subset,
        seed=args.retrain_seed,
    )
    with _clock() as t:
        model = darts.retrain(Genotype.from_dict(cell["genotype"]), cfg, ds)
    val = metrics.evaluate(model, ds.x_val, ds.y_val)[0]
    log(f"proxy: validation top-1 {val:.2%} (recorded test top-1 {cell['top1']:.2%}), {t['wall_s']:.0f} s")
    return {"val_top1": val, "top1": cell["top1"], "params": cell["params"], "train": t}


def collapse(
    ds: data.Dataset, args: argparse.Namespace, save: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    cfg = _config(
        args,
        dataset=ds.name,
        epochs=args.long_epochs,
        partial_channels=args.collapse_k,
        cure="none",
        search_subset=args.long_subset,
        arch_lr=args.collapse_arch_lr,
        lr=args.collapse_lr,
        order=args.collapse_order,
        warmup_epochs=args.collapse_warmup,
        seed=args.collapse_seed,
    )
    log(f"collapse search: {cfg}")
    result, t = timed_search(cfg, ds)
    records = result.records
    last = records[-1]
    capped = Genotype(
        darts.derive(last.ranked_normal, cfg.nodes, cap_skips=darts.MAX_SKIPS), last.genotype.reduce
    )
    fired = next((r.epoch for r in records if r.skips > darts.MAX_SKIPS), None)
    stopped = records[fired - 2].genotype if fired is not None and fired > 1 else None
    out: dict[str, Any] = {
        "config": dataclasses.asdict(cfg),
        "search": t,
        "search_epochs": [r.summary() for r in result.records],
        "skips_per_epoch": [r.skips for r in records],
        "param_free_per_epoch": [r.genotype.param_free_count() for r in records],
        "early_stop_epoch": fired,
        "genotypes": {"none": last.genotype.to_dict(), "cap-skips": capped.to_dict()},
    }
    if stopped is not None:
        out["genotypes"]["early-stop"] = stopped.to_dict()
    save(out)
    out["retrained"] = {}
    done: dict[Genotype, dict[str, Any]] = {}
    for name, g in (("none", last.genotype), ("cap-skips", capped), ("early-stop", stopped)):
        if g is None:
            continue
        out["retrained"][name] = done[g] if g in done else retrained(g, cfg, ds, f"collapse, cure {name}")
        done[g] = out["retrained"][name]
        save(out)
    base = out["retrained"]["none"]
    out["met"] = {
        name: {
            "fewer_skips": r["skips"] < base["skips"],
            "better_top1": r["top1"] > base["top1"],
        }
        for name, r in out["retrained"].items()
        if name != "none"
    }
    return out


# ---------------------------------------------------------------- results


@contextmanager
def _locked() -> Iterator[None]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(Path(tempfile.gettempdir()) / "compression-bench-darts.lock", "w") as fh:  # not in the repo
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def recorded() -> dict[str, Any]:
    """darts.json as it stands, read under the lock that `merge` writes it under."""
    with _locked():
        path = RESULTS / "darts.json"
        return json.loads(path.read_text()) if path.exists() else {}


def merge(
    section: str, value: dict[str, Any], sub: str | None = None, where: dict[str, Any] | None = None
) -> None:
    """Merge one section (or one entry `sub` of it) into darts.json and rewrite darts.md (sections run
    in separate processes at the same time); `where`: the machine it ran on, when not this one."""
    with _locked():
        path = RESULTS / "darts.json"
        res = json.loads(path.read_text()) if path.exists() else {}
        if sub is None:
            res[section] = value
        else:
            res.setdefault(section, {})[sub] = value
        res.setdefault("machines", {})[section if sub is None else f"{section}/{sub}"] = where or machine()
        res["machine"] = machine()
        write_results("darts", res, render(res))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def _cell(g: dict[str, Any]) -> str:
    return ", ".join(f"{op}<-{i}" for op, i in g["normal"])


def _met(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "MISSED")


def _render_pc(p: dict[str, Any]) -> list[str]:
    m = p.get("_machine", {})
    forward = (
        "each node's edges batched" if p.get("forward") == "batched" else "edge by edge (before 6ce1006)"
    )
    return [
        f"## Partial channels: search-epoch speed, K=4 vs K=1 (paired, interleaved), C={p['network']['channels']}, "
        + forward,
        "",
        f"Network {p['network']}, load average {statistics.mean(r['load'] for r in p['pairs']):.1f} on average, "
        f"{p['subset']} search images ({p['subset'] // 2} per half), first-order, "
        f"1 torch thread, CPU {m.get('cpu', '?')}; {len(p['pairs'])} pairs, order alternating.",
        "",
        "| pair | first | load | K=1 epoch s | K=4 epoch s | ratio | CPU-time ratio |",
        "|---|---|---|---|---|---|---|",
        *(
            f"| {r['pair']} | K={r['first']} | {r['load']:.1f} | {r['k1_epoch_s']:.1f} | {r['k4_epoch_s']:.1f} | "
            f"{r['ratio']:.2f}x | {r['cpu_ratio']:.2f}x |"
            for r in p["pairs"]
        ),
        "",
        f"Median ratio **{p['ratio_median']:.2f}x** (min {p['ratio_min']:.2f}x, max {p['ratio_max']:.2f}x); "
        f"median CPU-time ratio {p['cpu_ratio_median']:.2f}x. Target >= 2x: **{_met(p['met'])}**.",
        "",
    ]


def _render_batched(b: dict[str, Any]) -> list[str]:
    m = b.get("_machine", {})
    return [
        "## Each node's edges batched against edge by edge: search-epoch speed (paired, interleaved), "
        f"C={b['network']['channels']}",
        "",
        f"Network {b['network']}, {b['subset']} search images, first-order, 1 torch thread, CPU {m.get('cpu', '?')}, "
        f"load average {statistics.mean(r['load'] for r in b['rounds']):.1f}; the four variants in alternating "
        "order each round (`python -m bench.darts --sections batched`).",
        "",
        "| round | load | K=1 edge by edge s | K=1 batched s | K=4 edge by edge s | K=4 batched s |",
        "|---|---|---|---|---|---|",
        *(
            f"| {r['round']} | {r['load']:.1f} | {r['k1_edges_s']:.1f} | {r['k1_batched_s']:.1f} | "
            f"{r['k4_edges_s']:.1f} | {r['k4_batched_s']:.1f} |"
            for r in b["rounds"]
        ),
        "",
        f"Batched against edge by edge (median of the rounds' ratios): **{b['speedup']['k1']:.2f}x** at K=1, "
        f"**{b['speedup']['k4']:.2f}x** at K=4. K=4 against K=1: {b['pc_ratio']['edges']:.2f}x edge by edge, "
        f"**{b['pc_ratio']['batched']:.2f}x** batched.",
        "",
    ]


def _render_target(res: dict[str, Any], key: str) -> list[str]:
    t = res.get(key)
    lines = [f"## Target: a 15-minute CPU search, retrained, against random genotypes ({key})", ""]
    if t is not None:
        c, s = t["config"], t["search"]
        g = t["genotype"]
        lines += [
            f"Search: {c['cells']} cells x {c['nodes']} nodes, C={t.get('search_channels', c['channels'])}, "
            + (
                f"PC-DARTS K={c['partial_channels']}, "
                if c["partial_channels"] > 1
                else "full channels (K=1), "
            )
            + (f"size penalty λ = {c['size_penalty']:g}, " if c.get("size_penalty") else "")
            + f"first-order, cure {c['cure']}, seed {t.get('search_seed', c['seed'])}, {len(t['search_epochs'])} epochs (the first "
            f"{c.get('warmup_epochs', 0)} training the weights only) on {c['search_subset']:,} training "
            f"images (half weights, half alphas), batch {c['batch_size']}, 1 torch thread: wall {s['wall_s']:.0f} s, "
            f"process CPU {s['cpu_s']:.0f} s, load average {s['load_before']:.1f} -> {s['load_after']:.1f}."
            + (
                f" The cell was chosen by perturbation (DARTS-PT: the op whose removal from the trained supernet "
                f"raises the validation loss most, on {SELECTION_IMAGES:,} alpha-half images) in {t['selection_s']:.0f} s of that."
                if c.get("selection") == "perturbation"
                else ""
            ),
            "",
            f"Derived normal cell: {_cell(g)}; reduction cell: {', '.join(f'{op}<-{i}' for op, i in g['reduce'])}.",
            "",
            *([t["note"], ""] if t.get("note") else []),
            f"Retraining (every network the same budget, at C={c['channels']}): {c['retrain_epochs']} epoch(s) on "
            f"{c['retrain_subset'] or 55000:,} of the 55,000 training images, Adam lr {c['retrain_lr']:g} with a cosine schedule, batch "
            f"{c['retrain_batch_size']}, 1 torch thread; test top-1 on the 10,000 test images.",
            "",
        ]
    lines += [
        "| network | skips (normal) | params | test top-1 | retrain wall s | retrain CPU s | load |",
        "|---|---|---|---|---|---|---|",
    ]
    random_rows = list(res.get((t or {}).get("random_key", "random"), {}).values())
    rows = [t[k] for k in ("derived", "derived_alpha") if t and k in t] + random_rows
    for r in rows:
        rt = r["retrain"]
        lines.append(
            f"| {r['label']} | {r['skips']} | {r['params']:,} | {_pct(r['top1'])} | {rt['wall_s']:.0f} | "
            f"{rt['cpu_s']:.0f} | {rt['load_before']:.1f} |"
        )
    v = target_verdict(res, key)
    tie = False
    if v["random_mean"] is not None:
        lines += [
            "",
            f"Mean of the {v['random_count']} random genotype(s) retrained: {_pct(v['random_mean'])}.",
        ]
    if v["random_mean"] is not None and t and "derived" in t:
        tops = [r["top1"] for r in random_rows]
        margin = 100 * (t["derived"]["top1"] - v["random_mean"])
        spread = 100 * (max(tops) - min(tops))
        tie = abs(margin) < spread / 2
        lines += [
            "",
            f"Margin over the random mean: {margin:+.3f} points ({10000 * t['derived']['top1']:,.0f} against "
            f"{10000 * v['random_mean']:,.1f} of the 10,000 test images right); the random cells alone spread "
            f"{spread:.2f} points" + (": a tie within that spread, not a win." if tie else "."),
        ]
    return [
        *lines,
        "",
        f"- search <= 15 min: **{_met(v['search_within_15_min'])}**",
        f"- >= 91 % test top-1: **{_met(v['top1_at_least_91'])}**",
        f"- <= 100k parameters: **{_met(v['params_at_most_100k'])}**",
        "- beats the mean of 3 random genotypes: **"
        + (
            "met on the letter, a tie in substance"
            if v["beats_random_mean"] and tie
            else _met(v["beats_random_mean"])
        )
        + "**",
        "",
    ]


def _render_collapse(k: dict[str, Any], key: str) -> list[str]:
    c, s = k["config"], k["search"]
    lines = [
        f"## Collapse and its cures ({c['dataset']}; {key})",
        "",
        f"One long search without a cure: {c['epochs']} epochs on {c['search_subset']:,} training images, "
        f"{c['cells']} cells x {c['nodes']} nodes, C={c['channels']}, K={c['partial_channels']}, seed {c['seed']}, "
        f"{'second' if c.get('order') == 2 else 'first'}-order, α step (Adam lr) {c.get('arch_lr', 3e-3):g}, "
        f"weights' SGD lr {c.get('lr', 0.05):g}, the first {c.get('warmup_epochs', 0)} epoch(s) training the "
        "weights only; "
        f"wall {s['wall_s']:.0f} s, CPU {s['cpu_s']:.0f} s, load {s['load_before']:.1f} -> {s['load_after']:.1f}.",
        "",
        f"Skip connections in the derived normal cell, epoch by epoch: {k['skips_per_epoch']}. "
        + (
            f"The DARTS+ early stop (> 2 skips) fires at epoch {k['early_stop_epoch']}: its genotype is epoch "
            f"{k['early_stop_epoch'] - 1}'s (the same seeded search cut there)."
            if k.get("early_stop_epoch")
            else "The normal cell never held more than 2 skips: the early stop never fires in this budget."
        ),
        (
            f"Parameter-free ops (skips and pools) in the derived normal cell, epoch by epoch: "
            f"{k['param_free_per_epoch']}. "
            if "param_free_per_epoch" in k
            else ""
        )
        + "The P-DARTS cap derives the final alphas with at most 2 skips. Each distinct genotype is retrained "
        f"{c['retrain_epochs']} epoch(s) on {c['retrain_subset'] or 'all the'} training images (Adam lr "
        f"{c['retrain_lr']:g}, cosine, batch {c['retrain_batch_size']}); test top-1 on the test split.",
        "",
        "| cure | skips (normal) | normal cell | params | test top-1 |",
        "|---|---|---|---|---|",
    ]
    for name, r in k.get("retrained", {}).items():
        lines.append(
            f"| {name} | {r['skips']} | {_cell(r['genotype'])} | {r['params']:,} | {_pct(r['top1'])} |"
        )
    for name, m in k.get("met", {}).items():
        if k["retrained"][name]["genotype"] == k["retrained"]["none"]["genotype"]:
            lines.append(f"\n- {name}: the same genotype as without a cure (nothing to cure in this search)")
            continue
        lines.append(
            f"\n- {name} vs none: fewer skips **{_met(m['fewer_skips'])}**, better retrained top-1 "
            f"**{_met(m['better_top1'])}**"
        )
    return [*lines, ""]


def render(res: dict[str, Any]) -> str:
    from bench import darts_gpu  # imports this module: here, not at the top

    lines: list[str] = [
        "DARTS on fashion-mnist, 1 torch thread, on the project's 2-core CPU machines; the last section on a lent GPU.",
        "",
    ]
    for key in sorted(k for k in res if k.startswith("pc")):
        lines += _render_pc({**res[key], "_machine": res.get("machines", {}).get(key, {})})
    for key in sorted(k for k in res if k.startswith("batched")):
        lines += _render_batched({**res[key], "_machine": res.get("machines", {}).get(key, {})})
    for key in sorted(k for k in res if k.startswith("search")) or (["search"] if "random" in res else []):
        lines += _render_target(res, key)
    for key in sorted(k for k in res if k.startswith("collapse")):
        lines += _render_collapse(res[key], key)
    lines += _render_seeds(res)
    lines += _render_proxy(res)
    lines += _render_retrain_noise(res)
    lines += darts_gpu.render(res)
    return "\n".join(lines)


def seed_groups(res: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """Searches that differ only in their search seed (same configuration and retraining budget, compared
    with the same random cells): (random cells' key, search keys by seed), for groups of two or more."""
    groups: dict[tuple[str, str], list[str]] = {}
    for key in sorted(k for k in res if k.startswith("search")):
        t = res[key]
        if "derived" in t and "config" in t:
            sig = (t.get("random_key", "random"), json.dumps(t["config"], sort_keys=True))
            groups.setdefault(sig, []).append(key)
    return [
        (rk, sorted(keys, key=lambda k: res[k].get("search_seed", 0)))
        for (rk, _), keys in groups.items()
        if len(keys) > 1
    ]


def _render_seeds(res: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for rk, keys in seed_groups(res):
        c = res[keys[0]]["config"]
        mean = target_verdict(res, keys[0])["random_mean"]
        if mean is None:
            continue
        tops = [res[k]["derived"]["top1"] for k in keys]
        ahead = sum(t > mean for t in tops)
        lines += [
            f"## `{keys[0]}` with other search seeds ({c['retrain_epochs']}-epoch retraining, against `{rk}`)",
            "",
            "The same configuration, only the search's seed changed (its initialisation, batches and α "
            "halves); every cell retrained with the same seed and budget as the random cells.",
            "",
            "| search seed | key | search's CPU | search wall s | load | cell's params | test top-1 | margin over the random mean |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for k in keys:
            t, d = res[k], res[k]["derived"]
            s = t["search"]
            cpu = res.get("machines", {}).get(t.get("from_key", k), {}).get("cpu", "?")  # the search's
            lines.append(
                f"| {t.get('search_seed', 0)} | {k} | {cpu} | {s['wall_s']:.0f} | {s['load_before']:.1f} -> "
                f"{s['load_after']:.1f} | {d['params']:,} | {_pct(d['top1'])} | "
                f"{100 * (d['top1'] - mean):+.2f} points |"
            )
        lines += [
            "",
            f"Searched cells: mean {_pct(statistics.mean(tops))} against the random cells' "
            f"{_pct(mean)} ({100 * (statistics.mean(tops) - mean):+.2f} points); {ahead} of {len(tops)} "
            f"ahead of the random mean, {sum(t >= 0.91 for t in tops)} of {len(tops)} at 91 % or more.",
            "",
        ]
    return lines


def _render_proxy(res: dict[str, Any]) -> list[str]:
    proxy = res.get("proxy", {})
    rows = [(name, proxy[name]) for name, _ in proxy_cells(res) if name in proxy] if proxy else []
    if not rows:
        return []
    from scipy.stats import spearmanr

    searched = [r for name, r in rows if "/" not in name]
    pairs = [searched[i : i + 2] for i in range(0, len(searched) - 1, 2)]
    picked = [max(pair, key=lambda r: r["val_top1"]) for pair in pairs]
    right = sum(p is max(pair, key=lambda r: r["top1"]) for p, pair in zip(picked, pairs, strict=True))
    rho = spearmanr([r["val_top1"] for _, r in rows], [r["top1"] for _, r in rows]).statistic
    summary = (
        f"Rank correlation (Spearman) of the two columns over the {len(rows)} cells: {rho:+.2f}. "
        if len(rows) > 2
        else ""
    )
    if picked:
        summary += (
            f"Searches paired by seed (0-1, 2-3, ...), the short training picks the cell that retrains better in "
            f"{right} of {len(pairs)} pairs; the picked cells average "
            f"{_pct(statistics.mean(p['top1'] for p in picked))}."
        )
    first = rows[0][1]["train"]
    return [
        "## Picking the better of two searches by a short training (the DARTS paper's selection)",
        "",
        f"Each cell above trained from scratch for {res['proxy_config']['epochs']} epoch(s) on "
        f"{res['proxy_config']['subset']:,} training images (Adam lr 3e-3, cosine, the same seed), then scored on "
        "the 5,000 validation images (not the test split); `python -m bench.darts --sections proxy`. "
        f"~{first['wall_s']:.0f} s a cell on one core.",
        "",
        "| cell | params | short training: validation top-1 | 15 epochs: test top-1 |",
        "|---|---|---|---|",
        *(f"| {n} | {r['params']:,} | {_pct(r['val_top1'])} | {_pct(r['top1'])} |" for n, r in rows),
        "",
        summary,
        "",
    ]


def _render_retrain_noise(res: dict[str, Any]) -> list[str]:
    """The same random genotype retrained with another seed (`--retrain-seed`, keys random10_r*): how far
    one network's test top-1 moves with the retraining's seed alone."""
    rows = []
    for key in sorted(k for k in res if k.startswith("random10_r")):
        for g, r in sorted(res[key].items()):
            base = res.get("random10", {}).get(g)
            if base is not None:
                diff = 100 * (r["top1"] - base["top1"])
                rows.append(
                    f"| random genotype {g} | {_pct(base['top1'])} | {_pct(r['top1'])} ({key}) | {diff:+.2f} |"
                )
    if not rows:
        return []
    return [
        "## Retraining noise: one genotype, two retraining seeds",
        "",
        "The random genotypes of `random10` retrained again with the same budget (10 epochs on all 55,000 images, "
        "Adam lr 3e-3, cosine, batch 128) but another seed (initialisation and batch order).",
        "",
        "| network | retrain seed 0 | other seed | difference (points) |",
        "|---|---|---|---|",
        *rows,
        "",
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sections", default="pc,search,random,collapse")
    p.add_argument("--random-seeds", default="1,2,3", help="the random genotypes this process retrains")
    p.add_argument("--cells", type=int, default=5)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--retrain-epochs", type=int, default=2)
    p.add_argument(
        "--arch-lr", type=float, default=3e-3, help="Adam learning rate of the alphas (target search)"
    )
    p.add_argument("--retrain-lr", type=float, default=3e-3)
    p.add_argument("--retrain-subset", type=int, default=0, help="training images per retraining (0: all)")
    p.add_argument(
        "--search-channels", type=int, default=0, help="C of the target search's supernet (0: --channels)"
    )
    p.add_argument("--search-epochs", type=int, default=6)
    p.add_argument("--search-subset", type=int, default=6000)
    p.add_argument(
        "--warmup", type=int, default=0, help="search epochs that train the weights only (PC-DARTS)"
    )
    p.add_argument(
        "--selection",
        default="alpha",
        choices=darts.SELECTIONS,
        help="how the target search derives its cell",
    )
    p.add_argument("--search-seed", type=int, default=0, help="seed of the target search")
    p.add_argument(
        "--size-penalty", type=float, default=0.0, help="λ of the target search's size term (0: plain DARTS)"
    )
    p.add_argument(
        "--search-k", type=int, default=4, help="partial channels K of the target search (1: full)"
    )
    p.add_argument("--retrain-seed", type=int, default=0, help="seed of every retraining (search, random)")
    p.add_argument(
        "--also-alpha",
        action="store_true",
        help="with --selection perturbation: also retrain the same supernet's largest-α cell",
    )
    p.add_argument("--search-key", default="search", help="the results key (search* sections all render)")
    p.add_argument(
        "--from-key", default="search_w4", help="retrain: the recorded search whose cell is retrained"
    )
    p.add_argument(
        "--random-key", default="random", help="the random genotypes' key a search is compared with"
    )
    p.add_argument("--long-epochs", type=int, default=30)
    p.add_argument("--long-subset", type=int, default=1000)
    p.add_argument("--collapse-k", type=int, default=4, help="partial channels of the collapse search")
    p.add_argument("--collapse-dataset", default=FASHION)
    p.add_argument("--collapse-arch-lr", type=float, default=3e-3, help="Adam learning rate of the alphas")
    p.add_argument(
        "--collapse-lr", type=float, default=0.05, help="SGD learning rate of the supernet's weights"
    )
    p.add_argument(
        "--collapse-warmup", type=int, default=0, help="search epochs that train the weights only, α still"
    )
    p.add_argument(
        "--collapse-order", type=int, default=1, choices=(1, 2), help="1: first-order, 2: unrolled"
    )
    p.add_argument(
        "--collapse-seed", type=int, default=0, help="seed of the collapse search and its retrainings"
    )
    p.add_argument(
        "--collapse-key", default="collapse", help="the results key (collapse* sections all render)"
    )
    p.add_argument("--proxy-epochs", type=int, default=2, help="proxy: epochs of the short training")
    p.add_argument("--proxy-subset", type=int, default=20_000, help="proxy: its training images")
    p.add_argument("--proxy-part", default="0/1", help="proxy: i/n, this process's share of the cells")
    p.add_argument("--pc-subset", type=int, default=512)
    p.add_argument("--pairs", type=int, default=6)
    p.add_argument("--pc-key", default="pc", help="the results key (pc* sections all render)")
    args = p.parse_args()
    torch.set_num_threads(1)
    ds = data.load(FASHION)
    for section in args.sections.split(","):
        log(f"section {section}")
        if section == "pc":
            merge(args.pc_key, pc(ds, args))
        elif section == "batched":
            merge(f"batched_c{args.channels}", batched_section(ds, args))
        elif section == "random":
            for seed in args.random_seeds.split(","):
                merge(args.random_key, random_section(ds, args, int(seed)), sub=seed)
        elif section == "proxy":
            merge("proxy_config", {"epochs": args.proxy_epochs, "subset": args.proxy_subset})
            i, n = (int(x) for x in args.proxy_part.split("/"))
            for name, cell in proxy_cells(recorded())[i::n]:
                merge("proxy", proxy_section(ds, args, cell), sub=name)
        elif section == "retrain":
            merge(args.search_key, retrain_section(ds, args))
        elif section == "collapse":
            cds = ds if args.collapse_dataset == FASHION else data.load(args.collapse_dataset)
            key = args.collapse_key
            merge(key, collapse(cds, args, lambda partial, k=key: merge(k, {**partial, "partial": True})))
        else:
            key = args.search_key
            merge(
                key, search_section(ds, args, lambda partial, k=key: merge(k, {**partial, "partial": True}))
            )


if __name__ == "__main__":
    main()
