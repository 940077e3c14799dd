"""Blocks of the DARTS lab: URL-backed search settings, the search as a background job whose epoch
records feed the live charts, retraining the derived cell (measured, recordable) and random cells
of the same space retrained with the same budget. The page only arranges them.

The search's job id lives in the URL (`job`), and its epoch records in a process-wide store that
the job's thread appends to, so a reload (or a second tab) reattaches to the running search.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
import streamlit as st

from compression import fmt, jobs, metrics, train
from compression.charts import darts as charts
from compression.charts.style import presented
from compression.search import darts
from compression.search.darts.config import SELECTION_IMAGES
from compression.search.darts.selection import selection_passes
from ui import measured, present, record, sidebar, state

LIVE_KEPT = 32  # searches whose epoch records the live store keeps (the oldest go first)
REFRESH_S = 2.0  # the live charts poll the search's epoch records this often (an epoch takes longer)
PRESENT_MAX_HEIGHT = 480  # px: on a 1280x720 projector the alpha grid must fit beside the controls
CHANNELS = [4, 8, 16, 24, 32]  # all divisible by every partial-channel K offered
PARTIAL = [1, 2, 4]
IMAGES = [128, 300, 600, 1200, 5000, 10000, 20000]
# Adam step of alpha. DARTS used 3e-4 over 50 CIFAR-10 epochs; in a short search here alpha barely moves at
# that (digits, 4 epochs, 3e-3: the most decided edge holds 14 % of its mix, uniform 12.5 %; 3e-2: 23 %)
ARCH_LRS = ["3e-4", "3e-3", "3e-2", "1e-1"]
# SGD step of the supernet's weights. At 0.005 the weights learn too slowly for the alphas and fashion-mnist searches
# collapse: to 4 skips of 6 edges with all channels, to average pooling on every edge with K = 4
# (bench/results/darts_collapse.md).
WEIGHT_LRS = ["0.05", "0.005"]
SIZE_PENALTIES = ["0", "0.03", "0.1", "0.3", "1"]  # lambda of resource-aware DARTS (0: plain DARTS)
SELECTIONS = {"alpha": "largest α", "perturbation": "removal test"}  # DARTS, DARTS-PT (the help says)
CURES = {  # short enough for the stage's narrow controls column
    "none": "none (plain DARTS)",
    "early-stop": "stop at > 2 skips (DARTS+)",
    "cap-skips": "cap at 2 skips (P-DARTS)",
}
DEFAULTS = {  # a small digits search: 13-15 s for 4 epochs on a quiet 2-core CPU (166 s at load 13), 92 % validation
    "epochs": 4,
    "warm": 0,
    "cells": 2,
    "nodes": 3,
    "ch": 8,
    "order": 1,
    "pc": 1,
    "cure": "none",
    "sel": "alpha",
    "retrain": 5,  # the URL parameter; a page starts at darts.start_retrain_epochs (digits 30, else 5)
    "imgs": 1200,
    "seed": 0,
    "alr": "3e-2",
    "wlr": "0.05",
    "size": "0",
}


# ---------------------------------------------------------------- settings


def controls(ctx: sidebar.Context, where: Any) -> darts.DartsConfig:
    """The search budget and space, seeded from the URL (bad values named once and corrected)."""
    seed = state.seed
    seed("da_epochs", state.url_int("epochs", DEFAULTS["epochs"], 1, 50))
    seed("da_warm", state.url_int("warm", DEFAULTS["warm"], 0, 49))
    seed("da_cells", state.url_int("cells", DEFAULTS["cells"], 1, 8))
    seed("da_nodes", state.url_int("nodes", DEFAULTS["nodes"], 1, 4))
    seed("da_ch", int(state.url_choice("ch", str(DEFAULTS["ch"]), [str(c) for c in CHANNELS])))
    seed("da_order", int(state.url_choice("order", str(DEFAULTS["order"]), ["1", "2"])))
    seed("da_pc", int(state.url_choice("pc", str(DEFAULTS["pc"]), [str(k) for k in PARTIAL])))
    seed("da_cure", state.url_choice("cure", str(DEFAULTS["cure"]), list(CURES)))
    seed("da_sel", state.url_choice("sel", str(DEFAULTS["sel"]), list(SELECTIONS)))
    seed("da_retrain", state.url_int("retrain", darts.start_retrain_epochs(ctx.choice.dataset), 1, 30))
    seed("da_imgs", int(state.url_choice("imgs", str(DEFAULTS["imgs"]), [str(n) for n in IMAGES])))
    seed("da_seed", state.url_int("seed", DEFAULTS["seed"], 0, 10_000))
    seed("da_alr", state.url_choice("alr", str(DEFAULTS["alr"]), ARCH_LRS))
    seed("da_wlr", state.url_choice("wlr", str(DEFAULTS["wlr"]), WEIGHT_LRS))
    seed("da_size", state.url_choice("size", str(DEFAULTS["size"]), SIZE_PENALTIES))
    with where:
        c1, c2 = st.columns([3, 1])
        epochs = c1.slider(
            "Search budget (epochs)",
            1,
            50,
            key="da_epochs",
            help="Each epoch: one pass over the weight half (SGD on w) interleaved with steps on α (Adam) "
            "on the other half. Long searches drift towards skip connections.",
        )
        st.session_state["da_warm"] = min(int(st.session_state["da_warm"]), int(epochs) - 1)  # α must move
        warm = c2.number_input(
            "Warm-up",
            0,
            int(epochs) - 1,
            key="da_warm",
            help="The first epochs train the weights only; α starts moving after them (PC-DARTS: 15 of 50). "
            "Untrained convolutions lose to pools and skips at first: a warm-up keeps α from reading that "
            "as a verdict.",
        )
        c1, c2, c3 = st.columns(3)
        cells = c1.slider(
            "Cells", 1, 8, key="da_cells", help="Reduction cells (stride 2) at 1/3 and 2/3 of the depth."
        )
        nodes = c2.slider("Nodes per cell", 1, 4, key="da_nodes", help="Intermediate nodes N (DARTS: 4).")
        channels = c3.select_slider("Channels C", CHANNELS, key="da_ch", help="Doubled after each reduction.")
        c1, c2, c3 = st.columns(3)
        order = c1.radio(
            "Architecture gradient",
            [1, 2],
            key="da_order",
            horizontal=True,
            format_func=lambda o: "1st order" if o == 1 else "2nd order",
            help="2nd order unrolls one virtual weight step (w' = w - ξ∇L_train) before the α gradient: "
            "about 3x the cost of an epoch.",
        )
        pc = c2.radio(
            "Partial channels K",
            PARTIAL,
            key="da_pc",
            horizontal=True,
            help="PC-DARTS: only 1/K of the channels go through the mixed ops (the rest bypass them), "
            "with edge weights β normalising the edges. Faster on the CPU (2.2-2.5x per epoch at C=8, paired), less "
            "memory; on a GPU a small cell is launch-bound and K=4 was slower (0.7x, measured before each node's "
            "edges were batched; darts.md, at the foot of the page).",
        )
        images = c3.select_slider(
            "Search images",
            IMAGES,
            key="da_imgs",
            help="Training images of the search: half for w, half for α.",
        )
        c1, c2, c3 = st.columns([2, 1, 1])
        cure = c1.selectbox("Cure for the collapse", list(CURES), key="da_cure", format_func=CURES.get)
        arch_lr = c2.selectbox(
            "α step",
            ARCH_LRS,
            key="da_alr",
            help="Adam's learning rate for α. DARTS used 3e-4 over 50 epochs; in a short search α barely "
            "moves at that, so the page starts at 3e-2 (the benchmark uses 3e-3).",
        )
        weight_lr = c3.selectbox(
            "Weights' step",
            WEIGHT_LRS,
            key="da_wlr",
            help="SGD learning rate of the supernet's weights (cosine to 0). At 0.005 the weights learn too "
            "slowly for α and the parameter-free operations take the cell: a collapse (skips with K = 1, pooling "
            "with K = 4 on fashion-mnist).",
        )
        c1, c2, c3, c4 = st.columns([1.7, 1, 1.4, 1])  # "Retrain epochs" on one line at 1280 px
        selection = c1.selectbox(
            "Cell chosen by",
            list(SELECTIONS),
            key="da_sel",
            format_func=SELECTIONS.get,
            help="DARTS keeps each edge's op with the largest α. DARTS-PT (Wang et al. 2021) strikes each op "
            "out of the trained supernet in turn and keeps the one whose removal raises the validation loss "
            "most: α's size is a poor guide to an op's worth, and skips profit from it. Costs "
            f"{selection_passes(int(nodes))} forward passes over {min(SELECTION_IMAGES, int(images) // 2):,} "
            "α-half images after the search: with few search images, longer than the search itself.",
        )
        size_penalty = c2.selectbox(
            "Size λ",
            SIZE_PENALTIES,
            key="da_size",
            help="Resource-aware DARTS (the cost terms of SNAS and FBNet): α's loss adds λ x the cells' expected "
            "op size, Σ softmax(α)·cost over every edge, cost = an op's weights as a share of sep conv 5x5's "
            "(0 for pools and skips). Cheaper ops win where the validation loss barely tells them apart: a "
            "smaller cell. 0 = plain DARTS.",
        )
        retrain_epochs = c3.number_input("Retrain epochs", 1, 30, key="da_retrain")
        seed_value = c4.number_input("Seed", 0, 10_000, key="da_seed")
    values = {
        "epochs": epochs,
        "warm": warm,
        "cells": cells,
        "nodes": nodes,
        "ch": channels,
        "order": order,
        "pc": pc,
        "cure": cure,
        "sel": selection,
        "retrain": retrain_epochs,
        "imgs": images,
        "seed": seed_value,
        "alr": arch_lr,
        "wlr": weight_lr,
        "size": size_penalty,
    }
    state.write_url({k: str(v) for k, v in values.items()})
    return darts.DartsConfig(
        dataset=ctx.choice.dataset,
        epochs=int(epochs),
        cells=int(cells),
        nodes=int(nodes),
        channels=int(channels),
        order=int(order),
        partial_channels=int(pc),
        cure=str(cure),
        selection=str(selection),
        retrain_epochs=int(retrain_epochs),
        search_subset=int(images),
        warmup_epochs=int(warm),
        retrain_lr=darts.start_retrain_lr(ctx.choice.dataset),
        seed=int(seed_value),
        arch_lr=float(arch_lr),
        lr=float(weight_lr),
        size_penalty=float(size_penalty),
    )


def cost_note() -> None:
    """Where the search runs and what it costs, so nobody starts an hour-long search by accident."""
    st.caption(
        f"Runs on **{darts.pick_device(None).type}**. Measured on this 2-core CPU, one torch thread: the "
        "defaults (4 epochs, 1,200 digits images) took 13-15 s when the machine was quiet and reached 92 % "
        "validation accuracy (at load 13: 166 s); its cell, retrained 30 epochs in 8-16 s, reached 98.1 % test "
        "top-1 with 4,674 parameters (the shipped LeNet-5: 98.1 % with 21,386). One epoch on 1,200 fashion-mnist images "
        "took 60 s at load 14 with the default cells. An epoch costs in proportion to the search images."
    )


def target_link() -> str:
    """The recorded 15-minute fashion-mnist search's settings as a relative link to this page."""
    t = darts.TARGET
    query = {
        "dataset": t.dataset,
        "model": "lenet5",  # the reference a DARTS run is measured against
        "epochs": t.epochs,
        "warm": t.warmup_epochs,
        "cells": t.cells,
        "nodes": t.nodes,
        "ch": t.channels,
        "order": t.order,
        "pc": t.partial_channels,
        "cure": t.cure,
        "sel": t.selection,
        "retrain": t.retrain_epochs,
        "imgs": t.search_subset,
        "seed": t.seed,
        "alr": _option(ARCH_LRS, t.arch_lr),
        "wlr": _option(WEIGHT_LRS, t.lr),
        "size": _option(SIZE_PENALTIES, t.size_penalty),
    }
    return "darts?" + urlencode(query)


