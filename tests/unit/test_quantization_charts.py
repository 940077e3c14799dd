"""Quantization charts: the extracted data is right, and every figure builds."""

from __future__ import annotations

import numpy as np
import torch

from compression.charts import quantization as charts
from compression.metrics import Measurement
from compression.quantization import core


def test_grid_data_levels_and_clip() -> None:
    w = torch.randn(8, 50)
    q = core.quantize_linear(w, 3, symmetric=True, per_channel=True)
    d = charts._grid_data(w, q, channel=2)
    levels = np.asarray(d["levels"])
    assert len(levels) == 7 and d["channel"] == 2  # restricted symmetric range: 2^3 - 1 levels
    assert np.isclose(levels, -levels[::-1]).all() and 0.0 in levels
    assert d["clip"] == (levels[0], levels[-1]) and d["clipped_share"] == 0.0
    assert len(np.asarray(d["values"])) == 50  # one channel's weights


def test_grid_figure_draws_one_line_per_level_up_to_the_cap() -> None:
    w = torch.randn(4, 300)
    for bits, lines in ((2, 3), (4, 15), (8, charts.MAX_LEVEL_LINES)):
        fig = charts.plot_grid(w, core.quantize_linear(w, bits))
        assert sum(1 for s in fig.layout.shapes if s.type == "line") == lines
        thinned = "of them drawn" in fig.layout.title.text  # the title says when lines are thinned
        assert thinned == (bits == 8)
    km = core.quantize_kmeans(w, 2)
    assert sum(1 for s in charts.plot_grid(w, km).layout.shapes if s.type == "line") == 4


def test_codes_image_has_one_colour_per_level() -> None:
    q = core.quantize_ternary(torch.randn(10, 20))
    fig = charts.plot_codes(q)
    assert "3 colours" in fig.layout.title.text
    assert set(np.unique(charts._codes_data(q))) <= {0, 1, 2}


def test_error_data_within_half_step() -> None:
    w = torch.randn(6, 100)
    q = core.quantize_linear(w, 4, per_channel=False)
    d = charts._error_data(w, q)
    assert d["max"] <= d["half_step"] + 1e-6
    charts.plot_error(w, q)


def test_side_by_side_curves_and_sensitivity() -> None:
    w = torch.randn(6, 40)
    side = charts._side_data(w, {"binary": core.quantize_binary(w), "ternary": core.quantize_ternary(w)})
    assert len(side[1]["levels"]) <= 3
    fig = charts.plot_side_by_side(w, {"log": core.quantize_log(w, 3), "ternary": core.quantize_ternary(w)})
    assert [t.name for t in fig.data] == ["float weights", "log", "ternary"]
    assert list(fig.data[2].x) == list(side[1]["levels"]) and sum(fig.data[2].customdata[:, 0]) == w.numel()
    rows = [{"scheme": "fp32", "bits": 32, "top1": 0.9}, {"scheme": "linear", "bits": 2, "top1": 0.5}]
    rows += [{"scheme": "linear", "bits": 8, "top1": 0.9}]
    assert charts._curves_data(rows)["linear"] == [(2, 0.5), (8, 0.9)]
    assert len(charts.plot_bit_curves(rows).data) == 1
    sens = [{"layer": "a", "bits": 2, "drop": 0.1}, {"layer": "b", "bits": 4, "drop": 0.0}]
    layers, bits, z = charts._sensitivity_data(sens)
    assert layers == ["a", "b"] and bits == [2, 4] and z[0, 0] == 10.0 and np.isnan(z[0, 1])
    charts.plot_sensitivity(sens)


def test_size_latency_bars() -> None:
    m = Measurement(0.9, 1.0, 0.3, 100, 100, 32.0, 400, 400, 450, 10, 10, 1.0, 2.0, 1, True)
    q = Measurement(0.9, 1.0, 0.3, 100, 100, 4.0, 400, 50, 80, 10, 10, None, None, 1, True)
    d = charts._size_latency_data(m, q)
    assert [v for _, v in d["size"]] == [0.4, 0.05, 0.08]  # KB: decimal, as every card
    fig = charts.plot_size_latency(m, q)
    assert len(fig.data) == 2 and len(fig.data[1].x) == 2  # quantized latency unknown: float bars only
    assert fig.layout.annotations[1].text == "latency (ms; this model not timed)"  # not called paired
    timed = Measurement(0.9, 1.0, 0.3, 100, 100, 4.0, 400, 50, 80, 10, 10, 0.5, 1.5, 1, True)
    assert charts.plot_size_latency(m, timed).layout.annotations[1].text == "latency (ms, paired medians)"


def test_layer_bits_data_and_figure_show_the_parameter_weighted_mean() -> None:
    bits = {"fc1": 3, "fc2": 1, "fc3": 8}
    params = {"fc1": 235_200, "fc2": 30_000, "fc3": 1_000}
    d = charts._layer_bits_data(bits, params)
    assert d.layers == ["fc1", "fc2", "fc3"] and d.bits == [3, 1, 8]
    assert np.isclose(d.mean, (3 * 235_200 + 30_000 + 8 * 1_000) / 266_200)  # not the plain mean 4.0
    assert np.isclose(sum(d.share), 1.0)
    fig = charts.plot_layer_bits(bits, params, budget=3.0)
    assert list(fig.data[0].y) == [3, 1, 8]
    assert [row[0] for row in fig.data[0].customdata] == [235_200, 30_000, 1_000]  # hover: weights per layer
    lines = sorted(s.y0 for s in fig.layout.shapes if s.type == "line")
    assert np.allclose(lines, sorted([3.0, d.mean]))  # the budget and the achieved mean
    assert f"mean {d.mean:.2f}" in fig.layout.title.text and "3-bit budget" in fig.layout.title.text
    no_budget = charts.plot_layer_bits(bits, params)
    assert len([s for s in no_budget.layout.shapes if s.type == "line"]) == 1


def test_codes_image_of_many_levels_uses_one_colour_scale() -> None:
    q = core.quantize_linear(torch.randn(10, 20), 8, per_channel=False)
    fig = charts.plot_codes(q)
    assert "255 codes, one colour scale" in fig.layout.title.text
    assert len(fig.data[0].colorscale) < 2 * charts.DISCRETE_CODES  # not 510 stops
    assert (fig.data[0].zmin, fig.data[0].zmax) == (-0.5, 254.5)  # a code keeps its colour whatever is used
