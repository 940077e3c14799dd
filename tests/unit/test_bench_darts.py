"""bench/darts.py's seed summary: searches that differ only in their search seed are set side by side against
their random cells, whatever their keys; one seed alone, or another configuration, is not grouped."""

from __future__ import annotations

from typing import Any

from bench import darts

CONFIG = {"epochs": 10, "retrain_epochs": 15, "partial_channels": 4, "seed": 0}
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
