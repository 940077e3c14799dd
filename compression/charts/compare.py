"""Compare page charts: the accuracy-versus-cost Pareto front of every run, and per-layer comparison.

Private `_x_data` functions extract plain data from a runs DataFrame (tested on their own);
public `plot_x` functions turn it into a styled Plotly figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from compression import fmt, pareto
from compression.charts.style import style, technique_colour


@dataclass(frozen=True)
class Axis:
    label: str
    short: str  # for tables and legends
    fmt: str  # plotly number format for hover
    note: str = ""  # appended to the axis title (the picker shows the label alone)


COST_AXES: dict[str, Axis] = {
    "size_artifact_bytes": Axis("Measured size: bytes of the model file on disk", "measured size (B)", ",d"),
    "size_theoretical_bytes": Axis(
        "Theoretical size: non-zero weights × effective bits", "theoretical size (B)", ",d"
    ),
    "macs": Axis("Executed MACs per image", "MACs", ",d"),
    "macs_effective": Axis("Effective MACs per image (zero-skipping hardware)", "effective MACs", ",d"),
    "rel_latency_b256": Axis(
        "Relative latency, batch 256 (paired)",
        "relative latency b256",
        ".3f",
        "latency / own baseline's, timed interleaved: 0.5 = 2x faster; bars: IQR",
    ),
    "rel_latency_b1": Axis(
        "Relative latency, batch 1 (paired)",
        "relative latency b1",
        ".3f",
        "latency / own baseline's, timed interleaved: 0.5 = 2x faster; bars: IQR",
    ),
    "latency_b1_ms": Axis(
        "Latency at batch 1 (ms, unpaired)",
        "latency b1 (ms)",
        ".3f",
        "runs timed at different moments: compare the paired axis instead",
    ),
    "latency_b256_ms": Axis(
        "Latency at batch 256 (ms, unpaired)",
        "latency b256 (ms)",
        ".2f",
        "runs timed at different moments: compare the paired axis instead",
    ),
}
# Paired axes: 1 / speed-up, so that like every other cost lower is better; the IQR of the per-round
# ratios becomes the error bar.
PAIRED_AXES = {"rel_latency_b1": "speedup_b1", "rel_latency_b256": "speedup_b256"}


def _paired_columns(df: pd.DataFrame, cost: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(relative latency, its lower and upper IQR ends) from the stored paired speed-ups."""
    key = PAIRED_AXES[cost]

    def col(name: str) -> pd.Series:
        v = pd.to_numeric(df[name], errors="coerce") if name in df else pd.Series(np.nan, index=df.index)
        return 1 / v.where(v > 0)

    return col(key), col(f"{key}_hi"), col(f"{key}_lo")


ACCURACY_AXES: dict[str, str] = {"top1": "Top-1 accuracy (test split)", "top5": "Top-5 accuracy (test split)"}
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "cross", "x", "triangle-down", "pentagon", "hexagon"]
FADED = 0.35  # opacity of dominated runs: visible (also on a projector), but the front stands out
GREY = "#64748b"
WEBGL_ABOVE = 1500  # points; beyond this the chart draws with WebGL to stay interactive


def recipe_text(recipe: Sequence[dict[str, Any]], limit: int = 160) -> str:
    """A recipe in one line: "magnitude-prune(amount=0.5) → kmeans(bits=4)"."""
    if not recipe:
        return "baseline (no compression)"
    parts = []
    for step in recipe:
        args = ", ".join(
            f"{k}={v}" for k, v in step.items() if k != "technique" and v is not None and v not in ([], {})
        )  # unset options (defaults) left out: the report holds the recipe in full
        parts.append(f"{step.get('technique', '?')}({args})")
    text = " → ".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- the Pareto chart


@dataclass(frozen=True)
class ParetoData:
    points: pd.DataFrame  # id, x, y, technique, dataset, arch, symbol_key, on_front, baseline, recipe
    fronts: dict[str, tuple[list[float], list[float]]]  # per dataset: front x, y sorted by cost
    dropped: int  # runs without a value on the chosen cost axis (e.g. latency not measured)


