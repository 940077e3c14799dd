"""Pruning charts: weight histograms, per-layer sparsity, dense-vs-pruned matrices, accuracy curves,
sensitivity, and theoretical-vs-measured size and latency.

Public `*_data` functions extract plain numbers from models (cacheable, testable); `plot_*`
build the figures from those numbers only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from compression import fmt
from compression.charts.style import AFTER, BEFORE, PALETTE, style
from compression.metrics import Measurement
from compression.pruning import core

MATRIX_MAX = (96, 192)  # rows, columns shown of a weight matrix (larger ones are cropped)


# ---------------------------------------------------------------- weight histogram


def _weights(model: nn.Module) -> np.ndarray:
    parts = [m.weight.detach().float().flatten().numpy() for _, m in core.prunable_layers(model)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def histogram_data(before: nn.Module, after: nn.Module, bins: int = 81) -> dict[str, Any]:
    """Counts of every prunable weight before and after, on shared bins (an odd count puts 0 mid-bin)."""
    b, a = _weights(before), _weights(after)
    lim = float(max(np.abs(b).max(initial=0.0), np.abs(a).max(initial=0.0), 1e-8))
    edges = np.linspace(-lim, lim, bins + 1)
    return {
        "centers": (edges[:-1] + edges[1:]) / 2,
        "width": float(edges[1] - edges[0]),
        "before": np.histogram(b, edges)[0],
        "after": np.histogram(a, edges)[0],
        "zeros_before": int((b == 0).sum()),
        "zeros_after": int((a == 0).sum()),
        "n_before": int(b.size),
        "n_after": int(a.size),
    }


def plot_weight_histogram(data: Mapping[str, Any], log_y: bool = True) -> go.Figure:
    fig = go.Figure()
    for key, color, name in (("before", BEFORE, "dense"), ("after", AFTER, "pruned")):
        fig.add_bar(
            x=data["centers"],
            y=data[key],
            width=data["width"],
            name=f"{name} ({data[f'zeros_{key}']:,} of {data[f'n_{key}']:,} are 0)",
            marker_color=color,
            opacity=0.6,
        )
    fig.update_layout(barmode="overlay", bargap=0)
    fig.update_xaxes(title="weight value")
    fig.update_yaxes(title="weights (log)" if log_y else "weights", type="log" if log_y else "linear")
    return style(fig, "Weights before and after: pruning empties the middle and piles up at 0")


# ---------------------------------------------------------------- per-layer sparsity


def sparsity_data(model: nn.Module) -> list[dict[str, object]]:
    return core.layer_sparsity(model)


def plot_layer_sparsity(
    rows: Sequence[Mapping[str, Any]], baseline: Sequence[Mapping[str, Any]] = ()
) -> go.Figure:
    """Sparsity per layer; with `baseline`, also the share of each layer's weights that remain."""
    layers = [str(r["layer"]) for r in rows]
    fig = go.Figure()
    fig.add_bar(
        x=layers,
        y=[float(r["sparsity"]) for r in rows],
        name="zeros (masked)",
        marker_color=AFTER,
        text=[f"{float(r['sparsity']):.0%}" for r in rows],
        textposition="outside",
        hovertext=[f"{r['shape']}: {int(r['zeros']):,} of {int(r['weights']):,} weights are 0" for r in rows],
    )
    if baseline:
        dense = {str(r["layer"]): int(r["weights"]) for r in baseline}
        removed = [
            1 - int(r["weights"]) / dense[str(r["layer"])] if str(r["layer"]) in dense else 0.0 for r in rows
        ]
        if any(v > 0 for v in removed):
            fig.add_bar(x=layers, y=removed, name="removed (structured)", marker_color=PALETTE[1])
    fig.update_yaxes(title="fraction of the layer's weights", range=[0, 1.12], tickformat=".0%")
    fig.update_layout(barmode="group")
    return style(fig, "Per-layer sparsity")


# ---------------------------------------------------------------- one layer's matrix


def _as_matrix(w: np.ndarray) -> np.ndarray:
    m = w.reshape(w.shape[0], -1) if w.ndim > 1 else w.reshape(1, -1)
    return m[: MATRIX_MAX[0], : MATRIX_MAX[1]]


