"""The Search lab's blocks: controls in the URL, Start/Stop/Resume as a background job, the live
study view (a fragment that polls the study's storage), and recording chosen trials as runs.

The study name lives in the URL, so a reload (or a second tab, or a colleague with the link)
reattaches to the same study; the job that runs it lives in the process-wide job manager.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
import streamlit as st

from compression import fmt, jobs, runs
from compression.charts import search as charts
from compression.search import STRATEGIES, Problem
from compression.search import problem as P
from compression.search import study as St
from compression.search.arch import ArchSpace
from compression.search.space import PolicySpace
from compression.train import Progress, StopFlag
from ui import present, sidebar, state

REFRESH_S = 1.0  # the live view polls the study this often while trials run
OBJECTIVE_SETS = {
    "acc,size": "accuracy vs size",
    "acc,macs": "accuracy vs MACs",
    "acc,size,macs": "accuracy, size, MACs",
    "acc,latency": "accuracy vs latency",
    "acc,size,latency": "accuracy, size, latency",
}
SPACE_TITLES = {"policy": "compression policy", "arch": "architecture"}
VAL_CHOICES = [250, 500, 1000, 2000]
OBJECTIVE_SETS_COST = {k: P.OBJECTIVES[k].title for k in ("size", "macs", "latency")}


def space_for(kind: str, dataset: str) -> PolicySpace | ArchSpace:
    """The page's space: the policy grid, or the architecture family with a proxy sized for the dataset."""
    return ArchSpace.for_dataset(dataset) if kind == "arch" else PolicySpace()


def objective_sets(kind: str) -> list[str]:
    """The objective sets whose costs the space offers (latency only for architectures)."""
    costs = set(P.SPACES[kind].costs)
    return [k for k in OBJECTIVE_SETS if set(k.split(",")[1:]) <= costs]


@dataclass(frozen=True)
class Settings:
    space: str
    strategy: str
    budget: int
    time_limit_s: int
    objectives: tuple[str, ...]
    max_size_kb: float | None
    seed: int
    val_images: int

    def problem(self, ctx: sidebar.Context) -> Problem:
        return Problem(
            dataset=ctx.choice.dataset,
            model=ctx.choice.model,
            space=space_for(self.space, ctx.choice.dataset),
            objectives=self.objectives,
            max_size_kb=self.max_size_kb,
            val_images=self.val_images,
        )


def _follow(info: St.Info) -> None:
    """A study newly shown (a link, the pickers): the controls take its settings, once; then they are the
    user's again (Resume continues it up to the budget slider's trials)."""
    if st.session_state.get("_s_follows") == info.name:
        return
    st.session_state["_s_follows"] = info.name
    p = info.problem
    obj = ",".join(p.objectives)
    wanted = {
        "s_kind": p.space.kind,
        "s_strategy": info.strategy,
        "s_budget": min(300, max(5, info.budget)),
        "s_obj": obj if obj in OBJECTIVE_SETS else None,  # a CLI study may name its costs in another order
        "s_cap": min(1e6, float(p.max_size_kb or 0.0)),  # the widgets' ranges: a CLI study may lie outside
        "s_seed": min(10_000, max(0, info.seed)),
        "s_val": str(p.val_images) if p.val_images in VAL_CHOICES else None,
    }
    st.session_state.update({k: v for k, v in wanted.items() if v is not None})


