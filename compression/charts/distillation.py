"""Distillation charts: soft targets at T, entropy against T, the class-similarity ("dark
knowledge") matrix, live training curves of the distilled student against its scratch twin, sweeps.

Each public `plot_x` is a thin figure over a `x_data` extraction, so tests check the numbers and
the figure separately.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import torch

from compression.charts.style import AFTER, BEFORE, PALETTE, style
from compression.distillation import explore

DISTILLED = AFTER
SCRATCH = BEFORE


def soft_target_data(logits: torch.Tensor, temperature: float, classes: Sequence[str]) -> dict[str, Any]:
    """One image's softmax at T and at T = 1, and their entropies in bits."""
    p_t = explore.soft_targets(logits, temperature)
    p_1 = explore.soft_targets(logits, 1.0)
    return {
        "classes": list(classes),
        "t": float(temperature),
        "p_t": [float(v) for v in p_t],
        "p_1": [float(v) for v in p_1],
        "entropy_t": float(explore.entropy_bits(p_t)),
        "entropy_1": float(explore.entropy_bits(p_1)),
    }


def plot_soft_targets(d: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(x=d["classes"], y=d["p_1"], name="T = 1 (plain softmax)", marker_color=SCRATCH),
            go.Bar(x=d["classes"], y=d["p_t"], name=f"T = {d['t']:g} (soft targets)", marker_color=DISTILLED),
        ]
    )
    fig.update_layout(barmode="group", yaxis={"title": "probability", "range": [0, 1]})
    title = f"Teacher's soft targets at T = {d['t']:g}: entropy {d['entropy_t']:.2f} bits (T = 1: {d['entropy_1']:.2f})"
    return style(fig, title, height=360)


def entropy_data(
    image_logits: torch.Tensor, all_logits: torch.Tensor, temperature: float, classes: int
) -> dict[str, Any]:
    """Entropy (bits) against T for the chosen image and the mean over the test images."""
    temps = explore.log_temperatures()
    return {
        "temps": temps,
        "image": explore.entropy_curve(image_logits[None], temps),
        "mean": explore.entropy_curve(all_logits, temps),
        "t": float(temperature),
        "at_t": explore.entropy_curve(image_logits[None], [temperature])[0],
        "mean_at_t": explore.entropy_curve(all_logits, [temperature])[0],
        "max": explore.max_entropy_bits(classes),
    }


def plot_entropy(d: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure(
        [
            go.Scatter(x=d["temps"], y=d["image"], name="this image", line={"color": DISTILLED}),
            go.Scatter(x=d["temps"], y=d["mean"], name="mean over test images", line={"color": PALETTE[2]}),
            go.Scatter(
                x=[d["t"], d["t"]],
                y=[d["at_t"], d["mean_at_t"]],
                mode="markers",
                marker={"size": 12, "color": PALETTE[1]},
                name=f"T = {d['t']:g}",
            ),
        ]
    )
    fig.add_hline(y=d["max"], line_dash="dot", line_color=SCRATCH, annotation_text="uniform (log2 classes)")
    fig.update_layout(
        # 1-2-5 ticks: Plotly's default log labels read "8 9 10 2 3 4" for 8, 9, 10, 20, 30, 40
        xaxis={"title": "temperature T (log scale)", "type": "log", "tickvals": [1, 2, 5, 10, 20, 50]},
        yaxis={"title": "entropy (bits)", "range": [0, d["max"] * 1.08]},
    )
    return style(fig, f"Entropy of the soft targets: {d['at_t']:.2f} bits at T = {d['t']:g}", height=360)


def similarity_data(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float, classes: Sequence[str]
) -> dict[str, Any]:
    """Mean soft target per true class at T; the diagonal (the right answer) is kept aside."""
    sim = explore.class_similarity(logits, labels, temperature, len(classes))
    off = sim.clone()
    off.fill_diagonal_(float("nan"))
    return {
        "classes": list(classes),
        "t": float(temperature),
        "matrix": sim.tolist(),
        "off_diagonal": off.tolist(),
        "diagonal": [float(v) for v in sim.diagonal()],
        "sentences": explore.confusion_sentences(explore.top_confusions(sim, list(classes), k=2)),
    }


def plot_similarity(d: Mapping[str, Any]) -> go.Figure:
    z = [[None if v != v else v for v in row] for row in d["off_diagonal"]]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=d["classes"],
            y=d["classes"],
            colorscale="Blues",
            colorbar={"title": "share"},
            hovertemplate="true %{y}, soft target on %{x}: %{z:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"title": "class the teacher also gives probability to"},
        yaxis={"title": "true class", "autorange": "reversed"},
    )
    return style(
        fig, f"Dark knowledge at T = {d['t']:g}: mean soft target per true class (diagonal hidden)", 420
    )