def matrix_data(before: nn.Module, after: nn.Module, layer: str) -> dict[str, Any]:
    """The layer's weights as (out, in*k*k) matrices, dense and pruned, cropped to MATRIX_MAX."""
    b = dict(before.named_modules())[layer].weight.detach().float().numpy()
    after_mod = dict(after.named_modules()).get(layer)
    a = after_mod.weight.detach().float().numpy() if after_mod is not None else np.zeros_like(b)
    return {
        "layer": layer,
        "dense": _as_matrix(b),
        "pruned": _as_matrix(a),
        "shape_dense": tuple(b.shape),
        "shape_pruned": tuple(a.shape),
        "cropped": b.reshape(b.shape[0], -1).shape != _as_matrix(b).shape,
    }


def plot_weight_matrix(data: Mapping[str, Any]) -> go.Figure:
    dense, pruned = data["dense"], data["pruned"]
    lim = float(max(np.abs(dense).max(initial=0.0), 1e-8))
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=(
            f"dense {'x'.join(map(str, data['shape_dense']))}",
            f"pruned {'x'.join(map(str, data['shape_pruned']))}",
        ),
        horizontal_spacing=0.06,
    )
    for col, mat in ((1, dense), (2, pruned)):
        fig.add_trace(
            go.Heatmap(
                z=mat,
                zmin=-lim,
                zmax=lim,
                colorscale="RdBu",
                showscale=col == 2,
                hovertemplate="out %{y}, in %{x}: %{z:.4f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        # Both panels on the dense matrix's scale: a structurally pruned layer looks as small as it is.
        fig.update_xaxes(range=[-0.5, dense.shape[1] - 0.5], row=1, col=col)
        fig.update_yaxes(range=[dense.shape[0] - 0.5, -0.5], row=1, col=col)
    crop = " (top-left corner shown)" if data.get("cropped") else ""
    return style(fig, f"{data['layer']}: weights as a matrix, white = 0{crop}", height=360)


# ---------------------------------------------------------------- accuracy vs sparsity


def plot_accuracy_curves(
    rows: Sequence[Mapping[str, Any]],
    baseline: float | None = None,
    current: tuple[float, float] | None = None,
) -> go.Figure:
    """rows: method, amount, sparsity (fraction of weights gone), top1. One line per method."""
    fig = go.Figure()
    methods = list(dict.fromkeys(str(r["method"]) for r in rows))
    for i, method in enumerate(methods):
        pts = sorted((float(r["sparsity"]), float(r["top1"])) for r in rows if r["method"] == method)
        fig.add_scatter(
            x=[p[0] for p in pts],
            y=[p[1] for p in pts],
            mode="lines+markers",
            name=method,
            line={"color": PALETTE[i % len(PALETTE)]},
        )
    if baseline is not None:
        fig.add_hline(y=baseline, line_dash="dot", line_color=BEFORE, annotation_text="dense")
    if current is not None:
        fig.add_scatter(
            x=[current[0]],
            y=[current[1]],
            mode="markers",
            name="this result",
            marker={"size": 14, "symbol": "star"},
        )
    fig.update_xaxes(title="weights removed or zero", tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title="validation top-1", tickformat=".0%")
    return style(fig, "Accuracy vs sparsity, no fine-tuning")


# ---------------------------------------------------------------- sensitivity


def _sensitivity_grid(rows: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[float], np.ndarray]:
    layers = list(dict.fromkeys(str(r["layer"]) for r in rows))
    amounts = sorted({float(r["amount"]) for r in rows})
    grid = np.full((len(layers), len(amounts)), np.nan)
    for r in rows:
        grid[layers.index(str(r["layer"])), amounts.index(float(r["amount"]))] = float(r["accuracy"])
    return layers, amounts, grid


def plot_sensitivity_heatmap(rows: Sequence[Mapping[str, Any]], baseline: float) -> go.Figure:
    layers, amounts, grid = _sensitivity_grid(rows)
    drop = (baseline - grid) * 100
    fig = go.Figure(
        go.Heatmap(
            z=drop,
            x=[f"{a:.0%}" for a in amounts],
            y=layers,
            colorscale="Reds",
            zmin=0,
            colorbar={"title": "drop (pts)"},
            text=np.vectorize(lambda v: f"{v:.1%}")(grid),
            texttemplate="%{text}",
            hovertemplate="%{y} pruned %{x}: accuracy %{text} (drop %{z:.1f} pts)<extra></extra>",
        )
    )
    fig.update_xaxes(title="sparsity of this layer alone")
    fig.update_yaxes(autorange="reversed")
    return style(fig, "Sensitivity: validation accuracy with one layer pruned", height=120 + 40 * len(layers))


def plot_sensitivity_curves(rows: Sequence[Mapping[str, Any]], baseline: float) -> go.Figure:
    layers, amounts, grid = _sensitivity_grid(rows)
    fig = go.Figure()
    for i, layer in enumerate(layers):
        fig.add_scatter(
            x=amounts, y=grid[i], mode="lines+markers", name=layer, line={"color": PALETTE[i % len(PALETTE)]}
        )
    fig.add_hline(y=baseline, line_dash="dot", line_color=BEFORE, annotation_text="unpruned")
    fig.update_xaxes(title="sparsity of this layer alone", tickformat=".0%")
    fig.update_yaxes(title="validation top-1", tickformat=".0%")
    return style(fig, "Sensitivity curves: flat = robust, falling early = sensitive")


# ---------------------------------------------------------------- size and latency


def size_latency_data(base: Measurement, pruned: Measurement) -> dict[str, Any]:
    """Theoretical vs measured size and latency of the dense baseline and the pruned model."""
    return {
        "size": {
            # each model's own weights at 4 bytes (a Measurement's size_dense_bytes is the original's)
            "dense fp32": (base.params_total * 4, pruned.params_total * 4),
            # short names: three groups must fit side by side in a half-width (A/B) chart on a projector
            "theory": (base.size_theoretical_bytes, pruned.size_theoretical_bytes),
            "file": (base.size_artifact_bytes, pruned.size_artifact_bytes),  # measured: the file's bytes
        },
        # pruned / dense latency from the paired timing (1 / speed-up) with its IQR; absent when not timed
        "latency": {
            f"batch {b}": (1 / sp, 1 / hi, 1 / lo)
            for b in (1, 256)
            if (sp := getattr(pruned, f"speedup_b{b}"))
            and (lo := getattr(pruned, f"speedup_b{b}_lo"))
            and (hi := getattr(pruned, f"speedup_b{b}_hi"))
        },
        "macs": (base.macs, pruned.macs, pruned.macs_effective),
    }


def plot_size_latency(data: Mapping[str, Any]) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        # the right title says whether latency is on it (a preview times nothing)
        subplot_titles=(
            "size (KB)",
            "pruned / dense (latency: IQR whiskers)"
            if data["latency"]
            else "pruned / dense (latency not timed)",
        ),
        horizontal_spacing=0.12,
    )
    kinds = list(data["size"])
    for i, (name, colour) in enumerate((("dense", BEFORE), ("pruned", AFTER))):
        y = [data["size"][k][i] / fmt.KB for k in kinds]
        fig.add_bar(
            x=kinds, y=y, name=name, marker_color=colour, row=1, col=1,
            hovertemplate=f"{name}, %{{x}}: %{{y:.1f}} KB<extra></extra>",
        )  # fmt: skip
    base_macs, macs, macs_eff = data["macs"]
    lat_x = ["MACs (theory)", "MACs, zero-skipping (theory)"]
    lat_y = [macs / max(1, base_macs), macs_eff / max(1, base_macs)]
    err_lo, err_hi = [0.0, 0.0], [0.0, 0.0]
    for label, (rel, lo, hi) in data["latency"].items():
        lat_x.append(f"latency {label} (paired)")
        lat_y.append(rel)
        err_lo.append(rel - lo)
        err_hi.append(hi - rel)
    fig.add_bar(
        x=lat_x,
        y=lat_y,
        error_y={"type": "data", "symmetric": False, "array": err_hi, "arrayminus": err_lo, "thickness": 1.5},
        name="pruned / dense",
        marker_color=[PALETTE[2], PALETTE[2]] + [AFTER] * (len(lat_x) - 2),
        text=[f"{v:.2f}x" for v in lat_y],
        textposition="outside",
        hovertemplate="%{x}: %{y:.2f}x of dense<extra></extra>",  # not the error bars' '1 +0 / -0'
        row=1,
        col=2,
        showlegend=False,
    )
    fig.add_hline(y=1.0, line_dash="dot", line_color=BEFORE, row=1, col=2)
    fig.update_yaxes(
        range=[0, max([1.2, *(y + e for y, e in zip(lat_y, err_hi, strict=True))]) * 1.15], row=1, col=2
    )
    fig.update_layout(barmode="group")
    style(fig, "Theoretical vs measured: smaller on paper, smaller on disk, faster for real?", height=420)
    # The legend below the plot, clear of the subplot titles.
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.25, "x": 0})
    return fig
