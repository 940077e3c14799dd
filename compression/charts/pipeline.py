"""Pipeline charts: the waterfall of file bytes after each stage, with accuracy on a second axis.

Every bar is the size of a file really written (`metrics.measure`'s artifact). Pure Plotly: the
data step is `waterfall_data`, the figure `plot_waterfall`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compression import fmt
from compression.charts.style import style, technique_colour


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
                "text": f"{fmt.bytes_(b)} · {first / max(1, b):.1f}x",
            }
        )
        prev = b
    return pd.DataFrame(rows)


def plot_waterfall(stages: Sequence[dict[str, Any]], title: str | None = None, log: bool = True) -> go.Figure:
    """Top: bars, the bytes of each stage's file (log scale by default: 1 MB and 20 KB on one chart), each
    saying its size and ratio; below, on its own axis: top-1 after each stage (drawn over the bars, the
    line crossed their labels)."""
    df = waterfall_data(stages)
    x = [fmt.plain(s) for s in df["stage"]]
    hover = [
        f"{fmt.plain(r.stage)}<br>{r.bytes:,} bytes · {r.ratio:.1f}x vs the first bar<br>this stage: {r.stage_ratio:.2f}x<extra></extra>"
        for r in df.itertuples()
    ]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
    fig.add_trace(
        go.Bar(
            x=x, y=df["bytes"], text=df["text"], textposition="outside", cliponaxis=False,
            marker_color=[technique_colour(t) for t in df["technique"]], name="file bytes", hovertemplate=hover,
        ),
        row=1, col=1,
    )  # fmt: skip
    fig.add_trace(
        go.Scatter(
            x=x, y=df["top1"], mode="lines+markers+text", name="top-1 %", text=[f"{v:.2f}" for v in df["top1"]],
            textposition="top center", line={"color": "#dc2626"}, hovertemplate="top-1 %{y:.2f}%<extra></extra>",
            cliponaxis=False,  # a top-1 near 100 %: its label above the axis's top, in the gap (it was cut)
        ),
        row=2, col=1,
    )  # fmt: skip
    lo = float(df["top1"].min()) if len(df) else 0.0
    hi = float(df["top1"].max()) if len(df) else 100.0
    decades = [
        math.log10(max(1, int(df["bytes"].min()))) - 0.5,
        math.log10(max(1, int(df["bytes"].max()))) + 0.5,
    ]
    fig.update_yaxes(  # log ticks at powers of ten, read 10k, 100k, 1M (the 2s and 5s read as bare digits)
        title="file bytes" + (" (log)" if log else ""), type="log" if log else "linear", row=1, col=1,
        **({"dtick": 1, "tickformat": "~s", "range": decades} if log and len(df) else {}),
    )  # fmt: skip
    fig.update_yaxes(title="top-1 %", range=[max(0.0, lo - 3), min(100.0, hi + 4)], nticks=4, row=2, col=1)
    fig.update_layout(showlegend=False, uniformtext_minsize=10)
    return style(fig, title, height=460)


# ---------------------------------------------------------------- a pipeline's path on a front


def pipeline_paths(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Runs recorded by pipelines (tags `pipeline:<id>` and `stage:<i>/<n>`), grouped by pipeline and
    ordered by stage: each frame is one path across a front. Runs without those tags are left out."""
    rows = []
    for r in df.itertuples():
        tags = list(getattr(r, "tags", ()) or ())
        pid = next((t.split(":", 1)[1] for t in tags if t.startswith("pipeline:")), None)
        stage = next((t.split(":", 1)[1] for t in tags if t.startswith("stage:")), None)
        if pid and stage and stage.split("/")[0].isdigit():
            rows.append({"pipeline": pid, "stage": int(stage.split("/")[0]), "index": r.Index})
    paths: dict[str, pd.DataFrame] = {}
    for pid, group in pd.DataFrame(rows).groupby("pipeline") if rows else []:
        ordered = group.sort_values("stage")
        paths[str(pid)] = df.loc[ordered["index"]].assign(stage=ordered["stage"].to_numpy())
    return paths


def add_pipeline_arrows(fig: go.Figure, df: pd.DataFrame, x: str, y: str) -> go.Figure:
    """Arrows from stage to stage of every pipeline in `df` (columns `x`, `y` and `tags`) on `fig`:
    a one-call overlay for an accuracy-versus-cost front."""
    for pid, path in pipeline_paths(df).items():
        xs, ys = path[x].to_list(), path[y].to_list()
        for (x0, y0), (x1, y1) in zip(
            zip(xs, ys, strict=True), zip(xs[1:], ys[1:], strict=True), strict=False
        ):
            fig.add_annotation(
                x=x1, y=y1, ax=x0, ay=y0, xref="x", yref="y", axref="x", ayref="y", showarrow=True,
                arrowhead=2, arrowwidth=1.5, arrowcolor="#6b7280", text="", hovertext=fmt.plain(f"pipeline {pid}"),
            )  # fmt: skip
    return fig