def controls(dataset: str, val_size: int, shown: St.Info | None = None) -> Settings:
    """Budget (trials, time), space, strategy, objectives, size budget, seed, validation subset; all in the URL.
    `val_size`: the dataset's validation images (a choice above it scores all of them, and says so).
    `shown`: the study the page shows, whose settings the controls take when it is newly opened."""
    if shown is not None:
        _follow(shown)
    seed = state.seed
    seed("s_kind", state.url_choice("space", "policy", list(SPACE_TITLES)))
    seed("s_strategy", state.url_choice("strategy", "tpe", list(STRATEGIES)))
    seed("s_budget", state.url_int("budget", 30, 5, 300))
    seed("s_time", state.url_int("tlimit", 300, 10, 3600))
    seed("s_obj", state.url_choice("obj", "acc,size", list(OBJECTIVE_SETS)))
    seed("s_cap", state.url_float("cap", 0.0, 0.0, 1e6))
    seed("s_seed", state.url_int("seed", 0, 0, 10_000))
    seed("s_val", state.url_choice("val", "1000", [str(v) for v in VAL_CHOICES]))
    c1, c2 = st.columns(2)
    budget = c1.slider(
        "Search budget (trials)", 5, 300, step=5, key="s_budget", help="Completed trials to run."
    )
    time_limit = c2.slider(
        "Time limit (s)", 10, 3600, step=10, key="s_time", help="The page's worker stops after this long."
    )
    kind = st.radio(
        "Search space",
        list(SPACE_TITLES),
        key="s_kind",
        format_func=SPACE_TITLES.get,
        help="**Compression policy**: a prune rate and bit width per layer of the trained baseline. "
        "**Architecture**: depth, channels and kernel per conv block, a width multiplier and the fully connected "
        "width of a LeNet-5 / BN-CNN-like family, each trial trained briefly from scratch (a proxy).",
        horizontal=True,
    )
    sets = objective_sets(kind)
    if st.session_state.get("s_obj") not in sets:  # e.g. latency chosen, then back to the policy space
        st.session_state["s_obj"] = sets[0]
    c1, c2, c3, c4, c5 = [*st.columns(2), *st.columns(3)]  # the stage's narrow left column: two rows
    strategy = c1.selectbox(
        "Strategy",
        list(STRATEGIES),
        key="s_strategy",
        format_func=lambda k: STRATEGIES[k].title,
        help="\n".join(f"- **{s.title}**: {s.note}" for s in STRATEGIES.values()),
    )
    obj = c2.selectbox(
        "Objectives",
        sets,
        key="s_obj",
        format_func=OBJECTIVE_SETS.get,
        help="Validation accuracy against the measured file size, effective (zero-skipping) MACs, or (architecture "
        "space) the latency at batch 1, timed paired with the baseline. The policy space offers no latency: masked "
        "and fake-quantized weights still run as dense float, so every policy times like the baseline.",
    )
    cap = c3.number_input(
        "Size budget (KB, 0 = none)",
        0.0,
        1e6,
        step=5.0,
        key="s_cap",
        help="Maximise accuracy at most this size.",
    )
    seed_value = c4.number_input("Seed", 0, 10_000, key="s_seed")
    val = c5.selectbox(
        "Validation images",
        [str(v) for v in VAL_CHOICES],
        key="s_val",
        format_func=lambda v: v if int(v) <= val_size else f"{v} (all {val_size})",
        help="Each trial is scored on this many validation images (fast); recorded trials are re-measured on the full test split.",
    )
    if kind == "arch":
        space = space_for(kind, dataset)
        st.caption(
            f"Architecture trials are a proxy: each is {space.proxy_text()} and scored on the chosen validation "
            f"images; a recorded trial is trained {space.full_epochs} epochs on the full training split, then "
            "measured in full."
        )
    values = {
        "space": kind,
        "strategy": strategy,
        "budget": str(budget),
        "tlimit": str(time_limit),
        "obj": obj,
        "cap": f"{cap:g}",
        "seed": str(seed_value),
        "val": val,
    }
    state.write_url(values)
    return Settings(
        kind,
        strategy,
        int(budget),
        int(time_limit),
        tuple(obj.split(",")),
        float(cap) or None,
        int(seed_value),
        int(val),
    )


@st.cache_resource(show_spinner=False, max_entries=8)
def _eval_context(weights_hash: str, dataset: str, _ctx: sidebar.Context) -> P.EvalContext:
    return P.EvalContext(_ctx.ds, _ctx.model, weights_hash)


def eval_context(ctx: sidebar.Context) -> P.EvalContext:
    return _eval_context(ctx.weights_hash, ctx.choice.dataset, ctx)


def job_key(name: str) -> str:
    return f"search-{name}"


def start_job(name: str, ectx: P.EvalContext, time_limit_s: int) -> None:
    """Run the study in the background (the page's worker); CLI workers may join the same study."""

    def work(progress: object, stop: object) -> int:
        return St.run(
            name, ctx=ectx, timeout_s=time_limit_s, should_stop=stop, progress=progress, worker="page"
        )  # type: ignore[arg-type]

    sidebar.job_manager().submit(f"Search {name}", work, key=job_key(name))


