"""A/B view: two settings of one lab compared metric by metric, and their weights on shared bins.

`delta_rows` turns two measurements against the same baseline into the rows of the "A vs B" table:
each metric's B - A in words and a verdict that follows the metric's sense (higher accuracy is
better, a smaller file is better), so the table reads without its colours. `changed` keeps only the
controls whose values differ. `weight_edges`/`weight_counts`/`plot_weights` draw one model's weights
on bins fixed by the baseline, so the A and B histograms (and before / after) share one x-axis.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
from torch import nn

from compression import fmt
from compression.charts.pruning import _weights as model_weights  # every conv/linear weight, flattened
from compression.charts.style import AFTER, BEFORE, style
from compression.metrics import Measurement

BETTER, WORSE, SAME, UNMEASURED, HIGHER, LOWER = (
    "B better",
    "B worse",
    "same",
    "not measured",
    "higher",
    "lower",
)


def _pts(a: float, b: float) -> str:
    return f"{(b - a) * 100:+.2f} pts"


def _bytes(a: float, b: float) -> str:
    return f"{'+' if b >= a else '-'}{fmt.bytes_(abs(b - a))} ({b / max(a, 1e-12):.2f}x of A)"


def _count(a: float, b: float) -> str:
    return f"{'+' if b >= a else '-'}{fmt.count(abs(b - a))} ({b / max(a, 1e-12):.2f}x of A)"


@dataclass(frozen=True)
class Metric:
    """One headline number of a lab: where it is in a Measurement, how it reads, which way is better."""

    key: str  # attribute of metrics.Measurement
    label: str
    text: Callable[[float], str]  # the value as shown
    delta: Callable[[float, float], str]  # (A, B) -> B - A as shown
    higher_is_better: bool | None  # None: neither (e.g. sparsity): the verdict says higher / lower
    same_below: float  # |B - A| under this reads "same" (a rounding step of the shown value)


ACCURACY = Metric("top1", "Top-1 accuracy", lambda v: f"{v:.2%}", _pts, True, 5e-5)
FILE_SIZE = Metric("size_artifact_bytes", "Measured size (file)", fmt.bytes_, _bytes, False, 0.5)
THEORY_SIZE = Metric("size_theoretical_bytes", "Theoretical size", fmt.bytes_, _bytes, False, 0.5)
MACS = Metric("macs", "MACs / image", fmt.count, _count, False, 0.5)
SPEED = Metric(
    "speedup_b256",
    "Speed-up, batch 256",
    lambda v: f"{v:.2f}x",
    lambda a, b: f"{b - a:+.2f}x",
    True,
    5e-3,
)
BITS = Metric(
    "effective_bits",
    "Effective bits per weight",
    lambda v: f"{v:.2f}",
    lambda a, b: f"{b - a:+.2f}",
    False,
    5e-3,
)
HEADLINE = (ACCURACY, FILE_SIZE, THEORY_SIZE, MACS, SPEED)  # what every lab shows on both sides


def value(m: Measurement, metric: Metric) -> float | None:
    v = getattr(m, metric.key)
    return None if v is None else float(v)


def verdict(metric: Metric, a: float | None, b: float | None) -> str:
    """B compared with A in words: better / worse in the metric's sense, or higher / lower, or same."""
    if a is None or b is None:
        return UNMEASURED
    if abs(b - a) < metric.same_below:
        return SAME
    if metric.higher_is_better is None:
        return HIGHER if b > a else LOWER
    return BETTER if (b > a) == metric.higher_is_better else WORSE


def delta_rows(a: Measurement, b: Measurement, metrics: Sequence[Metric] = HEADLINE) -> list[dict[str, str]]:
    """The "A vs B" table: per metric A, B, B - A and the verdict (text, so it reads without colour)."""
    rows = []
    for metric in metrics:
        va, vb = value(a, metric), value(b, metric)
        rows.append(
            {
                "metric": metric.label,
                "A": "not timed" if va is None else metric.text(va),
                "B": "not timed" if vb is None else metric.text(vb),
                "B - A": "" if va is None or vb is None else metric.delta(va, vb),
                "verdict": verdict(metric, va, vb),
            }
        )
    return rows


def changed(labels: Mapping[str, str], a: Mapping[str, str], b: Mapping[str, str]) -> list[dict[str, str]]:
    """The controls whose A and B values differ, as rows (control, A, B), in the order of `labels`."""
    return [{"control": label, "A": a[k], "B": b[k]} for k, label in labels.items() if a.get(k) != b.get(k)]


def verdict_colour(text: str) -> str:
    """Background for a verdict cell: green better, red worse, none otherwise (the words carry it too)."""
    return {BETTER: "background-color: #dcfce7", WORSE: "background-color: #fee2e2"}.get(text, "")


# ---------------------------------------------------------------- weights before / after


def weight_edges(baseline: nn.Module, bins: int = 81) -> np.ndarray:
    """Bin edges symmetric about 0 over the baseline's weight range (odd count: 0 is mid-bin)."""
    lim = float(max(np.abs(model_weights(baseline)).max(initial=0.0), 1e-8)) * 1.02
    return np.linspace(-lim, lim, bins + 1)


def weight_counts(model: nn.Module, edges: np.ndarray) -> dict[str, Any]:
    """Counts of every conv/linear weight on `edges` (values outside land in the end bins)."""
    w = model_weights(model)
    clipped = np.clip(w, edges[0], edges[-1])
    return {"counts": np.histogram(clipped, edges)[0], "zeros": int((w == 0).sum()), "n": int(w.size)}


def plot_weights(
    edges: np.ndarray, shown: Mapping[str, Mapping[str, Any]], title: str, y_max: float | None = None
) -> go.Figure:
    """Histogram bars of the weights in `shown` ({"before": counts, "after": counts}, either or both)."""
    centers, width = (edges[:-1] + edges[1:]) / 2, float(edges[1] - edges[0])
    fig = go.Figure()
    for key, colour in (("before", BEFORE), ("after", AFTER)):
        if key in shown:
            d = shown[key]
            fig.add_bar(
                x=centers,
                y=d["counts"],
                width=width,
                name=f"{key} ({d['zeros']:,} of {d['n']:,} are 0)",
                marker_color=colour,
                opacity=0.65,
            )
    fig.update_layout(barmode="overlay", bargap=0, showlegend=True)  # the legend counts the zeros
    fig.update_xaxes(title="weight value", range=[float(edges[0]), float(edges[-1])])
    yaxis: dict[str, Any] = {"title": "weights (log)", "type": "log"}
    if y_max:
        yaxis["range"] = [-0.1, float(np.log10(max(y_max, 1.0))) + 0.15]  # both sides on one scale
    fig.update_yaxes(**yaxis)
    return style(fig, title, height=340)
