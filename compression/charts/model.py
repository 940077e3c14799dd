"""Charts of one model: weight histograms, the confusion matrix and sample predictions."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compression.charts.style import AFTER, style


def _histogram_data(weights: np.ndarray, bins: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, counts) of a weight tensor."""
    flat = np.asarray(weights, dtype=np.float64).ravel()
    counts, edges = np.histogram(flat, bins=bins)
    return (edges[:-1] + edges[1:]) / 2, counts


def plot_weight_histogram(weights: np.ndarray, layer: str, log_y: bool = False) -> go.Figure:
    """Distribution of one layer's weights; log scale shows the tails and any spike at zero."""
    centres, counts = _histogram_data(weights)
    fig = go.Figure(go.Bar(x=centres, y=counts, marker_color=AFTER, name=layer))
    fig.update_layout(bargap=0.02, xaxis_title="weight value", yaxis_title="count")
    if log_y:
        fig.update_yaxes(type="log")
    return style(fig, f"Weights of {layer} ({np.asarray(weights).size:,} values)")


def _confusion_data(matrix: np.ndarray) -> np.ndarray:
    """Row-normalised confusion (each true class sums to 1)."""
    m = np.asarray(matrix, dtype=np.float64)
    return m / np.maximum(1.0, m.sum(axis=1, keepdims=True))


def plot_confusion(matrix: np.ndarray, classes: tuple[str, ...] | list[str]) -> go.Figure:
    """Confusion matrix on the test split: rows are true classes, columns predictions."""
    norm = _confusion_data(matrix)
    counts = np.asarray(matrix)
    fig = go.Figure(
        go.Heatmap(
            z=norm,
            x=list(classes),
            y=list(classes),
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=counts,
            texttemplate="%{text}",
            hovertemplate="true %{y}, predicted %{x}: %{text} images<extra></extra>",
            colorbar={"title": "share"},
        )
    )
    fig.update_yaxes(autorange="reversed", title="true class")
    fig.update_xaxes(title="predicted class")
    return style(fig, "Confusion matrix (test split)", height=460)


def plot_samples(
    images: np.ndarray, labels: list[str], predictions: list[str], columns: int = 8
) -> go.Figure:
    """A grid of test images titled 'prediction (true)'; wrong predictions in red."""
    n = len(images)
    rows = max(1, (n + columns - 1) // columns)
    titles = [
        f"<span style='color:{'#16a34a' if p == t else '#dc2626'}'>{p}</span> ({t})"
        for p, t in zip(predictions, labels, strict=True)
    ]
    fig = make_subplots(
        rows=rows, cols=columns, subplot_titles=titles, horizontal_spacing=0.01, vertical_spacing=0.08
    )
    for i, img in enumerate(images):
        arr = np.asarray(img)
        arr = arr.transpose(1, 2, 0) if arr.ndim == 3 and arr.shape[0] == 3 else arr.reshape(arr.shape[-2:])
        trace = (
            go.Image(z=_to_rgb(arr))
            if arr.ndim == 3
            else go.Heatmap(z=arr, colorscale="gray_r", showscale=False, hoverinfo="skip")
        )
        fig.add_trace(trace, row=i // columns + 1, col=i % columns + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return style(fig, "Test images: prediction (true label)", height=150 * rows + 60)


def _to_rgb(arr: np.ndarray) -> np.ndarray:
    lo, hi = float(arr.min()), float(arr.max())
    return ((arr - lo) / max(1e-9, hi - lo) * 255).astype(np.uint8)
