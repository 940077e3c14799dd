"""Compare: the Pareto explorer over every recorded run (any technique, any session, any teammate)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from compression import fmt, pareto, runs
from compression.charts import compare as charts
from compression.charts import pipeline as pipeline_charts
from compression.runs import exchange, remeasure
from ui import present, report, sidebar, state

state.keep_only("acc", "fcol", "logx", "sel", "sym", "x", "ds", "arch", "tech", "tag")
choice = sidebar.pickers()  # the explorer needs no trained model

st.title("Compare runs: the Pareto front")
st.markdown(
    "Every result recorded in any lab (by you, in another tab, or by a teammate sharing the store) is "
    "one point: **accuracy up, cost left is better**. A run is on the *Pareto front* when no other run on "
    "the same dataset is at least as accurate **and** at least as cheap, and strictly better in one of "
    "the two. Everything else is *dominated*: some run beats it on both counts."
)
st.caption("Formally, run *a* dominates run *b* when acc(a) ≥ acc(b) and cost(a) ≤ cost(b), and a ≠ b.")

try:
    store = runs.open_store()
    version = store.version()
except runs.StoreError as exc:
    st.error(f"The run store cannot be read. {fmt.md(exc)}")
    st.stop()


# cache_resource, not cache_data: 10,000 runs are shared read-only, never pickled per rerun.
@st.cache_resource(show_spinner="Loading runs...", max_entries=4)
def load_runs(url: str, version: tuple[int, int, str]) -> pd.DataFrame:
    """All runs (no per-layer tables); the key changes whenever any run is added, edited or deleted."""
    return runs.open_store(url).frame()


Filters = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]  # ds, arch, tech, tag


@st.cache_resource(show_spinner=False, max_entries=16)
def shown_runs(url: str, version: tuple[int, int, str], filters: Filters) -> pd.DataFrame:
    df = load_runs(url, version)
    mask = pd.Series(True, index=df.index)
    for col, wanted in zip(("dataset", "arch", "technique"), filters[:3], strict=True):
        if wanted:
            mask &= df[col].isin(wanted)
    if filters[3]:
        mask &= df["tags"].map(lambda t: bool(set(filters[3]) & set(t)))
    return df[mask]


@st.cache_resource(show_spinner=False, max_entries=16)
def front_data(
    url: str, version: tuple[int, int, str], filters: Filters, cost: str, acc: str, sym: str
) -> charts.ParetoData:
    return charts._pareto_data(shown_runs(url, version, filters), cost, acc, sym)


@st.cache_resource(show_spinner=False, max_entries=16)
def build_chart(
    url: str,
    version: tuple[int, int, str],
    filters: Filters,
    cost: str,
    acc: str,
    sym: str,
    logx: bool,
    sel: tuple[int, ...],
    colour: bool,
    height: int,
):  # -> go.Figure (shared: st.plotly_chart copies it, 10k runs stay fast while other widgets change)
    data = front_data(url, version, filters, cost, acc, sym)
    fig = charts.pareto_figure(
        data,
        cost,
        accuracy=acc,
        symbol_by=sym,
        log_x=logx,
        selected=sel,
        colour_dominated=colour,
        height=height,
    )
    # A pipeline's stages (runs tagged pipeline:<id>, stage:<i>/<n>) joined by arrows across the front.
    tagged = data.points[["id", "x", "y"]].merge(shown_runs(url, version, filters)[["id", "tags"]], on="id")
    if logx:  # annotations on a log axis take log10 coordinates
        tagged["x"] = np.log10(tagged["x"].clip(lower=1e-12))
    return pipeline_charts.add_pipeline_arrows(fig, tagged, "x", "y")


def _url_list(key: str) -> list[str] | None:
    raw = st.query_params.get(key)
    return None if raw is None else [v for v in raw.split(",") if v]


def _url_ids() -> list[int]:
    out: list[int] = []
    for v in _url_list("sel") or []:
        try:
            out.append(int(v))
        except ValueError:
            st.warning(f"Ignoring '{fmt.md(v)}' in the selection link: not a run id.")
    return out


def _filter(label: str, key: str, options: list[str], default: list[str]) -> list[str]:
    """A multiselect seeded from the URL (unknown values warned about), written back to the URL."""
    wkey = f"cmp_{key}"
    if wkey not in st.session_state:
        wanted = _url_list(key)
        wanted = default if wanted is None else wanted
        unknown = [v for v in wanted if v not in options]
        if unknown:
            st.warning(
                f"No runs have {label.lower()} {fmt.quote(', '.join(unknown))}; ignoring it in the link."
            )
        st.session_state[wkey] = [v for v in wanted if v in options]
    st.session_state[wkey] = [v for v in st.session_state[wkey] if v in options]
    value = st.multiselect(label, options, key=wkey, placeholder="all")
    st.query_params[key] = ",".join(value)
    return value


def speed_panel(store: runs.RunStore, picked: pd.DataFrame) -> None:
    """How to read the speed rows; noisy timings named, with a re-measure of the chosen runs."""
    st.caption(
        "Speed-ups are paired: each run was timed interleaved with its own original baseline in one process "
        "(median of the per-round ratios, IQR in brackets), so two runs' speed-ups are comparable even when "
        "their milliseconds, taken at different moments, are not. Parameters gone (every parameter, biases "
        "too: zeroed by masked pruning, removed by structured pruning or low rank) and compression are against the "
        "original baseline, also for structurally pruned runs."
    )
    noisy = picked.loc[
        picked.get("latency_noisy", pd.Series(False, index=picked.index)).fillna(False).astype(bool)
    ]
    if noisy.empty:
        return
    ids = [int(i) for i in noisy["id"]]
    st.warning(
        f"Noisy measurement: {', '.join(f'#{i}' for i in ids)} were timed with a wide spread or on an overloaded "
        "machine. Re-measure before acting on their speed-ups."
    )
    if st.button(f"Re-measure {len(ids)} run(s), paired with their baselines", key="cmp_remeasure"):
        bar = st.progress(0.0, text="Re-measuring...")
        for k, run_id in enumerate(ids):
            try:
                remeasure.remeasure_speed(store, run_id)
            except runs.StoreError as exc:
                st.error(fmt.md(exc))
            bar.progress((k + 1) / len(ids), text=f"Re-measured #{run_id}")
        st.rerun()


def model_file_tab(picked: pd.DataFrame, chosen: list[int]) -> None:
    """Download a chosen run's model file (the file that was measured)."""
    rid = st.selectbox("Run", chosen, format_func=lambda i: f"#{i}", key="cmp_file_run")
    row = picked[picked["id"] == rid].iloc[0]
    path = Path(str(row["artifact_path"])) if row["artifact_path"] else None
    if path is None:
        st.caption("This run has no model file (imported from an export, or synthetic).")
    elif not path.is_file() or path.resolve().parent != runs.artifact_dir(store):
        st.caption(f"The model file `{path.name}` is not on this machine (recorded elsewhere?).")
    else:
        st.download_button(
            f"Download run #{rid}'s model ({path.stat().st_size:,} bytes)",
            data=path.read_bytes(),
            file_name=f"run-{rid}-{row['arch']}{path.suffix}",
            mime="application/octet-stream",
            key="cmp_dl_artifact",
            on_click="ignore",
        )
        st.caption(
            "The file is the one that was measured; `compression.model_file.load(path)` rebuilds the model "
            "from any of its formats (`.cla`: safetensors, compact or per-channel codes; `.pt`: real INT8, "
            "read with weights_only)."
        )


