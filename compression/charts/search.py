"""Search charts: trials in objective space with the front, hypervolume per strategy, the annealing
trace, parallel coordinates and a heatmap of the per-layer choices.

Like Optuna's plotting: a private-ish `*_data` step extracts plain numbers from the trials table
(`compression.search.study.trials_frame`), and `plot_*` builds the figure from those numbers only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compression.charts.style import BEFORE, PALETTE, style

COST_AXES = {
    "size": ("size_kb", "measured size (KB)"),
    "macs": ("macs", "effective MACs (M)"),
    "latency": ("latency_ms", "measured latency (ms, batch 1)"),
}


# ---------------------------------------------------------------- trials in objective space


def objective_space_data(
    df: pd.DataFrame, cost: str = "size", max_size_kb: float | None = None
) -> dict[str, Any]:
    """Every completed trial (x = a cost, y = validation accuracy in %), and the feasible front."""
    col, label = COST_AXES[cost]
    if df.empty:
        return {
            "x": [],
            "y": [],
            "number": [],
            "feasible": [],
            "front_x": [],
            "front_y": [],
            "front_number": [],
            "label": label,
            "cap": max_size_kb if cost == "size" else None,
        }
    front = df[df["front"]].sort_values(col)
    return {
        "x": df[col].to_numpy(float),
        "y": df["acc"].to_numpy(float) * 100,
        "number": df["number"].to_numpy(int),
        "feasible": df["feasible"].to_numpy(bool),
        "front_x": front[col].to_numpy(float),
        "front_y": front["acc"].to_numpy(float) * 100,
        "front_number": front["number"].to_numpy(int),
        "label": label,
        "cap": max_size_kb if cost == "size" else None,
    }


def plot_objective_space(data: Mapping[str, Any], selected: Sequence[int] = ()) -> go.Figure:
    """Trials coloured by trial number (late = dark), the current front as a step line, chosen ones ringed."""
    fig = go.Figure()
    feasible = np.asarray(data["feasible"], dtype=bool)
    x, y, num = (np.asarray(data[k]) for k in ("x", "y", "number"))
    if (~feasible).any():
        fig.add_scatter(
            x=x[~feasible],
            y=y[~feasible],
            mode="markers",
            name="over the size budget",
            marker={"color": BEFORE, "symbol": "x", "size": 7},
            customdata=num[~feasible],
            hovertemplate="trial %{customdata}<br>%{x:.2f}<br>%{y:.2f} %<extra></extra>",
        )
    fig.add_scatter(
        x=x[feasible],
        y=y[feasible],
        mode="markers",
        name="trials",
        marker={
            "color": num[feasible],
            "colorscale": "Viridis",
            "reversescale": True,  # late trials dark, as the caption says
            "size": 8,
            "showscale": True,
            "colorbar": {"title": "trial", "thickness": 12},
        },
        customdata=num[feasible],
        hovertemplate="trial %{customdata}<br>%{x:.2f}<br>%{y:.2f} %<extra></extra>",
    )
    if len(data["front_x"]):
        fig.add_scatter(
            x=data["front_x"],
            y=data["front_y"],
            mode="lines+markers",
            name="front",
            line={"color": PALETTE[1], "shape": "hv", "width": 2},
            marker={"color": PALETTE[1], "size": 5},
            customdata=data["front_number"],
            hovertemplate="front: trial %{customdata}<br>%{x:.2f}<br>%{y:.2f} %<extra></extra>",
        )
    chosen = set(int(n) for n in selected)
    if chosen:
        mask = np.isin(num, list(chosen))
        fig.add_scatter(
            x=x[mask],
            y=y[mask],
            mode="markers",
            name="chosen",
            customdata=num[mask],
            marker={"color": "rgba(0,0,0,0)", "size": 15, "line": {"color": PALETTE[4], "width": 2}},
            hovertemplate="chosen: trial %{customdata}<extra></extra>",
        )
    if data.get("cap"):
        fig.add_vline(x=data["cap"], line_dash="dash", line_color=PALETTE[4], annotation_text="size budget")
    fig.update_xaxes(title=data["label"])
    fig.update_yaxes(title="validation accuracy (%)")
    fig.update_layout(dragmode="select")
    return style(fig, f"{len(x)} trials in objective space, the front in red", height=420)


# ---------------------------------------------------------------- hypervolume per strategy


def hypervolume_data(curves: Mapping[str, tuple[str, Sequence[float]]]) -> list[dict[str, Any]]:
    """study -> (strategy, hypervolume after each trial) into one line per study, coloured by strategy."""
    strategies = sorted({s for s, _ in curves.values()})
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(strategies)}
    return [
        {
            "study": name,
            "strategy": strat,
            "trials": list(range(1, len(hv) + 1)),
            "hv": list(hv),
            "color": colour[strat],
        }
        for name, (strat, hv) in curves.items()
    ]


def plot_hypervolume(lines: Sequence[Mapping[str, Any]], highlight: str | None = None) -> go.Figure:
    fig = go.Figure()
    shown: set[str] = set()
    for line in lines:
        mine = line["study"] == highlight
        fig.add_scatter(
            x=line["trials"],
            y=line["hv"],
            mode="lines",
            name=line["strategy"],
            legendgroup=line["strategy"],
            showlegend=line["strategy"] not in shown,
            line={"color": line["color"], "width": 3.5 if mine else 1.5},
            hovertemplate=f"{line['study']}<br>trial %{{x}}: HV %{{y:.4f}}<extra></extra>",
        )
        shown.add(line["strategy"])
    fig.update_xaxes(title="completed trials")
    fig.update_yaxes(title="hypervolume (share of the baseline box)")
    return style(fig, "Hypervolume vs trials, every study of this problem")


# ---------------------------------------------------------------- simulated annealing trace


def sa_trace_data(steps: Sequence[Any]) -> dict[str, list[Any]]:
    return {
        "trial": [s.number for s in steps],
        "temperature": [s.temperature for s in steps],
        "score": [s.score for s in steps],
        "current": [s.current for s in steps],
        "best": [s.best for s in steps],
        "p_accept": [s.p_accept for s in steps],
        "accepted": [s.accepted for s in steps],
    }


def plot_sa_trace(data: Mapping[str, Sequence[Any]]) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.6, 0.4])
    acc = np.asarray(data["accepted"], dtype=bool)
    trial, score = np.asarray(data["trial"]), np.asarray(data["score"])
    fig.add_scatter(
        x=trial[acc],
        y=score[acc],
        mode="markers",
        name="accepted",
        marker={"color": PALETTE[2], "size": 8},
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=trial[~acc],
        y=score[~acc],
        mode="markers",
        name="rejected",
        marker={"color": PALETTE[1], "size": 8, "symbol": "circle-open"},
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=trial,
        y=data["current"],
        mode="lines",
        name="walk (current)",
        line={"color": PALETTE[0], "shape": "hv"},
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=trial,
        y=data["best"],
        mode="lines",
        name="best",
        line={"color": BEFORE, "dash": "dot"},
        row=1,
        col=1,
    )
    fig.add_scatter(
        x=trial,
        y=data["temperature"],
        mode="lines",
        name="temperature T",
        line={"color": PALETTE[4]},
        row=2,
        col=1,
    )
    fig.add_scatter(
        x=trial,
        y=data["p_accept"],
        mode="markers",
        name="P(accept)",
        marker={"color": PALETTE[3], "size": 5},
        row=2,
        col=1,
    )
    fig.update_yaxes(title="score", row=1, col=1)
    fig.update_yaxes(title="T, P(accept)", type="log", row=2, col=1)
    fig.update_xaxes(title="trial", row=2, col=1)
    return style(
        fig, "Simulated annealing: worse points are accepted with P = exp(Δ/T), less as T cools", height=460
    )


# ---------------------------------------------------------------- per-layer choices


def _short(layer: str) -> str:
    return layer.replace("features.", "f").replace("classifier.", "c")


def parallel_data(df: pd.DataFrame, layers: Sequence[str], params: Sequence[str] = ()) -> dict[str, Any]:
    """One axis per layer's prune rate and bit width (or per named parameter: the architecture
    space's depth, width, channels, kernels), then accuracy and size; one line per trial."""
    dims = [{"label": p, "values": df[p].to_numpy(float)} for p in params if p in df]
    for layer in [] if params else layers:
        for kind, label in (("prune", "prune"), ("bits", "bits")):
            col = f"{kind}:{layer}"
            if col in df:
                dims.append({"label": f"{label} {_short(layer)}", "values": df[col].to_numpy(float)})
    if not df.empty:
        dims.append({"label": "val acc %", "values": df["acc"].to_numpy(float) * 100})
        dims.append({"label": "size KB", "values": df["size_kb"].to_numpy(float)})
    return {"dims": dims, "color": df["acc"].to_numpy(float) * 100 if not df.empty else []}