def _option(options: list[str], value: float) -> str:
    """The select box's option (as written in a link) for a number of the config."""
    return next(o for o in options if float(o) == value)


def target_note() -> None:
    """Where to start a search like the recorded ones (the link opens a new tab, whose widgets it seeds)."""
    t = darts.TARGET
    st.caption(
        f"[The recorded fashion-mnist target search]({target_link()}) ({t.epochs} epochs, the first "
        f"{t.warmup_epochs} weights only, {t.search_subset:,} images, K = {t.partial_channels}, P-DARTS cap; "
        f"retrained {t.retrain_epochs} epochs): 7-9 minutes of search and about half an hour of retraining on "
        "one core of this 2-core CPU; over eight seeds its cells retrained to 91.15 % on average (90.86-91.57 %, "
        "six of eight above 91 % and ahead) against three random cells' 91.01 % (darts_target.md, at the foot of "
        "the page). `python -m compression darts "
        "--preset target` runs the same from the command line."
    )


def config_key(cfg: darts.DartsConfig) -> str:
    blob = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- the search job


@dataclass
class Live:
    """A search as the page sees it: its config, and the epoch records its thread appends."""

    cfg: darts.DartsConfig
    records: list[darts.EpochRecord] = field(default_factory=list)
    final: darts.Genotype | None = None  # the search's answer once done (early stop, perturbation)
    final_epoch: int | None = None  # the epoch whose supernet gave it
    scores: dict[str, list[list[float]]] | None = None  # the removal test's, when it chose the cell