def _pareto_data(
    df: pd.DataFrame, cost: str, accuracy: str = "top1", symbol_by: str = "dataset"
) -> ParetoData:
    """Points and per-dataset fronts (accuracy maximised, cost minimised).

    Fronts are computed per dataset: accuracies on different test sets are not comparable.
    """
    if cost not in COST_AXES:
        raise ValueError(f"unknown cost axis {cost!r}; choose from {', '.join(COST_AXES)}")
    df = df.copy()
    df["x_lo"] = df["x_hi"] = np.nan
    if cost in PAIRED_AXES and len(df):
        df[cost], df["x_lo"], df["x_hi"] = _paired_columns(df, cost)
    cols = ["id", "technique", "dataset", "arch", "recipe", "tags", accuracy, cost, "x_lo", "x_hi"]
    sub = df[cols].copy() if len(df) else pd.DataFrame(columns=cols)
    sub[cost] = pd.to_numeric(sub[cost], errors="coerce")
    sub[accuracy] = pd.to_numeric(sub[accuracy], errors="coerce")
    valid = sub[cost].notna() & sub[accuracy].notna()
    dropped = int((~valid).sum())
    sub = sub[valid].reset_index(drop=True)
    pts = pd.DataFrame(
        {
            "id": sub["id"].astype(int),
            "x": sub[cost].astype(float),
            "x_lo": pd.to_numeric(sub["x_lo"], errors="coerce").astype(float),
            "x_hi": pd.to_numeric(sub["x_hi"], errors="coerce").astype(float),
            "y": sub[accuracy].astype(float),
            "technique": sub["technique"].astype(str),
            "dataset": sub["dataset"].astype(str),
            "arch": sub["arch"].astype(str),
            "symbol_key": sub[symbol_by].astype(str) if symbol_by in sub else "",
            "baseline": sub["technique"].eq("baseline"),
            "recipe": [fmt.plain(recipe_text(r)) for r in sub["recipe"]],  # hover text: Plotly renders HTML
            "tags": [fmt.plain(", ".join(t)) for t in sub["tags"]],
        }
    )
    pts["on_front"] = False
    fronts: dict[str, tuple[list[float], list[float]]] = {}
    for name, group in pts.groupby("dataset", sort=True):
        mask = pareto.non_dominated(group[["y", "x"]].to_numpy(), ["max", "min"])
        pts.loc[group.index[mask], "on_front"] = True
        front = group[mask].sort_values(["x", "y"])
        fronts[str(name)] = (front["x"].tolist(), front["y"].tolist())
    return ParetoData(pts, fronts, dropped)


def plot_pareto(
    df: pd.DataFrame,
    cost: str = "size_artifact_bytes",
    *,
    accuracy: str = "top1",
    symbol_by: str = "dataset",
    **options: Any,
) -> go.Figure:
    """Accuracy against a cost: colour = technique, symbol = dataset or architecture, front = step line.

    `options` are `pareto_figure`'s (log_x, selected, height, colour_dominated)."""
    data = _pareto_data(df, cost, accuracy, symbol_by)
    return pareto_figure(data, cost, accuracy=accuracy, symbol_by=symbol_by, **options)


