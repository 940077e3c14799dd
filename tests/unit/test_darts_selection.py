"""Perturbation-based selection (DARTS-PT): scores are the validation loss's rise when one op is struck."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from compression import data
from compression.search import darts
from compression.search.darts.genotype import NONE, edge_count
from compression.search.darts.network import SearchNetwork
from compression.search.darts.search import search_halves
from compression.search.darts.selection import evaluations, perturbation_scores

CFG = darts.DartsConfig(
    dataset="digits", epochs=1, cells=2, nodes=2, channels=4, search_subset=200, batch_size=50
)


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


def _net(ds: data.Dataset) -> SearchNetwork:
    torch.manual_seed(0)
    return SearchNetwork(ds.input_shape, ds.num_classes, channels=4, cells=2, nodes=2)


def _loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(nn.functional.cross_entropy(net(x), y))


def test_each_score_is_the_loss_rise_with_that_op_struck_out(digits: data.Dataset) -> None:
    net = _net(digits)
    with torch.no_grad():
        net.alphas_normal.normal_(0, 1)  # distinct op weights, so every op matters differently
    x, y = digits.x_train[:120], digits.y_train[:120]
    scores = perturbation_scores(net, x, y, reduction=False)
    assert len(scores) == edge_count(2) and all(len(r) == len(darts.OPS) for r in scores)
    assert all(r[NONE] == float("-inf") for r in scores)
    assert net.training and not net.op_masks  # left as found

    net.eval()
    base = _loss(net, x, y)
    mask = torch.ones(edge_count(2), len(darts.OPS))
    mask[3, 5] = 0.0
    net.op_masks[False] = mask
    assert scores[3][5] == pytest.approx(_loss(net, x, y) - base, abs=1e-5)
    assert len({round(v, 6) for r in scores for v in r if v != float("-inf")}) > 10  # not all alike


def test_an_op_with_no_weight_scores_zero_and_a_dominant_op_scores_highest(digits: data.Dataset) -> None:
    net = _net(digits)
    with torch.no_grad():
        net.alphas_reduce.zero_()
        net.alphas_reduce[0, 1] = float(
            "-inf"
        )  # max pool on edge 0 carries no weight: striking it is a no-op
        net.alphas_reduce[2, 4] = 8.0  # sep conv 3x3 carries almost all of edge 2
    scores = perturbation_scores(net, digits.x_train[:100], digits.y_train[:100], reduction=True)
    assert scores[0][1] == pytest.approx(0.0, abs=1e-6)
    assert max(range(1, len(darts.OPS)), key=lambda o: abs(scores[2][o])) == 4


def test_a_search_with_perturbation_selection_derives_from_its_scores(digits: data.Dataset) -> None:
    fractions: list[float] = []
    cfg = dataclasses.replace(CFG, selection="perturbation", cure="cap-skips")
    result = darts.search(cfg, digits, progress=lambda f, m: fractions.append(f), device="cpu")
    scores = result.selection_scores
    assert scores is not None and result.selection_seconds > 0
    expected = darts.Genotype(
        darts.derive(scores["normal"], 2, cap_skips=darts.MAX_SKIPS), darts.derive(scores["reduce"], 2)
    )
    assert result.genotype == expected
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert sum(f > 0.85 for f in fractions) == evaluations(edge_count(2), len(darts.OPS))
    assert result.records[-1].genotype == darts.Genotype(  # the epoch records stay alpha-derived
        darts.derive(result.records[-1].ranked_normal, 2, cap_skips=darts.MAX_SKIPS),
        darts.derive(result.records[-1].ranked_reduce, 2),
    )


def test_alpha_selection_computes_no_scores(digits: data.Dataset) -> None:
    result = darts.search(CFG, digits, device="cpu")
    assert result.selection_scores is None and result.selection_seconds == 0.0
    _, _, xa, _ = search_halves(digits, CFG)
    assert len(xa) == 100