@st.cache_resource(show_spinner=False)
def _live() -> dict[str, Live]:
    return {}


_LOCK = threading.Lock()


@st.cache_resource(show_spinner=False)
def _torch_lock() -> threading.Lock:
    """One search or retraining of this page at a time: two trainings sharing a small CPU's cores finish
    no sooner than one after the other, and the first one's result would come later."""
    return threading.Lock()


def _serialised(progress: train.Progress, what: str) -> threading.Lock:
    lock = _torch_lock()
    if lock.locked():
        progress(0.0, f"waiting for the page's other job to finish before the {what}")
    return lock


SEARCH, RETRAIN, RANDOM = "darts-search-", "darts-retrain-", "darts-random-"


def live(job_id: str) -> Live | None:
    with _LOCK:
        found = _live().get(job_id)
        return None if found is None else Live(found.cfg, list(found.records))


def start_search(ctx: sidebar.Context, cfg: darts.DartsConfig) -> str:
    """Submit the search as a job (one per config); its records go to the live store as epochs end."""
    job_id = SEARCH + config_key(cfg)
    ds = ctx.ds

    def work(progress: train.Progress, stop: train.StopFlag) -> darts.SearchResult:
        with _LOCK:
            _live()[job_id] = Live(cfg)

        def on_epoch(rec: darts.EpochRecord) -> None:
            with _LOCK:
                _live().setdefault(job_id, Live(cfg)).records.append(rec)

        with _serialised(progress, "search"):
            return darts.search(cfg, ds, progress=progress, should_stop=stop, on_epoch=on_epoch)

    with _LOCK:
        store = _live()
        store.pop(job_id, None)
        store[job_id] = Live(cfg)
        for old in list(store)[:-LIVE_KEPT]:  # finished searches keep their records in the job's result
            del store[old]
    return sidebar.job_manager().submit(f"DARTS search ({cfg.epochs} epochs)", work, key=job_id)