def pareto_figure(
    data: ParetoData,
    cost: str,
    *,
    accuracy: str = "top1",
    symbol_by: str = "dataset",
    log_x: bool = False,
    selected: Sequence[int] = (),
    height: int = 520,
    colour_dominated: bool = True,
) -> go.Figure:
    """The figure of `plot_pareto` from points and fronts already computed (the page caches them).

    `colour_dominated=False` draws the dominated runs grey: at 10,000 runs that halves the browser's
    drawing time (one WebGL trace per symbol instead of one per symbol and technique)."""
    pts = data.points
    fig = go.Figure()
    symbol_of = {k: SYMBOLS[i % len(SYMBOLS)] for i, k in enumerate(sorted(pts["symbol_key"].unique()))}
    chosen = set(int(i) for i in selected)
    axis = COST_AXES[cost]
    # Per-point hover text is plain (no markup: the JSON encoder would escape every "<"): 10k points stay
    # a small payload; the recipe names the technique.
    tags = pts["tags"].where(pts["tags"] == "", " · tags: " + pts["tags"])
    hover_text = pts["arch"] + " on " + pts["dataset"] + " · " + pts["recipe"] + tags
    values = f"{accuracy} %{{y:.2%}} · {axis.short} %{{x:{axis.fmt}}}"
    techniques = sorted(t for t in pts["technique"].unique() if t != "baseline")
    color_of = {t: technique_colour(t) for t in [*techniques, "baseline"]}  # stable across filters and pages

    def add(g: pd.DataFrame, name: str, marker: dict[str, Any], webgl: bool = False, **kw: Any) -> None:
        trace = go.Scattergl if webgl or len(g) > WEBGL_ABOVE else go.Scatter  # WebGL: fast at 10k points
        if "x_lo" in g and g["x_lo"].notna().any():  # paired axis: the IQR of the per-round ratios
            kw.setdefault(
                "error_x",
                {
                    "type": "data",
                    "symmetric": False,
                    "array": (g["x_hi"] - g["x"]).fillna(0).to_numpy(),
                    "arrayminus": (g["x"] - g["x_lo"]).fillna(0).to_numpy(),
                    "thickness": 1.5,
                    "width": 3,
                },
            )
        fig.add_trace(
            trace(
                x=g["x"].to_numpy(),
                y=g["y"].to_numpy(),
                mode="markers",
                name=name,
                customdata=g["id"].to_numpy(),
                text=hover_text[g.index].to_numpy(),
                hovertemplate="<b>Run #%{customdata}</b><br>%{text}<br>" + values + "<extra></extra>",
                marker={"size": 7 if trace is go.Scattergl else 11, **marker},
                **kw,
            )
        )

    def legend_only(name: str, color: str, **marker: Any) -> None:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, legendgroup=name,
                                 marker={"color": color, "size": 11, **marker}, hoverinfo="skip"))  # fmt: skip

    # Thousands of dominated runs: faded WebGL traces with small markers and one colour each (per symbol and
    # technique, or grey). Drawing 10k points in the browser, any per-point colour cost ~0.4 s, and so did
    # each split into more WebGL traces (16 instead of 2) or markers of size 11 instead of 7 (software
    # WebGL fills every pixel); per-point colour or symbol strings also cost Plotly's validation ~0.3 s.
    runs_ = pts[~pts["baseline"]]
    dominated = runs_[~runs_["on_front"]]
    many = len(dominated) > WEBGL_ABOVE
    by = ["symbol_key", "technique"] if colour_dominated else ["symbol_key"]
    for keys, g in dominated.groupby(by, sort=True):
        key, tech = keys if colour_dominated else (keys[0], None)
        marker = {"color": color_of[tech] if tech else GREY, "opacity": FADED, "symbol": symbol_of[key]}
        add(g, "dominated runs", marker, webgl=many, legendgroup="dominated runs (faded)", showlegend=False)
    if len(dominated):  # a grey stand-in in the same legend group: one click hides them all
        legend_only("dominated runs (faded)", GREY, opacity=0.5)
    outline = {"width": 1, "color": "#111827"}
    for tech in techniques:  # the runs on the front, a trace per technique (the legend)
        g = runs_[runs_["on_front"] & (runs_["technique"] == tech)]
        if g.empty:  # none on the front: name its colour in the legend if faded runs wear it
            if colour_dominated:
                legend_only(tech, color_of[tech])
            continue
        symbols = g["symbol_key"].map(symbol_of).tolist()
        add(g, tech, {"color": color_of[tech], "symbol": symbols, "line": outline}, legendgroup=tech)
    base = pts[pts["baseline"]]
    if len(base):  # baselines: stars, faded when dominated
        add(base, "baseline",
            {"color": color_of["baseline"], "symbol": "star", "size": 18, "line": outline,
             "opacity": np.where(base["on_front"], 1.0, FADED)})  # fmt: skip
    picked = pts[pts["id"].isin(chosen)]
    if len(picked):  # the chosen runs: a thick outline over their points
        add(picked, "chosen", {"color": "rgba(0,0,0,0)", "size": 14, "line": {"width": 3, "color": "#111827"}},
            hoverinfo="skip", showlegend=False)  # fmt: skip
    for name, (xs, ys) in data.fronts.items():
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"shape": "hv", "color": "#475569", "width": 2, "dash": "dot"},
                name=f"Pareto front ({name})" if len(data.fronts) > 1 else "Pareto front",
                hoverinfo="skip",
            )
        )
    if 0 < len(base) <= 8:  # few baselines: name them on the chart
        for _, row in base.iterrows():
            fig.add_annotation(
                x=np.log10(row["x"]) if log_x and row["x"] > 0 else row["x"],
                y=row["y"],
                text=f"baseline {row['arch']}",
                showarrow=True,
                arrowhead=0,
                ax=0,
                ay=28,  # below the star: above it, the toolbar covered it on hover; under a baseline (as large,
                # less accurate) few runs lie
                font={"size": 12},
            )
    if len(symbol_of) > 1:  # a legend for the symbols: invisible dummy traces
        for key, sym in symbol_of.items():
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=f"{symbol_by}: {key}",
                    marker={"symbol": sym, "color": GREY, "size": 10},
                    hoverinfo="skip",
                )
            )
    style(fig, None, height=height)
    fig.update_layout(dragmode="select", clickmode="event+select", hovermode="closest", uirevision=cost)
    # the legend below the axis: above it, two rows of techniques ran under the toolbar and the baselines' labels
    fig.update_layout(legend={"yanchor": "top", "y": -0.2, "x": 0}, margin={"t": 30})
    fig.update_xaxes(
        title=f"{axis.label}: {axis.note}" if axis.note else axis.label, type="log" if log_x else "linear"
    )
    # ".1~%": 98% and 98.5% (".0%" printed 98% twice on a narrow range)
    fig.update_yaxes(title=ACCURACY_AXES.get(accuracy, accuracy), tickformat=".1~%")
    if len(pts):  # accuracy is a fraction: never show below 0 % or far above 100 %
        lo, hi = float(pts["y"].min()), float(pts["y"].max())
        pad = max(0.02, 0.08 * (hi - lo))
        fig.update_yaxes(range=[max(0.0, lo - pad), min(1.02, hi + pad)])
        x = float(pts["x"].min())
        if x > 0 and x == float(pts["x"].max()):  # one cost: Plotly's range was +-0.001 % of it
            fig.update_xaxes(range=[math.log10(x / 1.5), math.log10(x * 1.5)] if log_x else [0, 2 * x])
    return fig