def storage_ready() -> bool:
    """Whether the study storage opens; if not, say why and how to set it (a mistyped COMPRESSION_STUDIES)."""
    try:
        St.storage()
    except ValueError as exc:
        st.error(
            f"The search lab {fmt.md(exc)}. Set {St.ENV} to a SQLAlchemy URL "
            "(`sqlite:////absolute/path/studies.db`, `postgresql://user@host/db`) or leave it unset for a "
            "SQLite file in the data folder."
        )
        return False
    return True


def current_study() -> St.Info | None:
    """The study in the URL, if it exists in the storage (a stale link gets a warning)."""
    name = st.query_params.get("study")
    if not name:
        return None
    try:
        return St.Info.of(St.load(name))
    except ValueError:  # no such study
        why = "No study"
    except (KeyError, TypeError):  # another program's Optuna study in the same storage
        why = "Not a search lab study:"
    st.warning(
        f"{why} '{fmt.md(name)}' in the study storage ({fmt.md(St.shown(St.default_storage()))}); start a new search."
    )
    del st.query_params["study"]
    return None


def active_job(name: str | None) -> jobs.Job | None:
    """The page's job that is running this study: its own, or a "Run every strategy" group's."""
    manager = sidebar.job_manager()
    for job in (manager.get(job_key(name)) if name else None, manager.get(st.query_params.get("group"))):
        if job is not None and job.active:
            return job
    return None


def _run_every_strategy(settings: Settings, problem: Problem, ectx: P.EvalContext) -> tuple[str, str]:
    """One study per strategy on the same problem, budget and seed, run one after another."""
    names = [St.create(problem, s, seed=settings.seed, budget=settings.budget, ctx=ectx) for s in STRATEGIES]

    def work(progress: Progress, stop: StopFlag) -> int:
        ran = 0
        for i, n in enumerate(names):
            if stop():
                break

            def sub(frac: float, msg: str, i: int = i, n: str = n) -> None:
                progress((i + frac) / len(names), f"{n}: {msg}")

            ran += St.run(
                n, ctx=ectx, timeout_s=settings.time_limit_s, should_stop=stop, progress=sub, worker="page"
            )
        return ran

    return names[0], sidebar.job_manager().submit("Compare every strategy", work)


def actions(settings: Settings, ctx: sidebar.Context, name: str | None) -> str | None:
    """Start / Run every strategy / Stop / Resume; returns the study the page shows."""
    ectx = eval_context(ctx)
    running = active_job(name) is not None
    c1, c2, c3, c4, c5 = [*st.columns(2), *st.columns(2), st.container()]
    start = c1.button("Start new search", type="primary", disabled=running, key="s_start")
    every = c2.button(
        "Run every strategy",
        disabled=running,
        key="s_every",
        help="One study per strategy with these settings, one after another: the hypervolume chart compares them.",
    )
    if start or every:
        try:
            problem = settings.problem(ctx)
        except ValueError as exc:
            st.error(fmt.md(exc))
            return name
        if every:
            name, group = _run_every_strategy(settings, problem, ectx)
            st.query_params["group"] = group
        else:
            name = St.create(problem, settings.strategy, seed=settings.seed, budget=settings.budget, ctx=ectx)
            start_job(name, ectx, settings.time_limit_s)
        st.query_params["study"] = name
        running = True
    if c3.button(
        "Stop", disabled=not running, key="s_stop", help="Every worker of this study stops after its trial."
    ):
        job = active_job(name)
        St.set_stopped(name, True)  # type: ignore[arg-type]
        if job is not None:
            sidebar.job_manager().cancel(job.id)
        running = False
    if c4.button(
        "Resume",
        disabled=running or name is None,
        key="s_resume",
        help="Continue this study up to the budget slider's trials (it may be raised).",
    ):
        St.set_stopped(name, False)  # type: ignore[arg-type]
        St.set_budget(name, settings.budget)  # type: ignore[arg-type]
        start_job(name, ectx, settings.time_limit_s)  # type: ignore[arg-type]
    if name:
        c5.caption(
            f"Study {fmt.md(name)} in {fmt.md(St.shown(St.default_storage()))}. Add processes (PostgreSQL: other "
            "machines too):"
        )
        c5.code(f"python -m compression search worker --study {shlex.quote(name)}", language="bash")
    return name


def _label(i: St.Info) -> str:
    return f"{STRATEGIES[i.strategy].title}, seed {i.seed}, budget {i.budget} ({i.name})"