def actions(ctx: sidebar.Context, cfg: darts.DartsConfig) -> jobs.Job | None:
    """Start (disabled while the shown search runs) and the job of this page: the one in the URL, else
    this configuration's own."""
    job = sidebar.page_job("job", SEARCH, SEARCH + config_key(cfg))
    running = job is not None and job.active
    if st.button("Start search", type="primary", disabled=running, key="da_start"):
        st.query_params["job"] = start_search(ctx, cfg)
        st.rerun()
    if job is not None:
        sidebar.job_progress(job.id)
    return job


def shown(job: jobs.Job | None, cfg: darts.DartsConfig) -> Live:
    """The search the charts draw: the job's (live or finished), else the settings before any epoch."""
    if job is not None:
        if job.state == "done" and isinstance(job.result, darts.SearchResult):
            r = job.result
            return Live(r.config, list(r.records), r.genotype, r.genotype_epoch, r.selection_scores)
        found = live(job.id)
        if found is not None:
            return found
    return Live(cfg)


# ---------------------------------------------------------------- charts


def cell_choice() -> str:
    """Which cell the alpha chart and the cell graph show (in the URL, so a shared link shows it too)."""
    state.seed("da_cell", state.url_choice("cell", "normal", list(charts.CELLS)))
    cell = str(
        st.segmented_control(
            "Cell", list(charts.CELLS), key="da_cell", format_func=lambda c: f"{charts.CELLS[c]} cell"
        )
        or "normal"  # a second click on the chosen segment clears it
    )
    state.write_url({"cell": None if cell == "normal" else cell})
    return cell