def selected_ids(event: Any) -> list[int]:
    """Run ids, ascending and once each, from a Streamlit plotly selection event (box, lasso or clicks)."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError, AttributeError):
        return []
    ids: list[int] = []
    for p in points or []:
        custom = p.get("customdata") if isinstance(p, dict) else None
        if isinstance(custom, list | tuple):
            custom = custom[0] if custom else None
        if custom is not None:
            try:
                rid = int(custom)
            except (TypeError, ValueError):
                continue
            ids.append(rid)
    return sorted(set(ids))  # run order, whatever order the chart's traces are drawn in


# ---------------------------------------------------------------- side by side


ROWS: list[tuple[str, str]] = [
    ("technique", "Technique"),
    ("recipe_text", "Recipe"),
    ("dataset", "Dataset"),
    ("arch", "Architecture"),
    ("top1", "Top-1 accuracy"),
    ("top1_change", "Top-1 change vs own baseline"),
    ("top5", "Top-5 accuracy"),
    ("loss", "Test loss"),
    ("params_total", "Parameters"),
    ("params_nonzero", "Non-zero parameters"),
    ("sparsity", "Parameters gone (zero or removed)"),
    ("effective_bits", "Effective bits"),
    ("size_dense_bytes", "Dense fp32 size (B)"),
    ("size_theoretical_bytes", "Theoretical size (B)"),
    ("size_artifact_bytes", "Measured size (B)"),
    ("compression", "Compression vs dense (measured)"),
    ("macs", "Executed MACs"),
    ("macs_effective", "Effective MACs"),
    ("speed_b256", "Speed-up b256 vs own baseline (paired, IQR)"),
    ("speed_b1", "Speed-up b1 vs own baseline (paired, IQR)"),
    ("latency_b1_ms", "Latency b1 (ms)"),
    ("latency_b256_ms", "Latency b256 (ms)"),
    ("latency_noisy", "Noisy timing (re-measure)"),
    ("cpu", "Timed on"),
    ("threads", "Threads"),
    ("runs_dense", "Runs dense float"),
    ("who", "Who"),
    ("created_at", "Recorded"),
    ("tags", "Tags"),
    ("notes", "Notes"),
]


# Rows holding free text from whoever recorded or imported a run (the page shows them escaped).
TEXT_ROWS = [
    label for key, label in ROWS if key in ("technique", "recipe_text", "cpu", "who", "tags", "notes")
]


def number(v: Any) -> float | None:
    """A stored value as a float; None for a missing one (None, NaN, text)."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def baseline_top1(row: Any, pool: pd.DataFrame) -> float | None:
    """Top-1 of this run's own baseline: the baseline run of the same dataset and weights (a distilled
    student's or a searched network's baseline is another architecture: its teacher, the zoo model)."""
    if row["technique"] == "baseline":
        return number(row["top1"])
    if pool.empty:
        return None
    m = pool[
        (pool["technique"] == "baseline")
        & (pool["dataset"] == row["dataset"])
        & (pool["baseline_hash"] == row["baseline_hash"])
    ]
    return number(m.iloc[0]["top1"]) if len(m) else None


