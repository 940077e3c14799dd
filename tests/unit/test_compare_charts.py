"""Compare charts: the data extraction on its own, then the figures built from it."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from compression import pareto
from compression.charts import compare
from compression.charts.style import technique_colour


def runs_frame() -> pd.DataFrame:
    rows = [  # id, dataset, arch, technique, top1, size, latency
        (1, "digits", "lenet5", "baseline", 0.98, 90_000, 0.10),
        (2, "digits", "lenet5", "magnitude-prune", 0.97, 30_000, 0.10),
        (3, "digits", "lenet5", "magnitude-prune", 0.90, 40_000, 0.10),  # dominated by 2
        (4, "digits", "bn-cnn", "linear-quant", 0.95, 10_000, None),  # no latency measured
        (5, "fashion-mnist", "lenet5", "baseline", 0.90, 250_000, 0.20),  # its own front
    ]
    df = pd.DataFrame(
        rows, columns=["id", "dataset", "arch", "technique", "top1", "size_artifact_bytes", "lat"]
    )
    df["latency_b1_ms"] = df.pop("lat").astype(float)
    df["top5"] = 1.0
    df["recipe"] = [[] if t == "baseline" else [{"technique": t, "amount": 0.5}] for t in df["technique"]]
    df["tags"] = [(), ("a",), (), ("a", "b"), ()]
    df["layers"] = [[{"layer": "fc1", "params": 10, "sparsity": 0.0, "bits": 32}], None, None, None, None]
    for col in ("params_total", "params_nonzero", "size_dense_bytes", "size_theoretical_bytes"):
        df[col] = 100
    df["effective_bits"], df["macs"], df["macs_effective"], df["loss"] = 32.0, 1000, 1000, 0.1
    df["latency_b256_ms"], df["runs_dense"], df["who"], df["notes"] = 1.0, True, "", ""
    df["created_at"] = pd.Timestamp("2026-01-01", tz="UTC")
    return df


def test_front_is_per_dataset_and_matches_pareto() -> None:
    data = compare._pareto_data(runs_frame(), "size_artifact_bytes")
    front = dict(zip(data.points["id"], data.points["on_front"], strict=True))
    assert front == {1: True, 2: True, 3: False, 4: True, 5: True}
    assert data.fronts["digits"] == ([10_000.0, 30_000.0, 90_000.0], [0.95, 0.97, 0.98])  # sorted by cost
    assert data.fronts["fashion-mnist"] == ([250_000.0], [0.90])
    digits = data.points[data.points["dataset"] == "digits"]
    mask = pareto.non_dominated(digits[["y", "x"]].to_numpy(), ["max", "min"])
    assert (digits["on_front"].to_numpy() == mask).all()


def test_runs_without_the_cost_are_left_out_and_counted() -> None:
    data = compare._pareto_data(runs_frame(), "latency_b1_ms")
    assert data.dropped == 1 and 4 not in set(data.points["id"])
    with pytest.raises(ValueError, match="unknown cost axis"):
        compare._pareto_data(runs_frame(), "top1")


def _marker_of(fig: go.Figure) -> dict[int, tuple[str, str, float, float]]:
    """Run id -> (trace name, symbol, opacity, outline width), the chosen-runs overlay left out."""
    out = {}
    for t in fig.data:
        if t.mode != "markers" or t.customdata is None or t.name == "chosen":
            continue
        for k, rid in enumerate(t.customdata):
            symbol, opacity = t.marker.symbol, 1.0 if t.marker.opacity is None else t.marker.opacity
            symbol = symbol if isinstance(symbol, str) else symbol[k]  # per point or per trace
            opacity = opacity if np.isscalar(opacity) else opacity[k]
            width = t.marker.line.width if t.marker.line.width is not None else 0.0
            out[int(rid)] = (t.name, symbol, float(opacity), float(width))
    return out


def test_figure_faded_dominated_step_front_star_baseline() -> None:
    fig = compare.plot_pareto(runs_frame(), "size_artifact_bytes", log_x=True, selected=[3])
    by_id = _marker_of(fig)
    assert by_id[1][1] == "star" and by_id[5][1] == "star"  # baselines marked
    assert by_id[2][2] == 1.0 and by_id[2][3] == 1.0  # on the front: opaque, outlined
    assert by_id[3][0] == "dominated runs" and by_id[3][2] == compare.FADED  # dominated: faded
    chosen = next(t for t in fig.data if t.name == "chosen")
    assert list(chosen.customdata) == [3] and chosen.marker.line.width == 3  # the selected run outlined
    assert not any(t.name == "chosen" for t in compare.plot_pareto(runs_frame(), "size_artifact_bytes").data)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 2 and all(t.line.shape == "hv" for t in lines)  # one step line per dataset
    assert fig.layout.dragmode == "select" and fig.layout.xaxis.type == "log"
    prune = next(t for t in fig.data if t.name == "magnitude-prune")
    assert prune.text[0] == "lenet5 on digits · magnitude-prune(amount=0.5) · tags: a"  # hover: the recipe
    assert all("<" not in s for t in fig.data if t.text is not None for s in t.text)  # no markup per point
    assert len({by_id[i][1] for i in by_id if i not in (1, 5)}) == 1  # symbol = dataset, all digits
    named = [a for a in fig.layout.annotations if a.text.startswith("baseline ")]
    assert named and all(a.ay > 0 for a in named)  # under the star: above it the toolbar covered it on hover


def test_many_points_switch_to_webgl() -> None:
    df = pd.concat([runs_frame()] * 1000, ignore_index=True)
    df["id"] = np.arange(1, len(df) + 1)
    rng = np.random.default_rng(0)  # 5,000 distinct runs: nearly all dominated
    df["top1"], df["size_artifact_bytes"] = rng.uniform(0.5, 0.99, len(df)), rng.integers(1e3, 1e6, len(df))
    fig = compare.plot_pareto(df, "size_artifact_bytes")
    gl = [t for t in fig.data if t.type == "scattergl" and t.name == "dominated runs"]
    assert gl and all(isinstance(t.marker.color, str) for t in gl)  # one colour per trace, not per point
    drawn = [int(i) for t in fig.data if t.customdata is not None for i in t.customdata]
    assert sorted(drawn) == sorted(df["id"])  # every run drawn once, with its id for selection
    grey = compare.plot_pareto(df, "size_artifact_bytes", colour_dominated=False)
    faded = [t for t in grey.data if t.name == "dominated runs"]
    assert len(faded) == len({t.marker.symbol for t in gl}) < len(gl)  # one trace per symbol (dataset)
    assert {t.marker.color for t in faded} == {compare.GREY}
    small = runs_frame()
    small.loc[small["id"] == 3, "technique"] = "random-prune"  # its only run is dominated
    names = [t.name for t in compare.plot_pareto(small, "size_artifact_bytes").data]
    assert "random-prune" in names  # its colour is named: the faded run wears it
    assert "random-prune" not in [t.name for t in compare.plot_pareto(small, colour_dominated=False).data]
    assert {t.type for t in faded} == {"scattergl"} and sum(len(t.x) for t in faded) == sum(
        len(t.x) for t in gl
    )
    small = compare.plot_pareto(runs_frame(), "size_artifact_bytes")
    assert {t.type for t in small.data} == {"scatter"}


def test_selection_event_to_ids() -> None:
    event = {"selection": {"points": [{"customdata": 4}, {"customdata": [2]}, {"x": 1}, {"customdata": 4}]}}
    assert compare.selected_ids(event) == [2, 4]
    assert compare.selected_ids(None) == [] and compare.selected_ids({"selection": {}}) == []


def test_side_by_side_and_layers() -> None:
    df = runs_frame()
    table = compare.side_by_side(df[df["id"].isin([1, 2])])
    assert list(table.columns) == ["#1 baseline", "#2 magnitude-prune"]
    assert table.loc["Top-1 accuracy"].tolist() == ["98.00%", "97.00%"]
    assert table.loc["Recipe"].tolist()[0] == "baseline (no compression)"
    layers = compare._layers_data(df)
    assert layers[["run", "layer", "params"]].values.tolist() == [["#1 baseline", "fc1", 10]]
    fig = compare.plot_layers(df, "params")
    assert len(fig.data) == 1 and fig.layout.yaxis.type == "log"
    assert compare.plot_layers(df.iloc[1:2], "sparsity").data == ()  # no per-layer table: empty chart


def test_per_layer_bars_wear_technique_colours_and_keep_network_order() -> None:
    """A structured run's removed channels and a low-rank run's factors show in non-zero weights; a layer
    low rank split goes after its parent, not among the others; two runs of one technique: one hatched."""
    df = runs_frame().iloc[:4].copy()
    df["technique"] = ["baseline", "structured-prune", "low-rank", "structured-prune"]
    dense = [("conv", 100), ("fc", 50), ("out", 10)]
    df["layers"] = [
        [{"layer": n, "params": p, "sparsity": 0.0} for n, p in dense],
        [{"layer": n, "params": p // 2, "nonzero": p // 2, "sparsity": 0.0} for n, p in dense],
        [{"layer": n, "params": p} for n, p in [("conv", 100), ("fc.0", 8), ("fc.1", 9), ("out", 10)]],
        [{"layer": n, "params": p // 4, "sparsity": 0.0} for n, p in dense],
    ]
    data = compare._layers_data(df)
    assert compare.layer_order(data) == ["conv", "fc", "fc.0", "fc.1", "out"]
    fig = compare.plot_layers(df)  # the default quantity: non-zero weights
    assert fig.layout.yaxis.type == "log"
    assert [list(t.y) for t in fig.data][1:] == [[50, 25, 5], [100, 8, 9, 10], [25, 12, 2]]
    colours = [t.marker.color for t in fig.data]
    assert colours[1] == colours[3] == technique_colour("structured-prune") != colours[2]
    assert [t.marker.pattern.shape for t in fig.data] == ["", "", "", "/"]


def test_recipe_text_is_one_bounded_line() -> None:
    steps = [{"technique": "magnitude-prune", "amount": 0.5}, {"technique": "kmeans", "bits": 4}]
    assert compare.recipe_text(steps) == "magnitude-prune(amount=0.5) → kmeans(bits=4)"
    assert len(compare.recipe_text(steps * 50, limit=40)) == 40
    unset = [{"technique": "low-rank", "rank": 16, "exclude": [], "lr": None, "seed": 0}]
    assert compare.recipe_text(unset) == "low-rank(rank=16, seed=0)"  # no 'exclude=[]', 'lr=None


def test_paired_axis_is_one_over_the_speedup_with_its_iqr_as_error_bars() -> None:
    df = runs_frame()
    df["speedup_b256"] = [1.0, 2.0, 0.5, None, 1.0]
    df["speedup_b256_lo"] = [0.9, 1.6, 0.4, None, 0.95]
    df["speedup_b256_hi"] = [1.1, 2.5, 0.8, None, 1.05]
    data = compare._pareto_data(df, "rel_latency_b256")
    pts = data.points.set_index("id")
    assert data.dropped == 1  # run 4 was never timed
    assert pts.loc[2, "x"] == pytest.approx(0.5)  # 2x faster = half the baseline's latency
    assert (pts.loc[2, "x_lo"], pts.loc[2, "x_hi"]) == (pytest.approx(1 / 2.5), pytest.approx(1 / 1.6))
    fig = compare.pareto_figure(data, "rel_latency_b256")
    bars = [t for t in fig.data if t.error_x is not None and t.error_x.array is not None]
    assert bars, "paired runs carry their IQR as horizontal error bars"
    assert "paired" in fig.layout.xaxis.title.text and "interleaved" in fig.layout.xaxis.title.text
    table = compare.side_by_side(df.iloc[[1]])
    assert table.loc["Speed-up b256 vs own baseline (paired, IQR)"].iloc[0] == "2.00x (IQR 1.60-2.50x)"


def test_sparsity_is_against_the_original_baseline_when_known() -> None:
    df = runs_frame().iloc[[1]].copy()
    df["params_total"], df["params_nonzero"], df["baseline_params"] = 50, 50, 100  # half the channels removed
    assert compare.side_by_side(df).loc["Parameters gone (zero or removed)"].iloc[0] == "50.00%"
    df["baseline_params"] = 0  # a run recorded before lineage counts: its own shape
    assert compare.side_by_side(df).loc["Parameters gone (zero or removed)"].iloc[0] == "0.00%"


def test_a_single_run_gets_readable_axes() -> None:
    """The first recorded run alone: Plotly's own x range was +-0.001 % of its size and the ".0%" y ticks
    printed 98% twice; the x range now spans 0 to twice the run's cost (log: /1.5 to x1.5)."""
    one = runs_frame().iloc[[0]]
    fig = compare.plot_pareto(one, "size_artifact_bytes")
    assert tuple(fig.layout.xaxis.range) == (0, 180_000.0)
    assert fig.layout.yaxis.tickformat == ".1~%"
    log = compare.plot_pareto(one, "size_artifact_bytes", log_x=True)
    lo, hi = log.layout.xaxis.range
    assert lo < math.log10(90_000) < hi and hi - lo == pytest.approx(2 * math.log10(1.5))
    assert (
        compare.plot_pareto(runs_frame(), "size_artifact_bytes").layout.xaxis.range is None
    )  # several: auto