@st.cache_resource(show_spinner=False, max_entries=64)
def _figure(
    kind: str, job_id: str | None, epochs: int, cell: str, presenting: bool, _build: Any
) -> go.Figure:
    """A chart built once per (search, epochs drawn, cell, presenter mode): the live view redraws every
    REFRESH_S, and building the alpha grid holds the GIL ~0.5 s that the search's thread needs."""
    fig = _build()
    if not presenting:
        return fig
    fig = presented(fig)
    return fig.update_layout(height=min(fig.layout.height, PRESENT_MAX_HEIGHT))


def _plot(where: Any, kind: str, job: jobs.Job | None, view: Live, cell: str, build: Any) -> None:
    """Like present.plotly (enlarged in presenter mode), the figure taken from the cache above."""
    ident = f"{job.id}@{job.started}" if job is not None else config_key(view.cfg)  # a rerun: a new start
    fig = _figure(kind, ident, len(view.records), cell, present.active(), build)
    where.plotly_chart(fig, key=f"da_{kind}", width="stretch")


def _alpha_block(job_id: str | None, cfg: darts.DartsConfig, cell: str) -> None:
    job = sidebar.job_manager().get(job_id)
    view = shown(job, cfg)
    data = charts.alpha_data(view.records, darts.OPS, view.cfg.nodes, cell, epochs=view.cfg.epochs)
    _plot(st, "alphas", job, view, cell, lambda: charts.plot_alphas(data))
    st.caption(charts.alpha_caption(data))


def _panels_block(job_id: str | None, cfg: darts.DartsConfig, cell: str) -> None:
    job = sidebar.job_manager().get(job_id)
    view = shown(job, cfg)
    if not view.records:
        if job is not None and job.active:
            st.caption("The derived cell, the accuracies and the skip count appear after the first epoch.")
        return
    last = view.records[-1]
    c = st.columns(4)
    c[0].metric("Epochs done", f"{last.epoch}/{view.cfg.epochs}")
    c[1].metric("Last epoch", f"{last.seconds:.1f} s", help="Wall time of the search's last epoch.")
    c[2].metric("Validation accuracy", f"{last.val_acc:.1%}", help="The supernet on the α half.")
    chosen = view.final is not None and view.cfg.selection == "perturbation"
    if chosen and view.final is not None:
        c[3].metric(
            "Skips in the chosen cell",
            str(view.final.skip_count()),
            help="The normal cell the removal test chose. The skip chart counts the α-derived cells per epoch.",
        )
    else:
        c[3].metric("Skips in the normal cell", str(last.skips), help="Derived without a cap.")
    gene = getattr(view.final or last.genotype, cell)
    cell_d = charts.cell_data(gene, view.cfg.nodes, cell)
    _plot(st, "cell_graph", job, view, f"{cell}-{view.final_epoch}", lambda: charts.plot_cell(cell_d))
    st.caption(charts.cell_caption(cell_d, view.final_epoch or last.epoch, perturbation=chosen))
    if view.scores is not None and view.final is not None:
        removal = charts.removal_data(view.scores[cell], gene, darts.OPS, view.cfg.nodes, cell)
        _plot(st, "removal", job, view, cell, lambda: charts.plot_removal(removal))
        st.caption(charts.removal_caption(removal))
    left, right = st.columns(2)
    acc = charts.accuracy_data(view.records)
    _plot(left, "acc", job, view, "", lambda: charts.plot_accuracy(acc))
    left.caption(charts.accuracy_caption(acc))
    skips = charts.skips_data(view.records, view.cfg.cure)
    _plot(right, "skips", job, view, "", lambda: charts.plot_skips(skips))
    right.caption(charts.skips_caption(skips))


