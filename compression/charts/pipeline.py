"""Pipeline charts: the waterfall of file bytes after each stage, with accuracy on a second axis.

Every bar is the size of a file really written (`metrics.measure`'s artifact). Pure Plotly: the
data step is `waterfall_data`, the figure `plot_waterfall`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from compression import fmt
from compression.charts.style import style, technique_colour


def _human(n: float) -> str:
    for unit, size in (("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def waterfall_data(stages: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Stage dicts (`pipeline.StageResult.as_dict()`) -> one row per bar: label, technique, bytes,
    ratio against the first bar, the stage's own ratio (previous bytes / these), top-1 in percent."""
    rows = []
    first = prev = None
    for s in stages:
        b = int(s["artifact_bytes"])
        first = first or b
        rows.append(
            {
                "stage": f"{s['index']}. {s['label']}",
                "technique": s["technique"],
                "bytes": b,
                "ratio": first / max(1, b),
                "stage_ratio": (prev or b) / max(1, b),
                "top1": 100 * float(s["top1"]),
                "text": f"{_human(b)} · {first / max(1, b):.1f}x",
            }
        )
        prev = b
    return pd.DataFrame(rows)


def plot_waterfall(stages: Sequence[dict[str, Any]], title: str | None = None, log: bool = True) -> go.Figure:
    """Bars: bytes of each stage's file (log scale by default: 1 MB and 20 KB on one chart);
    line: top-1 after each stage (right axis); each bar says its size, ratio and the stage's own ratio."""
    df = waterfall_data(stages)
    hover = [
        f"{fmt.plain(r.stage)}<br>{r.bytes:,} bytes · {r.ratio:.1f}x vs the first bar<br>this stage: {r.stage_ratio:.2f}x<extra></extra>"
        for r in df.itertuples()
    ]
    fig = go.Figure(
        [
            go.Bar(
                x=[fmt.plain(s) for s in df["stage"]], y=df["bytes"], text=df["text"], textposition="outside",
                marker_color=[technique_colour(t) for t in df["technique"]], name="file bytes", hovertemplate=hover,
            ),
            go.Scatter(
                x=[fmt.plain(s) for s in df["stage"]], y=df["top1"], yaxis="y2", mode="lines+markers", name="top-1 %",
                line={"color": "#dc2626"}, hovertemplate="top-1 %{y:.2f}%<extra></extra>",
            ),
        ]
    )  # fmt: skip
    lo = float(df["top1"].min()) if len(df) else 0.0
    hi = float(df["top1"].max()) if len(df) else 100.0
    fig.update_layout(
        yaxis={"title": "file bytes" + (" (log)" if log else ""), "type": "log" if log else "linear"},
        yaxis2={"title": "top-1 %", "overlaying": "y", "side": "right", "range": [max(0.0, lo - 5), min(100.0, hi + 2)], "showgrid": False},
        showlegend=True,
        uniformtext_minsize=10,
    )  # fmt: skip
    return style(fig, title, height=420)