def edit_tab(picked: pd.DataFrame, chosen: list[int]) -> None:
    """Edit a chosen run's tags and notes."""
    rid = st.selectbox("Run", chosen, format_func=lambda i: f"#{i}", key="cmp_edit_run")
    row = picked[picked["id"] == rid].iloc[0]
    with st.form(f"cmp_edit_{rid}"):
        tags = st.text_input("Tags (comma-separated)", value=", ".join(row["tags"]))
        notes = st.text_area("Notes", value=row["notes"] or "")
        if st.form_submit_button("Save tags and notes"):
            try:
                store.update(int(rid), tags=[tags], notes=notes)
            except runs.StoreError as exc:
                st.error(f"Not saved: {fmt.md(exc)}")
            else:
                st.toast(f"Run #{rid} updated.")
                st.rerun()


def delete_tab(chosen: list[int]) -> None:
    """Delete the chosen runs after a confirmation; the store logs who deleted what."""
    who = st.text_input(
        "Your name (logged with the deletion)", value=st.session_state.get("_run_who", ""), key="cmp_del_who"
    )
    if st.button(f"Delete {len(chosen)} chosen run(s)...", key="cmp_del"):
        st.session_state["_cmp_confirm_delete"] = list(chosen)
    pending = st.session_state.get("_cmp_confirm_delete")
    if pending:
        st.warning(
            f"Delete runs {', '.join(f'#{i}' for i in pending)} and their model files? Everyone using "
            "this store loses them; this cannot be undone."
        )
        y, n = st.columns(2)
        if y.button("Yes, delete", type="primary", key="cmp_del_yes"):
            try:
                gone = store.delete(pending, who=who)
            except runs.StoreError as exc:
                st.error(f"Nothing deleted: {fmt.md(exc)}")
            else:
                st.session_state.pop("_cmp_confirm_delete", None)
                st.session_state["_cmp_sel_next"] = []
                st.toast(f"Deleted {gone} run(s).")
                st.rerun()
        if n.button("Cancel", key="cmp_del_no"):
            st.session_state.pop("_cmp_confirm_delete", None)
            st.rerun()
    log = store.deletions(limit=20)
    if log:
        with st.expander(f"Deletion log ({len(log)} latest)"):
            st.dataframe(
                [
                    {"run": f"#{d['run_id']}", "deleted": d["deleted_at"].strftime("%Y-%m-%d %H:%M UTC"),
                     "by": d["who"] or "(unnamed)", "technique": d["run"].get("technique", "")}
                    for d in log
                ],
                hide_index=True,
            )  # fmt: skip