_live_alpha = st.fragment(run_every=REFRESH_S)(_alpha_block)
_live_panels = st.fragment(run_every=REFRESH_S)(_panels_block)


def alpha_chart(job: jobs.Job | None, cfg: darts.DartsConfig, cell: str) -> None:
    """The main chart: polled while the search runs, drawn once otherwise."""
    (_live_alpha if job is not None and job.active else _alpha_block)(job.id if job else None, cfg, cell)


def panels(job: jobs.Job | None, cfg: darts.DartsConfig, cell: str) -> None:
    (_live_panels if job is not None and job.active else _panels_block)(job.id if job else None, cfg, cell)


# ---------------------------------------------------------------- retrain, random cells, record


def _retrain_work(ctx: sidebar.Context, cfg: darts.DartsConfig, genotypes: list[darts.Genotype]) -> Any:
    """Retrain each genotype with the config's budget and measure it against the sidebar's baseline."""
    baseline, ds = ctx.model, ctx.ds

    def work(progress: train.Progress, stop: train.StopFlag) -> dict[str, Any]:
        out = []
        n = len(genotypes)
        for i, g in enumerate(genotypes):

            def sub(f: float, msg: str, i: int = i) -> None:
                progress((i + 0.9 * f) / n, f"cell {i + 1}/{n}: {msg}")

            with _serialised(sub, "retraining"):
                model = darts.retrain(g, cfg, ds, progress=sub, should_stop=stop)
                progress((i + 0.9) / n, f"cell {i + 1}/{n}: measuring (latency paired with the baseline)")
                out.append((g, model, metrics.measure(model, ds, baseline=baseline, min_run_time=0.2)))
        return {"device": darts.pick_device(None).type, "models": out}

    return work


def random_cells(cfg: darts.DartsConfig, n: int) -> list[darts.Genotype]:
    return [darts.random_genotype(cfg.nodes, seed=cfg.seed * 100 + i) for i in range(n)]


def _done(job_id: str) -> dict[str, Any] | None:
    job = sidebar.job_manager().get(job_id)
    if job is None:
        return None
    sidebar.job_progress(job_id)
    return job.result if job.state == "done" and isinstance(job.result, dict) else None


def _record_ctx(ctx: sidebar.Context) -> sidebar.Context:
    return dataclasses.replace(ctx, choice=state.Choice(ctx.choice.dataset, "darts"))


def _model_cards(col: Any, title: str, m: metrics.Measurement, base: metrics.Measurement) -> None:
    col.metric(
        f"{title}: test top-1", f"{m.top1:.2%}", **measured.points_delta(m.top1 - base.top1, "baseline")
    )
    ratio = m.params_total / max(1, base.params_total)
    col.metric(
        f"{title}: parameters",
        f"{m.params_total:,}",
        help=f"The sidebar's baseline has {base.params_total:,}.",
        **measured.ratio_delta(ratio, f"{ratio:.2f}x the baseline's"),
    )