def earlier_study(ctx: sidebar.Context) -> None:
    """Before a search: this baseline's earlier studies, newest first, to open one (a lecture can start
    from last week's front instead of an empty column)."""
    mine = [i for i in St.studies() if i.weights_hash == ctx.weights_hash]
    st.info("Press **Start new search**: trials appear as they finish.")
    if not mine:
        return
    labels = {i.name: _label(i) for i in mine}
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    chosen = c1.selectbox(
        "Or open this model's earlier study"
        if len(mine) == 1
        else f"Or open one of this model's {len(mine)} earlier studies",
        list(labels),
        format_func=labels.get,
        key="s_earlier",
    )
    if c2.button("Open", key="s_open_earlier"):
        st.query_params["study"] = chosen
        st.rerun()


def pick_study(name: str, shown: St.Info | None = None) -> str:
    """Switch between the studies of this problem (every strategy and seed run on it). `shown`: the study this
    rerun already loaded (current_study), used when it is the one named; its problem and weights never change."""
    info = shown if shown is not None and shown.name == name else St.Info.of(St.load(name))
    others = [i for i in St.studies(problem_key=info.problem.key()) if i.weights_hash == info.weights_hash]
    if len(others) < 2:
        return name
    labels = {i.name: _label(i) for i in others}
    shown = st.selectbox(
        "Study shown",
        list(labels),
        index=list(labels).index(name),
        format_func=labels.get,
        key=f"s_shown_{name}",
    )
    if shown != name:
        st.query_params["study"] = shown
        st.rerun()
    return name


# ---------------------------------------------------------------- the study view


@st.cache_data(show_spinner=False, max_entries=256)
def _hv_curve(name: str, n_trials: int, storage: str) -> tuple[str, list[float]]:
    study = St.load(name, storage)
    info = St.Info.of(study)
    return info.strategy, St.hv_history(St.trials_frame(study, info), info)


def hv_curves(info: St.Info, current: list[float]) -> dict[str, tuple[str, list[float]]]:
    """Hypervolume histories of every study of the same problem (the others cached by trial count)."""
    curves = {info.name: (info.strategy, current)}
    storage = St.default_storage()
    counts = {
        s.study_name: s.n_trials
        for s in optuna.get_all_study_summaries(St.storage(), include_best_trial=False)
    }
    for other in St.studies(problem_key=info.problem.key()):
        if other.name != info.name and other.weights_hash == info.weights_hash and counts.get(other.name):
            curves[other.name] = _hv_curve(other.name, counts[other.name], storage)
    return curves


def study_view(name: str, live: bool = False) -> pd.DataFrame:
    """Counts, metric cards and every chart of one study, read from its storage.

    live: a lighter view for the 1 s refresh while trials run (this study's hypervolume only, no
    parallel coordinates): on a busy machine a heavy refresh would fall behind its interval.
    """
    study = St.load(name)
    info = St.Info.of(study)
    df = St.trials_frame(study, info)
    c = St.counts(study)
    hv = St.hv_history(df, info)
    cost = info.problem.objectives[1]
    space_chart(st, df, info, cost)  # the live front first, beside the budget slider
    job = active_job(name) or sidebar.job_manager().get(job_key(name))
    status = job.state if job else ("stopped" if info.stopped else "idle")
    st.progress(
        min(1.0, c.complete / max(1, c.budget)),
        text=f"{STRATEGIES[info.strategy].title}, seed {info.seed}: {c.complete}/{c.budget} trials "
        f"({c.running} running, {c.failed} failed) · page worker: {status}",
    )
    if job and job.state == "failed":
        st.error(f"The search failed: {fmt.md(job.error)}")
    # five cards in the stage's chart column: three a row (five cut their labels short)
    cols = [*st.columns(3), *st.columns(3)]
    cols[0].metric("Trials done", f"{c.complete}/{c.budget}")
    cols[1].metric(
        "Hypervolume",
        f"{hv[-1]:.4f}" if hv else "-",
        help="Share of the box between the baseline corner "
        "(0 % accuracy, the dense size/MACs) and the ideal point (100 % at zero cost) that the front dominates.",
    )
    front = df[df["front"]] if not df.empty else df
    cols[2].metric(
        "Best val. accuracy on the front",
        f"{front['acc'].max():.2%}" if not front.empty else "-",
        help=f"Baseline: {info.ref.acc:.2%} on the same {info.ref.images or info.problem.val_images} validation images.",
    )
    cols[3].metric(
        "Smallest on the front",
        f"{front['size_kb'].min():.1f} KB" if not front.empty else "-",
        help=f"Dense fp32 baseline: {info.ref.dense_kb:.1f} KB.",
    )
    cols[4].metric(
        "Median trial",
        f"{df['seconds'].median():.2f} s" if not df.empty else "-",
        help="Apply the policy + validation accuracy + measured size + MACs.",
    )
    if df.empty:
        st.info("Waiting for the first trial...")
        return df
    curves = {name: (info.strategy, hv)} if live else hv_curves(info, hv)
    present.plotly(
        st,
        charts.plot_hypervolume(charts.hypervolume_data(curves), highlight=name),
        key="s_hv",
        width="stretch",
    )
    if info.strategy == "sa":
        present.plotly(
            st,
            charts.plot_sa_trace(charts.sa_trace_data(St.sa_trace(study, info))),
            key="s_sa",
            width="stretch",
        )
    if live:
        st.caption(
            f"Live: refreshed at {time.strftime('%H:%M:%S')}, every {REFRESH_S:g} s while trials run. "
            "Other studies' hypervolume and the parallel coordinates are drawn when the search stops."
        )
    else:
        params = (
            list(info.problem.space.distributions(info.layers)) if info.problem.space.kind == "arch" else []
        )
        present.plotly(
            st,
            charts.plot_parallel(charts.parallel_data(df, info.layers, params)),
            key="s_par",
            width="stretch",
        )
    return df


