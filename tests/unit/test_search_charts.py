"""Search charts: the extracted data is right, and every figure builds from it."""

from __future__ import annotations

import pandas as pd
import pytest

from compression.charts import search as charts
from compression.search import samplers

LAYERS = ["features.0", "classifier.1"]


def _df() -> pd.DataFrame:
    rows = [
        (0, 0.90, 40.0, True, False),
        (1, 0.85, 20.0, True, True),
        (2, 0.92, 60.0, True, True),
        (3, 0.50, 80.0, False, False),  # over a 70 KB budget
    ]
    df = pd.DataFrame(rows, columns=["number", "acc", "size_kb", "feasible", "front"])
    df["macs"] = [0.3, 0.2, 0.4, 0.5]
    df["prune:features.0"] = [0.0, 0.5, 0.25, 0.9]
    df["bits:features.0"] = [8, 4, 6, 2]
    df["prune:classifier.1"] = [0.1, 0.8, 0.3, 0.95]
    df["bits:classifier.1"] = [8, 3, 5, 2]
    return df


def test_objective_space_data_and_figure() -> None:
    d = charts.objective_space_data(_df(), "size", max_size_kb=70)
    assert list(d["front_number"]) == [1, 2]  # sorted by size along the front
    assert list(d["y"]) == pytest.approx([90, 85, 92, 50])
    fig = charts.plot_objective_space(d, selected=[2])
    names = [t.name for t in fig.data]
    assert names == ["over the size budget", "trials", "front", "chosen"]
    trials = fig.data[1]
    assert list(trials.marker.color) == [0, 1, 2]  # coloured by trial number
    assert trials.marker.reversescale  # Viridis runs dark to light: reversed, the last trials are dark
    assert list(fig.data[0].customdata) == [3] and list(fig.data[3].customdata) == [2]
    assert fig.layout.dragmode == "select"
    empty = charts.plot_objective_space(charts.objective_space_data(pd.DataFrame(), "size"))
    assert [t.name for t in empty.data] == ["trials"]
    macs = charts.objective_space_data(_df(), "macs")
    assert macs["label"].startswith("effective MACs") and macs["cap"] is None


def test_hypervolume_lines_share_a_colour_per_strategy() -> None:
    lines = charts.hypervolume_data({"a": ("tpe", [0.1, 0.2]), "b": ("tpe", [0.15]), "c": ("random", [0.05])})
    colour = {line["study"]: line["color"] for line in lines}
    assert colour["a"] == colour["b"] != colour["c"]
    assert lines[0]["trials"] == [1, 2]
    fig = charts.plot_hypervolume(lines, highlight="a")
    assert [t.showlegend for t in fig.data] == [True, False, True]  # one legend entry per strategy
    assert fig.data[0].line.width > fig.data[1].line.width


def test_sa_trace_data_splits_accepted_and_rejected() -> None:
    steps = samplers.sa_trace([(0, 0.5), (1, 0.6), (2, 0.1), (3, 0.55)], 0.02, 0.9, seed=0)
    d = charts.sa_trace_data(steps)
    assert d["accepted"][:2] == [True, True] and d["accepted"][2] is False  # 0.5 worse at T~0.016: p ~ 0
    assert d["temperature"] == pytest.approx([0.02 * 0.9**k for k in range(4)])
    fig = charts.plot_sa_trace(d)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["rejected"].x) == [n for n, a in zip(d["trial"], d["accepted"], strict=True) if not a]
    assert list(by_name["walk (current)"].y) == d["current"]


def test_parallel_and_heatmap_data() -> None:
    df = _df()
    p = charts.parallel_data(df, LAYERS)
    assert [dim["label"] for dim in p["dims"]] == [
        "prune f0",
        "bits f0",
        "prune c1",
        "bits c1",
        "val acc %",
        "size KB",
    ]
    par = charts.plot_parallel(p)
    assert par.data[0].type == "parcoords" and par.layout.margin.l >= 40  # the first axis label fits
    # twelve labels side by side ran into each other on a projector: turned, with room under the title
    assert par.data[0].labelangle < 0 and par.layout.margin.t >= 140
    h = charts.heatmap_data(df, LAYERS, [1, 2])
    assert h["trials"] == ["trial 1", "trial 2"]  # sorted by size
    assert h["prune"] == [[50.0, 80.0], [25.0, 30.0]] and h["bits"] == [[4, 3], [6, 5]]
    fig = charts.plot_layer_heatmap(h)
    assert len(fig.data) == 2 and list(fig.data[1].z[0]) == [4, 3]
