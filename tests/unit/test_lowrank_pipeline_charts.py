"""Low-rank and pipeline chart builders: the data steps and the figures, without a browser."""

from __future__ import annotations

import numpy as np
import pytest

from compression.charts import lowrank as lr_charts
from compression.charts import pipeline as pl_charts


def test_spectrum_data_marks_the_kept_values_and_energy() -> None:
    df = lr_charts.spectrum_data(np.array([3.0, 2.0, 1.0, 0.0]), 2)
    assert df["kept"].tolist() == [True, True, False, False]
    assert df["energy"].iloc[1] == pytest.approx(13 / 14)
    assert df["energy"].iloc[-1] == pytest.approx(1.0)


def test_spectrum_figure_draws_the_cut_where_the_rank_is() -> None:
    fig = lr_charts.plot_spectrum(np.linspace(5, 1, 20), 7, title="fc1")
    bars, energy = fig.data
    assert list(bars.x) == list(range(1, 21)) and energy.yaxis == "y2"
    assert sum(c == lr_charts.AFTER for c in bars.marker.color) == 7
    cut = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(cut) == 1 and cut[0].x0 == pytest.approx(7.5)
    assert "rank 7" in fig.layout.annotations[0].text
    # the label's band at the top is above the bars and the energy curve (the curve crossed the label)
    assert fig.layout.yaxis2.range[1] > 1.1 and fig.layout.yaxis.range[1] > 1.1 * max(bars.y)


def test_speed_data_interpolates_the_break_even_rank() -> None:
    rows = [
        {"rank": r, "speedup": s, "lo": s - 0.1, "hi": s + 0.1} for r, s in ((32, 1.5), (8, 3.0), (64, 0.5))
    ]
    df, be = lr_charts.speed_data(rows)
    assert df["rank"].tolist() == [8, 32, 64]
    assert be == pytest.approx(32 + 0.5 / 1.0 * 32)
    assert lr_charts.speed_data([{"rank": 4, "speedup": 2.0, "lo": 1.9, "hi": 2.1}])[1] is None
    fig = lr_charts.plot_speed(rows, params_breakeven=50)
    assert (
        len([s for s in fig.layout.shapes if s.type == "line"]) == 3
    )  # 1x line, measured and weights break-even


STAGES = [
    {"index": 0, "label": "dense fp32", "technique": "baseline", "artifact_bytes": 1_000_000, "top1": 0.90},
    {
        "index": 1,
        "label": "pruned 90%",
        "technique": "magnitude-prune",
        "artifact_bytes": 100_000,
        "top1": 0.89,
    },
    {
        "index": 2,
        "label": "<b>shared</b>",
        "technique": "sparse-sharing",
        "artifact_bytes": 30_000,
        "top1": 0.895,
    },
    {"index": 3, "label": "Huffman-coded", "technique": "huffman", "artifact_bytes": 20_000, "top1": 0.895},
]


def test_waterfall_data_ratios() -> None:
    df = pl_charts.waterfall_data(STAGES)
    assert df["ratio"].tolist() == pytest.approx([1, 10, 1_000_000 / 30_000, 50])
    assert df["stage_ratio"].tolist() == pytest.approx([1, 10, 100 / 30, 1.5])
    assert df["top1"].tolist() == pytest.approx([90, 89, 89.5, 89.5])
    assert df["text"].iloc[-1] == "20.0 KB · 50.0x"


def test_waterfall_figure_bars_are_file_bytes_with_accuracy_on_the_right() -> None:
    fig = pl_charts.plot_waterfall(STAGES, title="Deep Compression")
    bars, acc = fig.data
    assert list(bars.y) == [1_000_000, 100_000, 30_000, 20_000]
    assert fig.layout.yaxis.type == "log" and acc.yaxis == "y2"  # accuracy below, on its own axis
    assert fig.layout.yaxis2.domain[1] < fig.layout.yaxis.domain[0]  # not over the bars' labels
    assert (
        fig.layout.yaxis.dtick == 1 and fig.layout.yaxis.tickformat == "~s"
    )  # 10k, 100k, 1M: no bare 2s, 5s
    assert acc.cliponaxis is False  # a label above a point near the axis's top (98 % of 100) is not cut
    assert not fig.layout.showlegend  # one colour per technique: a legend's one swatch said nothing
    assert "&lt;b&gt;" in bars.x[2]  # user text is escaped for Plotly's HTML
    assert pl_charts.plot_waterfall(STAGES, log=False).layout.yaxis.type == "linear"


def test_pipeline_paths_follow_the_stage_tags() -> None:
    import pandas as pd
    import plotly.graph_objects as go

    df = pd.DataFrame(
        {
            "size": [100, 30, 10, 50],
            "top1": [0.9, 0.89, 0.88, 0.7],
            "tags": [
                ["pipeline:a", "stage:2/3"],
                ["pipeline:a", "stage:3/3"],
                ["pipeline:a", "stage:1/3"],
                ["x"],
            ],
        }
    )
    paths = pl_charts.pipeline_paths(df)
    assert list(paths) == ["a"] and paths["a"]["stage"].tolist() == [1, 2, 3]
    assert paths["a"]["size"].tolist() == [10, 100, 30]
    fig = pl_charts.add_pipeline_arrows(go.Figure(), df, "size", "top1")
    arrows = [(a.ax, a.x) for a in fig.layout.annotations]
    assert arrows == [(10, 100), (100, 30)]
    assert pl_charts.pipeline_paths(df.iloc[3:]) == {}