def space_chart(where: Any, df: pd.DataFrame, info: St.Info, cost: str) -> None:
    """Trials in objective space with the current front, and what it shows in a caption."""
    if df.empty:
        return
    present.plotly(
        where,
        charts.plot_objective_space(charts.objective_space_data(df, cost, info.problem.max_size_kb)),
        key="s_space",
        width="stretch",
    )
    where.caption(
        f"Each dot is a completed trial ({info.problem.space.title} space): validation accuracy on "
        f"{info.ref.images or info.problem.val_images} images against {OBJECTIVE_SETS_COST[cost]}, darker = later. The red step line is "
        "the current front: the trials no other trial beats on both axes at once."
    )


@st.fragment(run_every=REFRESH_S)
def live_view(name: str) -> None:
    """Polls the study while it runs; one full rerun when the page's worker ends."""
    study_view(name, live=True)
    job = sidebar.job_manager().get(job_key(name)) or sidebar.job_manager().get(st.query_params.get("group"))
    seen = f"_search_seen_{name}"
    if job is not None and not job.active and st.session_state.get(seen) != job.finished:
        st.session_state[seen] = job.finished
        st.rerun(scope="app")


def is_live(name: str) -> bool:
    """Poll while the page's job runs or any worker (CLI, another machine) has a trial running."""
    return active_job(name) is not None or St.counts(St.load(name)).running > 0


# ---------------------------------------------------------------- choosing trials to record