def empty_state() -> None:
    st.info(
        "**No runs recorded yet.** A run is one compressed (or baseline) model with its recipe and its "
        "measurement. To add runs:\n\n"
        "1. open the **Model** page and press **Record as run** to put the baseline on the chart;\n"
        "2. in a lab (pruning, quantization, distillation, low rank, DARTS), compress the model and press "
        "**Record as run**; in the **Search lab**, *Record chosen trials as runs*; in the **Pipeline**, "
        "*Record every stage as a run*;\n"
        "3. or import a JSON export below, or headless: `python -m compression runs import runs.json`.\n\n"
        f"Runs are stored in `{store.display_url}` (set `COMPRESSION_STORE` to share one store with a team)."
    )


def import_panel() -> None:
    if runs.read_only():
        return
    up = st.file_uploader(
        "Import runs from a JSON export",
        type=["json"],
        max_upload_size=exchange.MAX_BYTES // (1024 * 1024),
        key="cmp_import",
        help="A file downloaded from this page or `python -m compression runs export`. It is checked field "
        "by field; a file with any problem imports nothing. Model files are not part of an export.",
    )
    if up is None:
        return
    blob = up.getvalue()
    digest = hashlib.sha256(blob).hexdigest()
    if st.session_state.get("_cmp_imported") == digest:
        st.success("This file has been imported.")
        return
    try:
        rows = runs.parse_export(blob)
    except runs.ImportRefused as exc:
        st.error(f"Nothing was imported: {fmt.md(exc)}")
        return
    st.write(f"`{up.name}` holds **{len(rows)}** valid runs.")
    if st.button(f"Import {len(rows)} runs", key="cmp_import_go", type="primary"):
        try:
            ids = store.add_many(rows)
        except runs.StoreError as exc:
            st.error(f"Nothing was imported: {fmt.md(exc)}")
            return
        st.session_state["_cmp_imported"] = digest
        st.session_state["_cmp_sel_next"] = ids[:8]
        st.rerun()


if version[0] == 0:
    empty_state()
    import_panel()
    st.stop()

# Lay out the filters and hold the chart's place on the first run (a light frame: an empty Plotly chart
# would cost the browser a whole Plotly mount). On later runs the old chart stays until the new one comes.
# The filters and axes in a column beside the chart (presenter mode: a shorter chart, for a 1280x720 screen).
controls, stage_chart = present.stage()
filter_box = controls.container(border=True)
chart_slot = stage_chart.empty()
CHART_HEIGHT = 400 if present.active() else 520  # presenter: x1.15 (present.plotly) = 460 px
if not st.session_state.get("_cmp_chart_drawn"):
    chart_slot.container(height=CHART_HEIGHT, border=False).caption("Loading runs...")
all_runs = load_runs(store.url, version)

# ---------------------------------------------------------------- filters and axes (all in the URL)

