"""Low-rank charts: a layer's singular-value spectrum with the cut, and speed against rank.

Pure Plotly: `*_data` extracts the numbers (tested alone), `plot_*` draws them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from compression.charts.style import AFTER, BEFORE, style


def spectrum_data(s: np.ndarray, rank: int) -> pd.DataFrame:
    """One row per singular value: index (1-based), value, cumulative energy, kept (index <= rank)."""
    s = np.asarray(s, dtype=float)
    e = s**2
    total = e.sum() if e.sum() > 0 else 1.0
    return pd.DataFrame(
        {"index": np.arange(1, len(s) + 1), "sigma": s, "energy": np.cumsum(e) / total, "kept": np.arange(1, len(s) + 1) <= rank}
    )  # fmt: skip


HEADROOM = 1.2  # the axes' top over their largest value: room for the cut's label


def plot_spectrum(s: np.ndarray, rank: int, title: str | None = None) -> go.Figure:
    """Singular values (kept in blue, cut in grey), the cut as a line, cumulative energy on the right axis."""
    df = spectrum_data(s, rank)
    colours = [AFTER if k else BEFORE for k in df["kept"]]
    fig = go.Figure(
        [
            go.Bar(x=df["index"], y=df["sigma"], marker_color=colours, name="singular value", hovertemplate="σ%{x} = %{y:.4g}<extra></extra>"),
            go.Scatter(x=df["index"], y=df["energy"], yaxis="y2", mode="lines", name="energy kept", line={"color": "#dc2626"}, hovertemplate="top %{x}: %{y:.1%}<extra></extra>"),
        ]
    )  # fmt: skip
    kept = float(df["energy"].iloc[rank - 1]) if 0 < rank <= len(df) else 1.0
    fig.add_vline(
        x=rank + 0.5,
        line_dash="dash",
        line_color="#111827",
        annotation_text=f"rank {rank}: {kept:.1%} energy",
        annotation_position="top left" if rank > len(df) / 2 else "top right",  # inside the plot
        annotation_bgcolor="rgba(255,255,255,0.85)",
    )
    # both axes end HEADROOM above their data: the label sits in a band neither the bars nor the energy curve
    # reach (the curve, near 100% beyond the cut, ran through it)
    top = float(df["sigma"].max()) if len(df) else 1.0
    fig.update_layout(
        xaxis_title="singular value index",
        yaxis_title="σ",
        yaxis_range=[0, max(top, 1e-12) * HEADROOM],
        yaxis2={"title": "cumulative energy", "overlaying": "y", "side": "right", "range": [0, HEADROOM], "tickformat": ".0%", "tickvals": [0, 0.25, 0.5, 0.75, 1], "showgrid": False},
        bargap=0.05,
    )  # fmt: skip
    return style(fig, title)


def speed_data(rows: list[dict[str, float]]) -> tuple[pd.DataFrame, float | None]:
    """Rows {rank, speedup, lo, hi} sorted by rank, and the break-even rank: the largest measured
    rank still faster than the whole layer (speed-up >= 1), interpolated to where it crosses 1."""
    df = (
        pd.DataFrame(rows).sort_values("rank").reset_index(drop=True)
        if rows
        else pd.DataFrame(columns=["rank", "speedup", "lo", "hi"])
    )
    breakeven: float | None = None
    for a, b in zip(df.itertuples(), df.iloc[1:].itertuples(), strict=False):
        if a.speedup >= 1 > b.speedup:
            breakeven = a.rank + (a.speedup - 1) / (a.speedup - b.speedup) * (b.rank - a.rank)
    return df, breakeven


def plot_speed(
    rows: list[dict[str, float]], params_breakeven: float | None = None, title: str | None = None
) -> go.Figure:
    """Paired speed-up of the factorised layer over the whole layer, by rank, with the break-even ranks."""
    df, breakeven = speed_data(rows)
    fig = go.Figure(
        go.Scatter(
            x=df["rank"], y=df["speedup"], mode="lines+markers", name="measured speed-up", line={"color": AFTER},
            error_y={"type": "data", "symmetric": False, "array": df["hi"] - df["speedup"], "arrayminus": df["speedup"] - df["lo"]} if len(df) else None,
            hovertemplate="rank %{x}: %{y:.2f}x<extra></extra>",
        )
    )  # fmt: skip
    fig.add_hline(y=1.0, line_color=BEFORE, annotation_text="as fast as the whole layer")
    if breakeven is not None:
        fig.add_vline(
            x=breakeven,
            line_dash="dash",
            line_color="#dc2626",
            annotation_text=f"measured break-even ≈ {breakeven:.0f}",
        )
    if params_breakeven is not None:
        fig.add_vline(
            x=params_breakeven,
            line_dash="dot",
            line_color="#16a34a",
            annotation_text=f"weights break-even {params_breakeven:.0f}",
            annotation_position="bottom right",
        )
    fig.update_layout(xaxis_title="rank", yaxis_title="speed-up (x, paired)")
    return style(fig, title)