def record_block(name: str, ctx: sidebar.Context) -> None:
    """Pick trials (the front by default), see their per-layer policy, record them as runs."""
    study = St.load(name)
    info = St.Info.of(study)
    df = St.trials_frame(study, info)
    if df.empty:
        return
    front = [int(n) for n in df.loc[df["front"], "number"]]
    done = St.recorded(study)
    chosen = st.multiselect(
        "Trials to record",
        [int(n) for n in df["number"]],
        default=front,
        key=f"s_chosen_{name}",
        format_func=lambda n: f"trial {n}" + (f" (run #{done[n]})" if n in done else ""),
        help="The current front by default. Each is re-measured in full (test split, file, paired latency).",
    )
    arch = info.problem.space.kind == "arch"
    if chosen and not arch:
        present.plotly(
            st,
            charts.plot_layer_heatmap(charts.heatmap_data(df, info.layers, chosen)),
            key="s_heat",
            width="stretch",
        )
    if chosen:
        table = df[df["number"].isin(chosen)][["number", "acc", "size_kb", "macs"]].sort_values("size_kb")
        if arch:
            table.insert(
                1, "architecture", [info.problem.space.arch(p).name for p in _params(df, table, info)]
            )
        st.dataframe(
            table.rename(columns={"acc": "val accuracy", "size_kb": "size KB", "macs": "eff. MMACs"}),
            hide_index=True,
            width="stretch",
        )
    c1, c2 = st.columns([1, 3])
    if arch:
        full = int(getattr(info.problem.space, "full_epochs", 1))
        epochs = c1.number_input(
            "Training epochs",
            1,
            50,
            full,
            key="s_ft_arch",
            help="A chosen architecture is trained from scratch on the full training split this long (a background "
            "job), then measured in full and recorded.",
        )
    else:
        epochs = c1.number_input(
            "Fine-tune epochs",
            0,
            10,
            0,
            key="s_ft",
            help="0: record the trials as searched. > 0: prune, fine-tune with the masks kept (gentle SGD), then "
            "quantize, as a background job.",
        )
    if c2.button("Record chosen trials as runs", disabled=not chosen, key="s_record", type="primary"):
        ectx = eval_context(ctx)
        todo = [n for n in chosen if epochs or n not in done]
        if epochs:
            st.session_state[f"_s_ft_job_{name}"] = sidebar.job_manager().submit(
                f"Fine-tune and record {len(todo)} trial(s)", _recorder(name, todo, ectx, int(epochs))
            )
        else:
            saved = []
            with st.spinner(f"Re-measuring and recording {len(todo)} trial(s)..."):
                for n in todo:
                    try:
                        run_id, m = St.record_trial(name, n, ctx=ectx, who="search lab")
                    except runs.StoreError as exc:
                        st.error(f"Trial {n} was not recorded: {fmt.md(exc)}")
                        break
                    saved.append(f"trial {n} -> run #{run_id} (test top-1 {m.top1:.2%})")
            if saved:
                st.success("Recorded: " + "; ".join(saved) + ". They are on the Compare page's front.")
    job_id = st.session_state.get(f"_s_ft_job_{name}")
    if job_id:
        sidebar.job_progress(job_id)
        job = sidebar.job_manager().get(job_id)
        if job is not None and job.state == "done" and job.result:
            st.success("Trained and recorded: " + "; ".join(job.result))
    if done:
        st.caption("Already recorded: " + ", ".join(f"trial {n} = run #{r}" for n, r in sorted(done.items())))


def _params(df: pd.DataFrame, rows: pd.DataFrame, info: St.Info) -> list[dict[str, Any]]:
    keys = list(info.problem.space.distributions(info.layers))
    return [{k: df.loc[i, k] for k in keys} for i in rows.index]


def _recorder(name: str, numbers: list[int], ectx: P.EvalContext, epochs: int) -> Any:
    def work(progress: Progress, stop: StopFlag) -> list[str]:
        saved = []
        for i, n in enumerate(numbers):

            def sub(frac: float, msg: str, i: int = i) -> None:
                progress((i + frac) / len(numbers), f"trial {numbers[i]}: {msg}")

            run_id, m = St.record_trial(
                name, n, ctx=ectx, who="search lab", finetune_epochs=epochs, progress=sub, should_stop=stop
            )
            saved.append(f"trial {n} -> run #{run_id} (test top-1 {m.top1:.2%} after {epochs} epoch(s))")
        return saved

    return work


def importances(name: str) -> None:
    """Optuna's parameter importances (fANOVA) for accuracy and for the cost, on demand (a few seconds)."""
    with st.expander("Which layer choices matter? (Optuna's parameter importances)", expanded=False):
        study = St.load(name)
        info = St.Info.of(study)
        if St.counts(study).complete < 8:
            st.caption("Needs at least 8 completed trials.")
            return
        if not st.button("Compute importances", key="s_importance"):
            st.caption(
                "fANOVA over the completed trials: how much of each objective's variance each choice explains."
            )
            return
        c1, c2 = st.columns(2)
        for col, idx, label in (
            (c1, 0, "validation accuracy"),
            (c2, 1, OBJECTIVE_SETS_COST[info.problem.objectives[1]]),
        ):
            fig = optuna.visualization.plot_param_importances(
                study,
                evaluator=optuna.importance.FanovaImportanceEvaluator(
                    seed=0
                ),  # variance split: any direction
                target=lambda t, idx=idx: t.values[idx],
                target_name=label,
            )
            present.plotly(col, fig, key=f"s_imp_{idx}", width="stretch")