with filter_box:
    a1 = st.container()  # the axes first (the main control), two widgets a row
    a2, a3 = st.columns(2)
    a4, a5 = st.columns(2)
    c1, c2, c3, c4 = present.metric_grid(filter_box, 4)
    datasets = sorted(all_runs["dataset"].unique())
    with c1:
        default_ds = [choice.dataset] if choice.dataset in datasets else []
        f_ds = _filter("Dataset", "ds", datasets, default_ds)
    with c2:
        f_arch = _filter("Architecture", "arch", sorted(all_runs["arch"].unique()), [])
    with c3:
        f_tech = _filter("Technique", "tech", sorted(all_runs["technique"].unique()), [])
    with c4:
        f_tag = _filter("Tag", "tag", sorted({t for ts in all_runs["tags"] for t in ts}), [])
    cost_keys = list(charts.COST_AXES)
    cost = a1.selectbox(
        "Cost axis",
        cost_keys,
        index=cost_keys.index(state.url_choice("x", "size_artifact_bytes", cost_keys)),
        format_func=lambda k: charts.COST_AXES[k].label,
        key="cmp_x",
    )
    acc = a2.selectbox(
        "Accuracy",
        list(charts.ACCURACY_AXES),
        index=list(charts.ACCURACY_AXES).index(state.url_choice("acc", "top1", list(charts.ACCURACY_AXES))),
        key="cmp_acc",
    )
    sym = a3.radio(
        "Symbol by",
        ["dataset", "arch"],
        index=["dataset", "arch"].index(state.url_choice("sym", "dataset", ["dataset", "arch"])),
        format_func=lambda s: {"dataset": "dataset", "arch": "architecture"}[s],
        horizontal=True,
        key="cmp_sym",
    )
    logx = a4.toggle("Log x", value=state.url_choice("logx", "0", ["0", "1"]) == "1", key="cmp_logx")
    few = "1" if len(all_runs) <= charts.WEBGL_ABOVE else "0"
    colour = a5.toggle(
        "Colour faded",
        value=state.url_choice("fcol", few, ["0", "1"]) == "1",
        key="cmp_fcol",
        help="Colour the dominated runs by technique too. Off by default above "
        f"{charts.WEBGL_ABOVE:,} runs: grey draws about twice as fast, and the front keeps its colours.",
    )
    st.query_params.update(
        {"x": cost, "acc": acc, "sym": sym, "logx": "1" if logx else "0", "fcol": "1" if colour else "0"}
    )

filters: Filters = (tuple(f_ds), tuple(f_arch), tuple(f_tech), tuple(f_tag))
shown = shown_runs(store.url, version, filters)
if shown.empty:
    chart_slot.empty()
    st.warning("No runs match these filters. Clear a filter above to see more.")
    st.stop()

# ---------------------------------------------------------------- selection (URL <-> chart <-> multiselect)

shown_ids = [int(i) for i in shown["id"]]
if "cmp_sel" not in st.session_state:
    st.session_state["cmp_sel"] = _url_ids()
if "_cmp_sel_next" in st.session_state:  # set by import / delete before their rerun
    st.session_state["cmp_sel"] = st.session_state.pop("_cmp_sel_next")
event_ids = charts.selected_ids(st.session_state.get("pareto"))
if event_ids and event_ids != st.session_state.get("_cmp_last_event"):
    st.session_state["cmp_sel"] = event_ids  # a new box or click selection replaces the choice
st.session_state["_cmp_last_event"] = event_ids
shown_set = set(shown_ids)
known = set(int(i) for i in all_runs["id"])
missing = [i for i in st.session_state["cmp_sel"] if i not in known]
hidden = [i for i in st.session_state["cmp_sel"] if i in known and i not in shown_set]
if missing:
    st.caption(
        f"No run {', '.join(f'#{i}' for i in missing)} in this store (deleted, or a link from another store)."
    )
if hidden:
    st.caption(f"Chosen runs hidden by the filters: {', '.join(f'#{i}' for i in hidden)}.")
st.session_state["cmp_sel"] = [i for i in st.session_state["cmp_sel"] if i in shown_set]
chosen = list(st.session_state["cmp_sel"])

# ---------------------------------------------------------------- the chart


def draw_chart() -> None:
    """Fill the chart's slot. Called last: no element sent after it makes the browser lay out the
    10,000-point chart again while the rest of the page arrives."""
    st.session_state["_cmp_chart_drawn"] = True
    present.plotly(
        chart_slot,
        build_chart(
            store.url,
            version,
            filters,
            cost,
            acc,
            sym,
            logx,
            tuple(st.session_state["cmp_sel"]),
            colour,
            CHART_HEIGHT,
        ),
        key="pareto",
        on_select="rerun",
        selection_mode=("box", "points"),
        width="stretch",
    )


