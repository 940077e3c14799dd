"""Distillation charts: the extracted numbers and the figures built from them."""

from __future__ import annotations

import math

import pytest
import torch

from compression.charts import distillation as C

CLASSES = ("T-shirt", "Trouser", "Pullover", "Shirt")


def _logits(n: int = 40) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 4
    z = torch.randn(n, 4, generator=g) + 6 * torch.nn.functional.one_hot(y, 4)
    return z, y


def test_soft_targets_flatten_as_t_rises() -> None:
    z, _ = _logits()
    low, high = C.soft_target_data(z[0], 1.0, CLASSES), C.soft_target_data(z[0], 20.0, CLASSES)
    assert sum(high["p_t"]) == pytest.approx(1.0)
    assert low["p_t"] == pytest.approx(low["p_1"])
    assert high["entropy_t"] > low["entropy_t"]
    fig = C.plot_soft_targets(high)
    assert [t.name for t in fig.data] == ["T = 1 (plain softmax)", "T = 20 (soft targets)"]
    assert list(fig.data[1].y) == pytest.approx(high["p_t"])
    assert "entropy" in fig.layout.title.text


def test_entropy_curve_marks_the_current_t() -> None:
    z, _ = _logits()
    d = C.entropy_data(z[0], z, 4.0, len(CLASSES))
    assert d["max"] == pytest.approx(math.log2(4))
    assert d["image"][0] < d["image"][-1] <= d["max"]
    fig = C.plot_entropy(d)
    assert fig.layout.xaxis.type == "log"
    assert list(fig.data[2].x) == [4.0, 4.0] and fig.data[2].y[0] == pytest.approx(d["at_t"])


def test_similarity_hides_the_diagonal_and_speaks() -> None:
    z, y = _logits()
    d = C.similarity_data(z, y, 4.0, CLASSES)
    assert all(math.isnan(d["off_diagonal"][i][i]) for i in range(4))
    assert all(sum(row) == pytest.approx(1.0) for row in d["matrix"])
    assert d["sentences"][0].startswith("a T-shirt looks like ")
    fig = C.plot_similarity(d)
    assert fig.data[0].z[0][0] is None and fig.data[0].z[0][1] is not None


def test_training_curves_and_sweeps() -> None:
    hist = [
        {"epoch": 1, "val_distilled": 0.8, "val_scratch": 0.7},
        {"epoch": 2, "val_distilled": 0.85, "val_scratch": 0.75},
    ]
    fig = C.plot_training_curves(hist, teacher_top1=0.9)
    assert [t.name for t in fig.data] == ["distilled", "scratch twin"]
    assert list(fig.data[0].y) == [0.8, 0.85]
    rows = [
        {"temperature": 2.0, "distilled": 0.8, "scratch": 0.7},
        {"temperature": 2.0, "distilled": 0.9, "scratch": 0.7},
        {"temperature": 8.0, "distilled": 0.85, "scratch": 0.7},
    ]
    d = C.sweep_data(rows, "temperature")
    assert d["x"] == [2.0, 8.0] and d["distilled"] == pytest.approx([0.85, 0.85])
    assert d["distilled_lo"] == pytest.approx([0.8, 0.85]) and d["distilled_hi"] == pytest.approx([0.9, 0.85])
    fig = C.plot_sweep(d)
    assert list(fig.data[0].error_y.array) == pytest.approx([0.05, 0.0])