def side_by_side(df: pd.DataFrame, pool: pd.DataFrame | None = None) -> pd.DataFrame:
    """Chosen runs as columns ("#12 magnitude-prune"), measurements as rows, formatted as text.

    pool: the runs to find each run's own baseline in (its top-1 change); None: not shown."""
    out: dict[str, list[str]] = {}
    for _, r in df.iterrows():
        base = None if pool is None else baseline_top1(r, pool)
        derived = {
            "top1_change": None if base is None else (float(r["top1"]) - base) * 100,
            "recipe_text": recipe_text(r["recipe"], limit=80),
            "sparsity": sparsity(r),
            "compression": r["size_dense_bytes"] / max(1, r["size_artifact_bytes"]),
            **{f"speed_b{b}": _speed(r, b) for b in (1, 256)},
            **_timing(r),
        }
        col = []
        for key, _label in ROWS:
            v = derived[key] if key in derived else r.get(key)
            col.append(_fmt(key, v))
        out[f"#{int(r['id'])} {r['technique']}"] = col
    return pd.DataFrame(out, index=[label for _, label in ROWS])


def sparsity(r: Any) -> float:
    """Share of the original baseline's weights that are zero or removed (older runs: their own count)."""
    reference = r.get("baseline_params") or r["params_total"]
    return 1 - r["params_nonzero"] / max(1, reference)


def was_timed(r: Any) -> bool:
    """Whether a run's latency was measured (a run can be recorded without timing)."""
    return any(number(r.get(f"latency_b{b}_ms")) is not None for b in (1, 256))


def _timing(r: Any) -> dict[str, str | None]:
    """Whether the timing is noisy, where and on how many threads it ran: '—' for a run recorded without
    timing (its stored thread count is the configured one, not a measurement's)."""
    if not was_timed(r):
        return {"latency_noisy": None, "cpu": "not timed", "threads": None}
    return {
        "latency_noisy": "yes" if bool(r.get("latency_noisy")) else "no",
        "cpu": r.get("cpu") or None,
        "threads": r.get("threads"),
    }


def _speed(r: Any, batch: int) -> str | None:
    key = f"speedup_b{batch}"
    v, lo, hi = (r.get(k) for k in (key, f"{key}_lo", f"{key}_hi"))
    if v is None or pd.isna(v):
        return None
    return fmt.speedup(float(v), None if pd.isna(lo) else float(lo), None if pd.isna(hi) else float(hi))