def plot_training_curves(
    history: Sequence[Mapping[str, Any]], teacher_top1: float | None = None
) -> go.Figure:
    """Validation top-1 per epoch: distilled student against its scratch twin."""
    epochs = [h["epoch"] for h in history if "val_distilled" in h]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=epochs,
            y=[h["val_distilled"] for h in history if "val_distilled" in h],
            name="distilled",
            mode="lines+markers",
            line={"color": DISTILLED},
        )
    )
    if any("val_scratch" in h for h in history):
        fig.add_trace(
            go.Scatter(
                x=epochs,
                y=[h.get("val_scratch") for h in history if "val_distilled" in h],
                name="scratch twin",
                mode="lines+markers",
                line={"color": SCRATCH},
            )
        )
    if teacher_top1 is not None:
        fig.add_hline(
            y=teacher_top1, line_dash="dot", line_color=PALETTE[2], annotation_text="teacher (test)"
        )
    fig.update_layout(
        xaxis={"title": "epoch", "dtick": 1}, yaxis={"title": "validation top-1", "tickformat": ".0%"}
    )
    return style(fig, "Distilled student vs the same student from scratch", height=360)


def sweep_data(rows: Sequence[Mapping[str, Any]], x: str) -> dict[str, Any]:
    """Mean test top-1 (and min/max over seeds) of distilled and scratch students per value of `x`."""
    xs = sorted({r[x] for r in rows})
    out: dict[str, Any] = {"x": xs, "param": x}
    for kind in ("distilled", "scratch"):
        vals = [[r[kind] for r in rows if r[x] == v and r.get(kind) is not None] for v in xs]
        out[kind] = [sum(v) / len(v) if v else None for v in vals]
        out[f"{kind}_lo"] = [min(v) if v else None for v in vals]
        out[f"{kind}_hi"] = [max(v) if v else None for v in vals]
    return out


SWEEP_AXES = {"temperature": "temperature T", "labels": "labelled training images", "width": "student width"}


def plot_sweep(d: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure()
    for kind, color in (("distilled", DISTILLED), ("scratch", SCRATCH)):
        mean, lo, hi = d[kind], d[f"{kind}_lo"], d[f"{kind}_hi"]
        fig.add_trace(
            go.Scatter(
                x=d["x"],
                y=mean,
                name=kind if kind == "distilled" else "scratch twin",
                mode="lines+markers",
                line={"color": color},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [(h - m) if m is not None else 0 for m, h in zip(mean, hi, strict=True)],
                    "arrayminus": [
                        (m - lo_) if m is not None else 0 for m, lo_ in zip(mean, lo, strict=True)
                    ],
                },
            )
        )
    log = d["param"] in ("temperature", "labels", "width")
    fig.update_layout(
        xaxis={"title": SWEEP_AXES.get(d["param"], d["param"]), "type": "log" if log else "linear"},
        yaxis={"title": "test top-1", "tickformat": ".0%"},
    )
    return style(fig, f"Accuracy against {SWEEP_AXES.get(d['param'], d['param'])} (bars: min-max over seeds)")