def plot_parallel(data: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure(
        go.Parcoords(
            # ticks to 3 significant digits: an axis's ends read 93.519, 22.888 (raw floats) before
            dimensions=[
                {"label": d["label"], "values": d["values"], "tickformat": ".3~g"} for d in data["dims"]
            ],
            # turned, so that twelve axes' labels do not run into each other on a projector (18 px text)
            labelangle=-30,
            line={
                "color": data["color"],
                "colorscale": "Viridis",
                "showscale": True,
                "colorbar": {"title": "acc %", "thickness": 12},
            },
        )
    )
    fig = style(fig, "Per-layer choices of every trial (drag on an axis to filter)", height=420)
    # an axis's label and ticks are centred on it: the first one's ran out of a 10-px margin ("une f0");
    # the turned labels rise above the axes: room for them under the title
    return fig.update_layout(margin={"l": 45, "t": fig.layout.margin.t + 50})


def heatmap_data(df: pd.DataFrame, layers: Sequence[str], numbers: Sequence[int]) -> dict[str, Any]:
    """Rows: the chosen trials; columns: layers; cells: prune rate (%) and weight bits."""
    rows = df[df["number"].isin(list(numbers))].sort_values("size_kb") if not df.empty else df
    return {
        "layers": [_short(layer) for layer in layers],
        "trials": [f"trial {int(n)}" for n in rows["number"]] if not rows.empty else [],
        "prune": [[float(r[f"prune:{layer}"]) * 100 for layer in layers] for _, r in rows.iterrows()],
        "bits": [[int(r[f"bits:{layer}"]) for layer in layers] for _, r in rows.iterrows()],
    }


def plot_layer_heatmap(data: Mapping[str, Any]) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("pruned (%)", "weight bits"), horizontal_spacing=0.12)
    for col, key, scale, fmt in ((1, "prune", "Reds", ".0f"), (2, "bits", "Blues", "d")):
        fig.add_heatmap(
            z=data[key],
            x=data["layers"],
            y=data["trials"],
            colorscale=scale,
            showscale=False,
            texttemplate=f"%{{z:{fmt}}}",
            hovertemplate="%{y}, %{x}: %{z}<extra></extra>",
            row=1,
            col=col,
        )
    height = max(260, 120 + 28 * len(data["trials"]))
    return style(fig, "Per-layer policy of the chosen trials (front by default)", height=height)