def _fmt(key: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return "—"
    if key in ("top1", "top5", "sparsity"):
        return f"{float(v):.2%}"
    if key == "top1_change":
        return f"{float(v):+.2f} pts"
    if key == "compression":
        return f"{float(v):.1f}×"
    if key in ("loss", "effective_bits"):
        return f"{float(v):.3g}"
    if key.startswith("latency_b"):
        return f"{float(v):.3f}"
    if key == "tags":
        return ", ".join(v)
    if key == "created_at":
        return pd.Timestamp(v).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    return str(v)


# ---------------------------------------------------------------- per layer

LAYER_METRICS: dict[str, str] = {
    "nonzero": "Non-zero weights",  # the one quantity masked, structured pruning and low rank all change
    "sparsity": "Sparsity (fraction of zero weights)",
    "bits": "Effective bits per weight",
    "params": "Parameters",
}
LAYER_COLUMNS = ["order", "nonzero", "sparsity", "bits", "params"]
PATTERNS = ["", "/", "x", ".", "+", "\\", "-", "|"]  # the 2nd, 3rd... run of one technique


def _layers_data(df: pd.DataFrame) -> pd.DataFrame:
    """Long table (run, technique, layer, order, nonzero, sparsity, bits, params) from runs that stored
    per-layer rows."""
    rows: list[dict[str, Any]] = []
    for _, r in df.iterrows():
        layers = r.get("layers")
        if not isinstance(layers, list):
            continue
        label = f"#{int(r['id'])} {r['technique']}"
        for order, layer in enumerate(layers):
            params = int(layer.get("params", 0))
            sparsity = float(layer.get("sparsity", 0.0))
            rows.append(
                {
                    "run": label,
                    "technique": r["technique"],
                    "layer": fmt.plain(layer.get("layer", "?")),  # axis labels: Plotly renders HTML
                    "order": order,
                    "nonzero": int(layer.get("nonzero", round(params * (1 - sparsity)))),
                    "sparsity": sparsity,
                    "bits": float(layer.get("bits", 0.0)),
                    "params": params,
                }
            )
    return pd.DataFrame(rows, columns=["run", "technique", "layer", *LAYER_COLUMNS])


def layer_order(data: pd.DataFrame) -> list[str]:
    """Every run's layers in network order, merged: a layer only some runs have goes after the one
    before it in its run, or after its parent (low rank's 'fc.0' and 'fc.1' after 'fc')."""
    order: list[str] = []
    for _, g in data.groupby("run", sort=False):
        prev: str | None = None
        for name in g.sort_values("order")["layer"]:
            if name not in order:
                parent = name.rsplit(".", 1)[0]
                anchor = parent if parent in order else prev
                at = len(order) if anchor is None else order.index(anchor) + 1
                while anchor is not None and at < len(order) and order[at].startswith(f"{anchor}."):
                    at += 1  # after the anchor's own sub-layers
                order.insert(at, name)
            prev = name
    return order


def plot_layers(df: pd.DataFrame, metric: str = "nonzero", height: int = 380) -> go.Figure:
    """Grouped bars: one group per layer, one bar per chosen run in its technique's colour (as on the
    front); a second run of one technique hatched."""
    data = _layers_data(df)
    fig = go.Figure()
    seen: dict[str, int] = {}
    for run, g in data.groupby("run", sort=False):
        technique = str(g["technique"].iloc[0])
        nth = seen[technique] = seen.get(technique, -1) + 1
        fig.add_trace(
            go.Bar(
                x=g["layer"],
                y=g[metric],
                name=str(run),
                marker={
                    "color": technique_colour(technique),
                    "pattern": {"shape": PATTERNS[nth % len(PATTERNS)]},
                },
                hovertemplate=f"{run}<br>%{{x}}: %{{y}}<extra></extra>",
            )
        )
    style(fig, None, height=height)
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="Layer", categoryorder="array", categoryarray=layer_order(data))
    fig.update_yaxes(
        title=LAYER_METRICS.get(metric, metric), tickformat=".0%" if metric == "sparsity" else None
    )
    if metric in ("params", "nonzero"):  # ticks at powers of ten: 1k, 10k (the 2s and 5s read as bare digits)
        fig.update_yaxes(type="log", dtick=1, tickformat="~s")
    return fig