def test_a_run_recorded_without_timing_says_so_and_each_run_reads_its_change_against_its_baseline() -> None:
    """'Noisy timing: 0.000' and an empty 'Timed on' read like numbers; a run never timed says so."""
    df = runs_frame()
    df["latency_b256_ms"] = [1.0, 1.0, 1.0, None, 1.0]  # run 4 was recorded without timing
    df["latency_noisy"], df["cpu"] = (
        [False, True, False, float("nan"), False],
        ["CPU X", "CPU X", "CPU X", "", ""],
    )
    df["baseline_hash"] = ["w1", "w1", "w1", "w2", "w3"]
    df["threads"] = [1, 1, 1, 1, 1]
    table = compare.side_by_side(df[df["id"].isin([2, 4])], df)
    assert table.loc["Noisy timing (re-measure)"].tolist() == ["yes", "—"]
    assert table.loc["Timed on"].tolist() == ["CPU X", "not timed"]
    assert table.loc["Threads"].tolist() == ["1", "—"]  # the configured count is no measurement's
    assert table.loc["Top-1 change vs own baseline"].tolist() == ["-1.00 pts", "—"]  # run 4: no baseline run
    without_pool = compare.side_by_side(df.iloc[[1]])  # no runs to find the baseline in
    assert without_pool.loc["Top-1 change vs own baseline"].iloc[0] == "—"