def retrain_block(ctx: sidebar.Context, result: darts.SearchResult, base: metrics.Measurement) -> None:
    """Retrain the derived cell, and random cells with the same budget; both side by side; record."""
    cfg, key = result.config, config_key(result.config)
    st.subheader("Retrain the derived cell, and random cells with the same budget")
    st.caption(
        f"The derived network ({cfg.cells} cells, C = {cfg.channels}) is trained from scratch for "
        f"{cfg.retrain_epochs} epoch(s) on the training split (Adam, lr {cfg.retrain_lr:g}, cosine), then measured on the test split "
        f"against the sidebar's baseline ({ctx.choice.model}). Random cells from the same space (2 distinct "
        "inputs per node, any op but none) get exactly the same budget: the baseline DARTS must beat "
        "(Liu et al.: random 3.29 % vs DARTS 2.76 % test error on CIFAR-10). In a small space with a short "
        "search the margin is thin: on fashion-mnist, this project's 15-minute searches at eight seeds gave "
        "cells that retrained 0.14 points above random ones on average, two of eight below them (recorded at the "
        "foot of this page, darts_target.md; random search is a strong NAS baseline: Li & Talwalkar 2019, Yu et "
        "al. 2020)."
    )
    c1, c2, c3 = st.columns([1.2, 1, 1.2])
    manager = sidebar.job_manager()
    rid = RETRAIN + key
    if c1.button(
        "Retrain the derived cell", type="primary", key="da_retrain_go", disabled=bool(manager.get(rid))
    ):
        manager.submit(
            f"Retrain the DARTS cell ({cfg.retrain_epochs} epochs)",
            _retrain_work(ctx, cfg, [result.genotype]),
            key=rid,
        )
    # the comparison is against 3 random cells; on digits a 30-epoch retraining takes ~8 s, so start there
    n_random = int(
        c2.number_input("Random cells", 1, 3, 3 if cfg.dataset == "digits" else 1, key="da_nrandom")
    )
    bid = f"{RANDOM}{key}-{n_random}"
    if c3.button("Retrain random cells", key="da_random_go", disabled=bool(manager.get(bid))):
        manager.submit(
            f"Retrain {n_random} random cell(s)",
            _retrain_work(ctx, cfg, random_cells(cfg, n_random)),
            key=bid,
        )
    left, right = st.columns(2)
    with left:
        mine = _done(rid)
        if mine:
            _, _, m = mine["models"][0]
            _model_cards(st, "DARTS", m, base)
            st.caption(f"Retrained on {mine['device']}.")
    with right:
        rnd = _done(bid)
        if rnd:
            mean = sum(m.top1 for _, _, m in rnd["models"]) / len(rnd["models"])
            versus = (
                f"{100 * (mine['models'][0][2].top1 - mean):+.2f} pts: DARTS minus random" if mine else None
            )
            st.metric(
                f"Random cells (mean of {len(rnd['models'])}): test top-1",
                f"{mean:.2%}",
                versus,
                delta_color="off",
            )
            st.caption(
                f"Retrained on {rnd['device']}: "
                + "; ".join(f"{m.top1:.2%} with {m.params_total:,} parameters" for _, _, m in rnd["models"])
            )
    if mine or rnd:
        rows = [
            {"name": "DARTS", "kind": "darts", "top1": m.top1, "params": m.params_total}
            for _, _, m in (mine or {}).get("models", [])
        ]
        rows += [
            {"name": f"random {i + 1}", "kind": "random", "top1": m.top1, "params": m.params_total}
            for i, (_, _, m) in enumerate((rnd or {}).get("models", []))
        ]
        present.plotly(st, charts.plot_comparison(rows), key="da_compare", width="stretch")
    if mine:
        _, model, m = mine["models"][0]
        record.record_button(
            _record_ctx(ctx),
            model,
            [cfg],
            m,
            technique="darts",
            key=f"da_rec_{key}",
            tags=("darts", f"cure-{cfg.cure}", f"selection-{cfg.selection}"),
        )


def summary(result: darts.SearchResult) -> None:
    """What the finished search found, where it ran and how long it took."""
    g, cfg = result.genotype, result.config
    stop = ""
    if result.stopped_at:
        kept = " (the last genotype before it is kept)" if cfg.selection == "alpha" else ""
        stop = f", stopped early at epoch {result.stopped_at}{kept}"
    chosen = (
        f" The cell was chosen by perturbation (DARTS-PT) in {result.selection_seconds:.1f} s of that."
        if result.selection_scores is not None
        else ""
    )
    st.success(
        f"Search done on **{fmt.md(result.device)}** in {result.seconds:.1f} s: {len(result.records)} of "
        f"{cfg.epochs} epoch(s){stop}.{chosen} The derived normal cell holds {g.skip_count()} skip connection(s)."
    )
