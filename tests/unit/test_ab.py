"""The A/B view's pure helpers: deltas and verdicts in each metric's sense, what changed, shared bins."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from compression import fmt
from compression.charts import ab
from compression.metrics import Measurement
from tests.unit.test_metrics import _measurement

BASE = _measurement()  # the same made-up measurement as the metrics tests


def rows_by_metric(a: Measurement, b: Measurement, metrics: tuple[ab.Metric, ...] = ab.HEADLINE) -> dict:
    return {r["metric"]: r for r in ab.delta_rows(a, b, metrics)}


def test_verdicts_follow_each_metrics_sense() -> None:
    """B less accurate but smaller and faster: accuracy worse, sizes and speed better, MACs the same."""
    a = dataclasses.replace(BASE, speedup_b256=1.0)
    b = dataclasses.replace(
        BASE, top1=0.85, size_artifact_bytes=2050, size_theoretical_bytes=1000, speedup_b256=1.5
    )
    rows = rows_by_metric(a, b)
    assert rows["Top-1 accuracy"]["verdict"] == ab.WORSE
    assert rows["Top-1 accuracy"]["B - A"] == "-5.00 pts"
    assert rows["Measured size (file)"]["verdict"] == ab.BETTER
    assert rows["Measured size (file)"]["B - A"] == f"-{fmt.bytes_(2050)} (0.50x of A)"
    assert rows["Theoretical size"]["verdict"] == ab.BETTER
    assert rows["MACs / image"]["verdict"] == ab.SAME
    assert rows["Speed-up, batch 256"]["verdict"] == ab.BETTER
    assert rows["Speed-up, batch 256"]["B - A"] == "+0.50x"
    # the other way round, every verdict flips (same stays same)
    back = rows_by_metric(b, a)
    assert back["Top-1 accuracy"]["verdict"] == ab.BETTER
    assert back["Measured size (file)"]["verdict"] == ab.WORSE
    assert back["Measured size (file)"]["B - A"].startswith("+")
    assert back["Speed-up, batch 256"]["verdict"] == ab.WORSE


def test_fewer_bits_is_better_and_an_untimed_side_is_not_judged() -> None:
    a, b = BASE, dataclasses.replace(BASE, effective_bits=4.0, speedup_b256=2.0)
    rows = rows_by_metric(a, b, (*ab.HEADLINE, ab.BITS))
    assert (
        rows["Effective bits per weight"]["verdict"] == ab.BETTER
        and rows["Effective bits per weight"]["B - A"] == "-28.00"
    )
    speed = rows["Speed-up, batch 256"]
    assert speed["verdict"] == ab.UNMEASURED and speed["A"] == "not timed" and speed["B - A"] == ""


def test_a_metric_without_a_better_direction_says_higher_or_lower() -> None:
    nonzero = ab.Metric(
        "params_nonzero", "Non-zero weights", fmt.count, lambda x, y: f"{y - x:+,.0f}", None, 0.5
    )
    rows = rows_by_metric(BASE, dataclasses.replace(BASE, params_nonzero=400), (nonzero,))
    assert rows["Non-zero weights"]["verdict"] == ab.LOWER
    assert ab.verdict_colour(ab.LOWER) == "" and ab.verdict_colour(ab.BETTER) != ab.verdict_colour(ab.WORSE)


def test_changes_below_the_shown_rounding_read_same() -> None:
    b = dataclasses.replace(BASE, top1=0.90 + 1e-6)
    assert rows_by_metric(BASE, b)["Top-1 accuracy"]["verdict"] == ab.SAME


def test_only_differing_controls_are_listed_in_label_order() -> None:
    labels = {"amount": "Prune rate", "method": "Method", "scope": "Scope"}
    a = {"amount": "0.50", "method": "Magnitude", "scope": "layer"}
    b = {"amount": "0.80", "method": "Magnitude", "scope": "global"}
    assert ab.changed(labels, a, b) == [
        {"control": "Prune rate", "A": "0.50", "B": "0.80"},
        {"control": "Scope", "A": "layer", "B": "global"},
    ]
    assert ab.changed(labels, a, dict(a)) == []


def _net(scale: float = 1.0) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 10), nn.ReLU(), nn.Linear(10, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(scale)
    return net


def test_weight_histograms_share_the_baselines_bins_and_count_every_weight() -> None:
    base = _net()
    edges = ab.weight_edges(base, bins=21)
    assert len(edges) == 22 and edges[0] == pytest.approx(-edges[-1])
    pruned = _net()
    with torch.no_grad():
        pruned[0].weight[:, :10] = 0
    before, after = ab.weight_counts(base, edges), ab.weight_counts(pruned, edges)
    assert before["n"] == after["n"] == 20 * 10 + 10 * 4
    assert int(before["counts"].sum()) == before["n"] and int(after["counts"].sum()) == after["n"]
    assert after["zeros"] == 100 and before["zeros"] == 0
    assert after["counts"][10] >= 100  # 0 sits in the middle bin (odd count)
    # a side whose weights grew past the baseline's range still counts every weight (end bins)
    wide = ab.weight_counts(_net(3.0), edges)
    assert int(wide["counts"].sum()) == wide["n"]


def test_weight_figure_shows_what_the_toggle_asks_on_one_y_scale() -> None:
    base = _net()
    edges = ab.weight_edges(base)
    counts = ab.weight_counts(base, edges)
    only_after = ab.plot_weights(edges, {"after": counts}, "A: after", y_max=1000)
    assert [t.name.split(" ")[0] for t in only_after.data] == ["after"]
    assert only_after.layout.yaxis.range[1] == pytest.approx(np.log10(1000) + 0.15)
    both = ab.plot_weights(edges, {"before": counts, "after": counts}, "A: both")
    assert [t.name.split(" ")[0] for t in both.data] == ["before", "after"]
    assert both.layout.title.text == "A: both"
