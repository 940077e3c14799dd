"""bench/darts.py: the seed summary (searches that differ only in their search seed are set side by side against
their random cells, whatever their keys; one seed alone, or another configuration, is not grouped), and the
timing of batched cells against the edge-by-edge reference."""

from __future__ import annotations

from typing import Any

import torch

from bench import darts
from compression.search.darts.batched import edge_by_edge
from compression.search.darts.network import SearchCell, SearchNetwork

CONFIG = {"epochs": 10, "retrain_epochs": 15, "partial_channels": 4, "seed": 0}
PC = {
    "subset": 512,
    "network": {"cells": 5, "nodes": 3, "channels": 8, "batch": 64},
    "pairs": [
        {
            "pair": 0,
            "first": 1,
            "load": 1.0,
            "k1_epoch_s": 7.0,
            "k4_epoch_s": 3.0,
            "ratio": 2.3,
            "cpu_ratio": 2.3,
        }
    ],
    "ratio_median": 2.3,
    "ratio_min": 2.3,
    "ratio_max": 2.3,
    "cpu_ratio_median": 2.3,
    "met": True,
}
RANDOM = {str(i): {"top1": t} for i, t in enumerate((0.91, 0.905, 0.915), start=1)}


def _search(seed: int, top1: float, **config: Any) -> dict[str, Any]:
    return {
        "config": {**CONFIG, **config},
        "random_key": "random15",
        "search_seed": seed,
        "search": {"wall_s": 600.0, "load_before": 1.0, "load_after": 2.0},
        "derived": {"top1": top1, "params": 45_000},
    }


def test_seeds_of_one_configuration_are_grouped_and_summed_up() -> None:
    res = {
        "random15": RANDOM,
        "search_b": _search(1, 0.915),
        "search_a": _search(0, 0.92),
        "search_c": _search(2, 0.89),
        "search_other": _search(0, 0.93, epochs=13),  # another configuration: alone, not grouped
        "search_partial": {"config": CONFIG, "random_key": "random15"},  # still retraining: no cell yet
        "machines": {"search_a": {"cpu": "Xeon"}},
    }
    assert darts.seed_groups(res) == [("random15", ["search_a", "search_b", "search_c"])]
    text = "\n".join(darts._render_seeds(res))
    assert "| 0 | search_a | Xeon | 600 |" in text and "| 1 | search_b | ? |" in text
    assert "+1.00 points" in text and "-2.00 points" in text  # against the random mean 91.0 %
    assert "mean 90.83 % against the random cells' 91.00 % (-0.17 points); 2 of 3 ahead" in text
    assert "2 of 3 at 91 % or more" in text


def test_a_retrained_search_names_the_machine_its_search_ran_on() -> None:
    res = {
        "random15": RANDOM,
        "search_x": {**_search(0, 0.92), "from_key": "search_w"},
        "search_y": _search(1, 0.90),
        "machines": {"search_x": {"cpu": "Xeon"}, "search_w": {"cpu": "EPYC"}},
    }
    assert "| 0 | search_x | EPYC |" in "\n".join(darts._render_seeds(res))


def test_cell_forward_swaps_in_the_edge_by_edge_reference_and_restores_the_batched_cell() -> None:
    torch.manual_seed(0)
    net = SearchNetwork((1, 8, 8), 10, channels=4, cells=2, nodes=2, partial=2)
    x = torch.randn(4, 1, 8, 8)
    batched_forward = SearchCell.forward
    with darts.cell_forward(batched=False):
        assert SearchCell.forward is edge_by_edge
        reference = net(x)
    assert SearchCell.forward is batched_forward
    torch.testing.assert_close(net(x), reference, rtol=1e-5, atol=1e-5)


def test_the_batched_section_renders_its_rounds_and_median_ratios() -> None:
    rounds = [
        {
            "round": i,
            "load": 1.0,
            "k1_edges_s": 7.5,
            "k1_batched_s": 7.0,
            "k4_edges_s": 4.0,
            "k4_batched_s": 3.0,
        }
        for i in range(2)
    ]
    section = {
        "subset": 512,
        "network": {"channels": 8},
        "rounds": rounds,
        "speedup": {"k1": 7.5 / 7.0, "k4": 4.0 / 3.0},
        "pc_ratio": {"edges": 7.5 / 4.0, "batched": 7.0 / 3.0},
    }
    text = darts.render({"batched_c8": section})
    assert "| 1 | 1.0 | 7.5 | 7.0 | 4.0 | 3.0 |" in text
    assert "**1.07x** at K=1, **1.33x** at K=4" in text and "1.88x edge by edge, **2.33x** batched" in text
    assert "C=8, edge by edge (before 6ce1006)" in darts.render({"pc": {**PC, "forward": None}})
    assert "C=8, each node's edges batched" in darts.render({"pc": {**PC, "forward": "batched"}})


def test_the_proxy_section_sets_short_training_against_retraining_and_picks_within_seed_pairs() -> None:
    res: dict[str, Any] = {
        "random15": {"1": {"top1": 0.91, "params": 33_000, "genotype": {}}},
        "search_a": _search(0, 0.92),
        "search_b": _search(1, 0.90),
        "search_c": _search(2, 0.89),
        "search_d": _search(3, 0.93),
        "proxy_config": {"epochs": 2, "subset": 20_000},
    }
    train = {"wall_s": 70.0}
    val = {"search_a": 0.86, "search_b": 0.87, "search_c": 0.85, "search_d": 0.88, "random15/1": 0.875}
    assert [n for n, _ in darts.proxy_cells(res)] == [*list(val)]
    res["proxy"] = {n: {"val_top1": v, "top1": dict(darts.proxy_cells(res))[n]["top1"], "params": 1, "train": train}
                    for n, v in val.items()}  # fmt: skip
    text = "\n".join(darts._render_proxy(res))
    assert "| search_b | 1 | 87.00 % | 90.00 % |" in text and "| random15/1 |" in text
    # pairs (a, b): picks b, the worse; (c, d): picks d, the better
    assert "picks the cell that retrains better in 1 of 2 pairs" in text
    assert "the picked cells average 91.50 %" in text
    assert darts._render_proxy({k: v for k, v in res.items() if k != "proxy"}) == []
    one = "\n".join(darts._render_proxy({**res, "proxy": {"search_a": res["proxy"]["search_a"]}}))  # mid-run
    assert "| search_a |" in one and "pairs" not in one and "Spearman" not in one