data = front_data(store.url, version, filters, cost, acc, sym)
on_front = int(data.points["on_front"].sum())
st.caption(
    f"{len(data.points)} run{'s' if len(data.points) != 1 else ''} shown, {on_front} on the front (solid, joined by the dotted step line); "
    "faded points are dominated"
    + (
        "; the star is the unpruned baseline"
        if data.points["baseline"].any()
        else "; no baseline run is shown"
    )
    + ". **Drag a box** over points (or click "
    "one) to compare them below; hover a point to see its recipe."
    + (
        f" {data.dropped} runs have no value on this axis (not measured) and are left out."
        if data.dropped
        else ""
    )
)
hv_cols = st.columns(min(4, max(1, len(data.fronts))))
for col, (name, (xs, ys)) in zip(hv_cols, list(data.fronts.items())[:4], strict=False):
    g = data.points[data.points["dataset"] == name]
    scale = max(float(g["x"].max()), 1e-12)
    hv = pareto.hypervolume(np.c_[ys, np.asarray(xs) / scale], [0.0, 1.1], ["max", "min"])
    col.metric(
        f"Hypervolume, {name}",
        f"{hv:.3f}",
        help="Area of the (accuracy, cost / max cost) plane the front dominates, up to accuracy 0 and "
        "cost 1.1 × max: one number that grows whenever any run improves the front.",
    )

# ---------------------------------------------------------------- chosen runs

st.subheader("Chosen runs, side by side")
# Offer the front, the baselines and the current choice (not all 10k runs: the widget must stay light).
label_of = dict(zip(shown_ids, shown["technique"], strict=True))
offer = set(data.points.loc[data.points["on_front"] | data.points["baseline"], "id"].astype(int))
offer = sorted(offer | set(st.session_state["cmp_sel"]))
st.multiselect(
    "Chosen runs",
    offer,
    key="cmp_sel",
    format_func=lambda i: f"#{i} {label_of.get(i, '')}",
    help="Box-select or click points on the chart, or pick runs of the front and baselines here.",
)
chosen = list(st.session_state["cmp_sel"])
st.query_params["sel"] = ",".join(str(i) for i in chosen)

if not chosen:
    st.info("Drag a box over points on the chart (or click a point) to compare runs side by side.")
else:
    try:
        picked = store.frame(ids=chosen, with_layers=True)
    except runs.StoreError as exc:
        st.error(fmt.md(exc))
        draw_chart()
        st.stop()
    picked = picked.set_index("id").loc[[i for i in chosen if i in set(picked["id"])]].reset_index()
    table = charts.side_by_side(picked.head(8), all_runs)
    table.loc[charts.TEXT_ROWS] = table.loc[charts.TEXT_ROWS].map(fmt.md)  # teammates' and imported text
    st.table(table)
    if len(picked) > 8:
        st.caption(f"Showing the first 8 of {len(picked)} chosen runs.")
    speed_panel(store, picked)

    st.markdown(
        "**Per layer**: how each chosen run treats each layer (from the per-layer table stored with it)."
    )
    metric = st.radio(
        "Per-layer quantity",
        list(charts.LAYER_METRICS),
        format_func=lambda m: charts.LAYER_METRICS[m],
        horizontal=True,
        key="cmp_layer_metric",
    )
    if charts._layers_data(picked).empty:
        st.caption("These runs were recorded without a per-layer table.")
    else:
        present.plotly(st, charts.plot_layers(picked.head(8), metric), key="cmp_layers")
        st.caption(
            "Bars per layer, in each run's technique colour (as on the front; a second run of one technique "
            "hatched). Non-zero weights (log scale): masked pruning zeroes them, structured pruning removes "
            "whole channels, low rank replaces a layer by two smaller ones (listed after it). Sparsity counts "
            "only zeros, so a structured or low-rank run shows none there."
        )

    if runs.read_only():
        st.caption(
            "This server is read-only (COMPRESSION_READONLY=1): runs can be viewed and downloaded here."
        )
        model_file_tab(picked, chosen)
    else:
        tab_file, tab_edit, tab_del = st.tabs(["Model file", "Tags and notes", "Delete"])
        with tab_file:
            model_file_tab(picked, chosen)
        with tab_edit:
            edit_tab(picked, chosen)
        with tab_del:
            delete_tab(chosen)

# ---------------------------------------------------------------- share

st.subheader("Share")
report.export_buttons(store, tuple(shown_ids), f"Download the {len(shown_ids)} shown runs", "runs", "cmp_dl")
report.panel(store, shown, chosen, tags=f_tag, cost=cost, acc=acc, sym=sym, logx=logx)
import_panel()
st.caption(f"Store: `{store.display_url}` · {version[0]} runs in total.")

draw_chart()
