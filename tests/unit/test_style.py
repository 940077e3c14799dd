"""Chart style: stable technique colours and the projector copy of a figure."""

from __future__ import annotations

import plotly.graph_objects as go

from compression.charts import compare
from compression.charts.style import (
    TECHNIQUE_COLOURS,
    TITLE_CHARS,
    presented,
    style,
    technique_colour,
    wrap_title,
)


def test_a_technique_keeps_its_colour_whatever_else_is_shown() -> None:
    import pandas as pd

    def colour_of(df: pd.DataFrame, tech: str) -> str:
        fig = compare.plot_pareto(df, "size_artifact_bytes")
        return next(t.marker.color for t in fig.data if t.name == tech)

    from tests.unit.test_compare_charts import runs_frame

    df = runs_frame()
    alone = df[df["technique"].isin(["baseline", "linear-quant"])]
    assert (
        colour_of(df, "linear-quant") == colour_of(alone, "linear-quant") == technique_colour("linear-quant")
    )
    assert technique_colour("something-new") == technique_colour("something-new")
    assert "#F0E442" not in TECHNIQUE_COLOURS.values()  # Okabe-Ito yellow vanishes on a projector


def test_presented_copy_is_larger_and_leaves_the_original() -> None:
    fig = style(go.Figure(go.Scatter(x=[1], y=[1], marker={"size": 10}, line={"width": 2})), "t", height=400)
    big = presented(fig)
    assert big.layout.font.size == 21 and big.data[0].marker.size == 15 and big.data[0].line.width == 3
    assert big.layout.height > 400
    assert fig.layout.font.size == 14 and fig.data[0].marker.size == 10  # cached figures stay as they were


def test_presented_ticks_and_legend_are_named_larger_than_streamlits_12_px() -> None:
    bars = go.Figure(
        [go.Bar(x=["dense fp32", "artifact (measured)"], y=[1, 2]), go.Bar(x=["theoretical"], y=[3])]
    )
    big = presented(style(bars, "t"))
    # Streamlit's chart theme draws ticks and legends at 12 px unless the figure names a size
    assert big.layout.xaxis.tickfont.size >= 18 and big.layout.yaxis.tickfont.size >= 18
    assert big.layout.legend.font.size >= 18
    # larger category labels no longer fit side by side: two lines, every category kept in order
    assert list(big.layout.xaxis.tickvals) == ["dense fp32", "artifact (measured)", "theoretical"]
    assert list(big.layout.xaxis.ticktext) == ["dense<br>fp32", "artifact<br>(measured)", "theoretical"]
    placed = go.Figure(go.Scatter(x=[1, 2], y=[1, 2]), layout={"legend": {"font": {"size": 12}}})
    placed.add_annotation(text="c[k-2] -> n0", font={"size": 12})
    placed.add_annotation(text="big", font={"size": 30})
    shown = presented(
        placed
    )  # text sized small to fit a crowded grid still gets the projector's smallest size
    assert shown.layout.legend.font.size >= 18 and shown.layout.annotations[0].font.size >= 18
    assert shown.layout.annotations[1].font.size == 30  # larger text stays as it was
    assert presented(placed).layout.xaxis.tickvals is None  # numbers are not categories


def test_a_long_title_goes_on_two_lines_that_each_fit_the_stage_column() -> None:
    short = "Confusion matrix (test split)"
    assert wrap_title(short) == short
    colon = "Weights and the quantization grid: 255 levels (8 bits; 32 of them drawn)"
    assert wrap_title(colon) == "Weights and the quantization grid:<br>255 levels (8 bits; 32 of them drawn)"
    label = "A: size, MACs and latency, paired with the dense model on this CPU at batch 256"  # "A:" stays
    plain = "Skips and all parameter-free ops in the derived normal cell of the supernet"  # no colon
    for text in (label, plain):
        lines = wrap_title(text).split("<br>")
        assert len(lines) == 2 and " ".join(lines) == text
        assert all(len(line) <= TITLE_CHARS for line in lines)
    assert label.startswith(wrap_title(label).split("<br>")[0])  # broken at a space, not inside a word
    fig = style(go.Figure(), colon)
    assert fig.layout.title.text.count("<br>") == 1 and fig.layout.title.pad.t > 0  # the first line stays in
    assert presented(fig).layout.title.pad.t > fig.layout.title.pad.t  # larger font, larger first line


def test_presented_keeps_the_numbers_of_a_numeric_axis_copied_through_to_dict() -> None:
    """A figure copied through to_dict() (the A/B view's half-width titles) carries its numbers as a typed
    array, {"dtype": ..., "bdata": ...}: its x axis must keep numeric ticks, not become categories."""
    import numpy as np

    hist = style(go.Figure(go.Histogram(x=np.linspace(-1.0, 1.0, 50))), "grid")
    copied = go.Figure(hist.to_dict(), _validate=False)
    assert presented(copied).layout.xaxis.tickvals is None
    names = go.Figure(go.Bar(x=np.array(["dense fp32", "theoretical"]), y=[1, 2]))
    assert list(presented(names).layout.xaxis.tickvals) == ["dense fp32", "theoretical"]  # names still are
