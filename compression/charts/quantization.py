"""Quantization charts: the grid on a layer's weights, codes, error, schemes side by side, sweeps.

Each public `plot_x` is a thin figure over a private `_x_data` extraction, so tests can check
the numbers and the figure separately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from compression import fmt
from compression.charts.style import AFTER, BEFORE, PALETTE, style
from compression.metrics import Measurement
from compression.quantization.core import QTensor

# More lines than this turn into a smear (and cost Plotly validation time): every k-th level.
MAX_LEVEL_LINES = 32
CODES_MAX = (96, 192)  # rows, columns of the codes image (larger weight matrices are cropped)


# ---------------------------------------------------------------- the grid


def _channel(q: QTensor, channel: int | None) -> int | None:
    """The channel the grid is drawn for: per-channel scales make one grid per output channel."""
    if q.kind != "affine" or q.scale is None or q.scale.numel() == 1:
        return None
    return max(0, min(int(channel or 0), q.scale.shape[0] - 1))


def _grid_data(w: torch.Tensor, q: QTensor, channel: int | None = None) -> dict[str, object]:
    """Weights (one channel for per-channel grids), the levels they snap to and the clipping range."""
    ch = _channel(q, channel)
    values = (w[ch] if ch is not None else w).detach().float().flatten().numpy()
    if q.kind == "affine":
        assert q.scale is not None and q.zero is not None
        s = float(q.scale.flatten()[ch or 0])
        z = float(q.zero.flatten()[ch or 0])
        n = min(q.qmax, 1 << 16)
        levels = (np.arange(n + 1, dtype=np.float64) - z) * s
        lo, hi = float(levels[0]), float(levels[-1])
    else:
        assert q.codebook is not None
        levels = q.codebook.double().numpy()
        lo, hi = float(levels.min()), float(levels.max())
    step = max(1, -(-len(levels) // MAX_LEVEL_LINES))  # ceil: at most MAX_LEVEL_LINES lines
    return {
        "values": values,
        "levels": levels,
        "shown_levels": levels[::step],
        "clip": (lo, hi),
        "channel": ch,
        "clipped_share": float(((values < lo) | (values > hi)).mean()) if values.size else 0.0,
    }


def plot_grid(
    w: torch.Tensor,
    q: QTensor,
    title: str | None = None,
    channel: int | None = None,
    layer: str | None = None,
) -> go.Figure:
    d = _grid_data(w, q, channel)
    n_levels = len(d["levels"])  # type: ignore[arg-type]
    shown = len(d["shown_levels"])  # type: ignore[arg-type]
    drawn = "" if shown == n_levels else f"; {shown} of them drawn"
    # the layer is picked further down the page: the title names it
    whose = f"{fmt.plain(layer)}: weights" if layer else "Weights"
    width = f"{q.bits} bit" + ("" if q.bits == 1 else "s")
    title = title or f"{whose} and the quantization grid: {n_levels:,} levels ({width}{drawn})"
    fig = go.Figure(go.Histogram(x=d["values"], nbinsx=120, marker_color=BEFORE, name="float weights"))
    lo, hi = d["clip"]  # type: ignore[misc]
    # One layout update with every shape: add_vline per level costs ~0.15 s each (10 s at 8 bits).
    band = {"type": "rect", "xref": "x", "yref": "paper", "x0": lo, "x1": hi, "y0": 0, "y1": 1}
    shapes = [{**band, "fillcolor": AFTER, "opacity": 0.08, "line": {"width": 0}, "layer": "below"}]
    shapes += [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": float(x),
            "x1": float(x),
            "y0": 0,
            "y1": 1,
            "line": {"color": PALETTE[1], "width": 1},
            "opacity": 0.7,
        }
        for x in d["shown_levels"]  # type: ignore[union-attr]
    ]
    fig.update_layout(
        shapes=shapes,
        annotations=[
            {"x": hi, "y": 1, "xref": "x", "yref": "paper", "text": "clipping range", "showarrow": False}
        ],
    )
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": PALETTE[1]}, name="levels"))
    sub = f" (channel {d['channel']})" if d["channel"] is not None else ""
    fig.update_layout(xaxis_title=f"weight value{sub}", yaxis_title="count", bargap=0)
    return style(fig, title)


# ---------------------------------------------------------------- codes


def _codes_data(q: QTensor) -> np.ndarray:
    codes = q.codes.reshape(q.codes.shape[0], -1) if q.codes.dim() > 1 else q.codes.reshape(1, -1)
    return codes[: CODES_MAX[0], : CODES_MAX[1]].numpy()


# Codes are ordered: a sequential scale, perceptually even and readable with colour-blindness (Turbo, the
# rainbow used before, is neither, and its reds and greens merge for deuteranopes)
CODE_SCALE = "Viridis"
DISCRETE_CODES = 16  # up to 4 bits one band per code; 255 bands drew 700 SVG nodes nobody can tell apart


def _discrete_scale(n: int) -> list[list[object]]:
    """A step colour scale with exactly n colours (one per code)."""
    import plotly.colors as pc

    colours = pc.sample_colorscale(CODE_SCALE, [i / max(1, n - 1) for i in range(n)])
    scale: list[list[object]] = []
    for i, c in enumerate(colours):
        scale += [[i / n, c], [(i + 1) / n, c]]
    return scale


def plot_codes(q: QTensor, title: str = "Codes of the weight matrix") -> go.Figure:
    codes = _codes_data(q)
    n = q.qmax + 1 if q.kind == "affine" else int(q.codebook.numel())  # type: ignore[union-attr]
    discrete = n <= DISCRETE_CODES
    fig = go.Figure(
        go.Heatmap(
            z=codes,
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=_discrete_scale(n) if discrete else CODE_SCALE,
            colorbar={"title": "code"},
        )
    )
    fig.update_layout(
        xaxis_title="input (x kernel)", yaxis_title="output channel", yaxis_autorange="reversed"
    )
    return style(fig, f"{title}: {n} colours" if discrete else f"{title}: {n} codes, one colour scale")


# ---------------------------------------------------------------- error


def _error_data(w: torch.Tensor, q: QTensor) -> dict[str, object]:
    err = (q.values - w.detach().float()).flatten().numpy()
    half_step = None
    if q.kind == "affine" and q.scale is not None:
        half_step = float(q.scale.max()) / 2
    return {
        "error": err,
        "half_step": half_step,
        "mse": float((err**2).mean()),
        "max": float(np.abs(err).max()),
    }


def plot_error(
    w: torch.Tensor, q: QTensor, title: str = "Quantization error (quantized - float)"
) -> go.Figure:
    d = _error_data(w, q)
    fig = go.Figure(go.Histogram(x=d["error"], nbinsx=100, marker_color=PALETTE[3], name="error"))
    if d["half_step"]:  # shapes in one layout update: add_vline costs ~40 ms each
        half = float(d["half_step"])  # type: ignore[arg-type]
        line = {"type": "line", "xref": "x", "yref": "paper", "y0": 0, "y1": 1}
        fig.update_layout(
            shapes=[
                {**line, "x0": x, "x1": x, "line": {"dash": "dash", "color": PALETTE[1]}}
                for x in (-half, half)
            ],
            annotations=[
                {"x": half, "y": 1, "xref": "x", "yref": "paper", "text": "± step/2", "showarrow": False}
            ],
        )
    fig.update_layout(xaxis_title=f"error (MSE {d['mse']:.2e}, max {d['max']:.2e})", yaxis_title="count")
    return style(fig, title)


# ---------------------------------------------------------------- schemes side by side


def _side_data(w: torch.Tensor, by_scheme: Mapping[str, QTensor]) -> list[dict[str, object]]:
    out = []
    for name, q in by_scheme.items():
        vals = q.values.flatten().numpy()
        err = vals - w.detach().float().flatten().numpy()
        levels, counts = np.unique(vals, return_counts=True)
        out.append({"scheme": name, "levels": levels, "counts": counts, "mse": float((err**2).mean())})
    return out


def plot_side_by_side(
    w: torch.Tensor, by_scheme: Mapping[str, QTensor], title: str = "One layer, every scheme"
) -> go.Figure:
    """Each scheme's levels on one shared weight axis (a row per scheme, marker area = weights per level).

    One axis instead of a subplot per scheme, so the levels line up for comparison. Pass per-tensor
    quantizations: five subplots of per-channel levels (thousands of bars) cost the browser ~0.55 s on
    every slider move; this figure ~0.2 s.
    """
    rows = _side_data(w, by_scheme)
    values = w.detach().float().flatten().numpy()
    counts, edges = np.histogram(values, bins=80)
    centres = (edges[:-1] + edges[1:]) / 2
    top = len(rows)  # the float distribution is the top row, drawn as a ridge
    ridge = top - 0.4 + 0.8 * counts / max(1, counts.max())
    fig = go.Figure(
        go.Scatter(
            x=[centres[0], *centres, centres[-1]],
            y=[top - 0.4, *ridge, top - 0.4],
            fill="toself",
            mode="lines",
            line={"color": BEFORE, "width": 1},
            hoverinfo="skip",
            name="float weights",
        )
    )
    n = max(1, values.size)
    for i, r in enumerate(rows):
        c = np.asarray(r["counts"], dtype=np.float64)
        biggest = 22 if len(c) <= 32 else 9  # dense grids: small dots, or they merge into a band
        fig.add_trace(
            go.Scatter(
                x=r["levels"],
                y=np.full(len(c), i),
                mode="markers",
                marker={
                    "size": 4 + biggest * np.sqrt(c / max(1.0, c.max())),
                    "color": PALETTE[i % len(PALETTE)],
                    "line": {"width": 0},
                },
                customdata=np.stack([c, 100 * c / n], axis=-1),
                hovertemplate="%{x:.4g}: %{customdata[0]:,.0f} weights (%{customdata[1]:.1f}%)",
                name=str(r["scheme"]),
            )
        )
    fig.update_layout(
        showlegend=False,
        xaxis_title="weight value (marker area: weights per level)",
        yaxis={
            "tickvals": list(range(top + 1)),
            "ticktext": [f"{r['scheme']} · MSE {r['mse']:.1e}" for r in rows] + ["float"],
            "range": [-0.7, top + 0.6],
            "showgrid": False,
        },
    )
    return style(fig, title, height=90 + 48 * (top + 1))


# ---------------------------------------------------------------- sweeps


def _curves_data(rows: Sequence[Mapping[str, object]]) -> dict[str, list[tuple[int, float]]]:
    out: dict[str, list[tuple[int, float]]] = {}
    for r in rows:
        out.setdefault(str(r["scheme"]), []).append((int(r["bits"]), float(r["top1"])))  # type: ignore[arg-type]
    return {k: sorted(v) for k, v in out.items()}


def plot_bit_curves(
    rows: Sequence[Mapping[str, object]], title: str = "Accuracy versus bit width"
) -> go.Figure:
    curves = _curves_data(rows)
    fig = go.Figure()
    base = curves.pop("fp32", None)
    for i, (scheme, pts) in enumerate(curves.items()):
        fig.add_trace(
            go.Scatter(
                x=[b for b, _ in pts],
                y=[100 * a for _, a in pts],
                mode="lines+markers",
                name=scheme,
                line={"color": PALETTE[i % len(PALETTE)]},
            )
        )
    if base:
        fig.add_hline(y=100 * base[0][1], line_dash="dot", line_color=BEFORE, annotation_text="float32")
    fig.update_layout(xaxis_title="bits per weight", yaxis_title="validation top-1 (%)", xaxis_dtick=1)
    return style(fig, title)


def _sensitivity_data(rows: Sequence[Mapping[str, object]]) -> tuple[list[str], list[int], np.ndarray]:
    layers = list(dict.fromkeys(str(r["layer"]) for r in rows))
    bits = sorted({int(r["bits"]) for r in rows})  # type: ignore[call-overload]
    z = np.full((len(layers), len(bits)), np.nan)
    for r in rows:
        z[layers.index(str(r["layer"])), bits.index(int(r["bits"]))] = 100 * float(r["drop"])  # type: ignore[call-overload, arg-type]
    return layers, bits, z


def plot_sensitivity(rows: Sequence[Mapping[str, object]], title: str = "Per-layer sensitivity") -> go.Figure:
    layers, bits, z = _sensitivity_data(rows)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=[str(b) for b in bits],
            y=layers,
            colorscale="Reds",
            colorbar={"title": "drop (pts)"},
            text=np.round(z, 1),
            texttemplate="%{text}",
        )
    )
    fig.update_layout(
        xaxis_title="bits for this layer only (others float)", yaxis_title="layer", yaxis_autorange="reversed"
    )
    return style(fig, title)


# ---------------------------------------------------------------- size and latency


def _size_latency_data(base: Measurement, q: Measurement) -> dict[str, list[tuple[str, float | None]]]:
    kb = 1 / fmt.KB
    return {
        "size": [
            ("dense fp32", base.size_dense_bytes * kb),
            ("theory", q.size_theoretical_bytes * kb),
            ("file", q.size_artifact_bytes * kb),  # measured: the file's bytes
        ],
        "latency": [  # the float32 times paired with this model's (timed interleaved), when measured
            ("float32 b1", q.baseline_latency_b1_ms or base.latency_b1_ms),
            ("quantized b1", q.latency_b1_ms),
            ("float32 b256", q.baseline_latency_b256_ms or base.latency_b256_ms),
            ("quantized b256", q.latency_b256_ms),
        ],
    }


def plot_size_latency(base: Measurement, q: Measurement, title: str | None = None) -> go.Figure:
    d = _size_latency_data(base, q)
    right = "latency (ms, paired medians)" if q.timed else "latency (ms; this model not timed)"
    fig = make_subplots(rows=1, cols=2, subplot_titles=["size (KB)", right])
    colours = [BEFORE, PALETTE[2], AFTER]
    fig.add_trace(
        go.Bar(
            x=[k for k, _ in d["size"]],
            y=[v for _, v in d["size"]],
            marker_color=colours,
            text=[f"{v:.1f}" for _, v in d["size"]],
            showlegend=False,
        ),
        1,
        1,
    )
    lat = [(k, v) for k, v in d["latency"] if v is not None]
    if lat:
        fig.add_trace(
            go.Bar(
                x=[k for k, _ in lat],
                y=[v for _, v in lat],
                marker_color=[BEFORE if k.startswith("float") else AFTER for k, _ in lat],
                text=[f"{v:.2f}" for _, v in lat],
                showlegend=False,
            ),
            1,
            2,
        )
    return style(fig, title)


# ---------------------------------------------------------------- mixed precision


@dataclass(frozen=True)
class LayerBitsData:
    layers: list[str]
    bits: list[int]
    params: list[int]  # n_l: weights of each layer
    share: list[float]  # n_l / sum(n_l)
    mean: float  # sum(n_l b_l) / sum(n_l)


def _layer_bits_data(layer_bits: Mapping[str, int], params: Mapping[str, int]) -> LayerBitsData:
    """Per layer: bits, weights and share of all weights; and the mean sum(n_l b_l) / sum(n_l)."""
    names = list(layer_bits)
    bits = [int(layer_bits[k]) for k in names]
    n = [int(params[k]) for k in names]
    total = max(1, sum(n))
    mean = sum(b * m for b, m in zip(bits, n, strict=True)) / total
    return LayerBitsData(names, bits, n, [m / total for m in n], mean)


def plot_layer_bits(
    layer_bits: Mapping[str, int], params: Mapping[str, int], budget: float | None = None
) -> go.Figure:
    """Bits chosen per layer, with the budget and the achieved parameter-weighted mean width."""
    d = _layer_bits_data(layer_bits, params)
    fig = go.Figure(
        go.Bar(
            x=d.layers,
            y=d.bits,
            marker_color=AFTER,
            text=[str(b) for b in d.bits],
            textposition="outside",
            customdata=[[m, 100 * s] for m, s in zip(d.params, d.share, strict=True)],
            hovertemplate="%{x}: %{y} bits<br>%{customdata[0]:,} weights (%{customdata[1]:.1f}% of all)"
            "<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_hline(y=d.mean, line_dash="dot", line_color=PALETTE[2], annotation_text=f"mean {d.mean:.2f}")
    if budget is not None:
        fig.add_hline(
            y=budget,
            line_dash="dash",
            line_color=PALETTE[1],
            annotation_text=f"budget {budget:g}",
            annotation_position="bottom right",
        )
    top = max([*d.bits, budget or 0.0]) + 1
    fig.update_layout(xaxis_title="layer", yaxis_title="bits per weight", yaxis_range=[0, top], yaxis_dtick=1)
    budget_text = f" of a {budget:g}-bit budget" if budget is not None else ""
    return style(fig, f"Bits per layer: mean {d.mean:.2f} bits per weight{budget_text}")
