"""bench/darts_gpu.py: several calls' files combine part by part, and the GPU section's verdicts follow
the numbers (a margin inside half the random cells' spread is not a win)."""

from __future__ import annotations

from typing import Any

from bench import darts_gpu

GENOTYPE = {"normal": [["sep_conv_3x3", 0]] * 6, "reduce": [["max_pool_3x3", 0]] * 6}
CONFIG = {
    "epochs": 10,
    "warmup_epochs": 4,
    "search_subset": 10000,
    "partial_channels": 4,
    "arch_lr": 0.03,
    "cure": "cap-skips",
    "retrain_epochs": 10,
    "retrain_subset": 0,
}


def _net(top1: float) -> dict[str, Any]:
    return {"top1": top1, "params": 50_000, "skips": 0, "label": "x 1", "retrain": {"wall_s": 100.0}}


def _run(started: str, seeds: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "gpu": {"name": "GPU", "torch": "2", "cuda": "13"},
        "machine": {"cpu_isa": "CPU", "python": "3.12"},
        "threads": 1,
        "started": started,
        "target": {
            "config": CONFIG,
            "search": {"wall_s": 200.0},
            "search_epochs": [],
            "genotype": GENOTYPE,
            "derived": _net(0.915),
        },
        "seeds": seeds or {"processes": 3, "done": {}, "unfinished": ["random:1"]},
    }


def _randoms(*tops: float) -> dict[str, Any]:
    done = {f"random:{i}": {**_net(t), "label": f"random {i}"} for i, t in enumerate(tops, 1)}
    return {"processes": len(tops), "done": done, "unfinished": []}


def test_a_later_call_fills_the_part_an_earlier_one_did_not_finish() -> None:
    first, second = _run("t1"), {**_run("t2", _randoms(0.91, 0.912)), "target": None}
    both = darts_gpu.combined([first, second])
    assert both["target"]["started"] == "t1"  # the second call ran no target
    assert both["seeds"]["started"] == "t2" and len(both["seeds"]["done"]) == 2


def test_the_verdict_needs_a_margin_beyond_half_the_random_spread() -> None:
    win = "\n".join(darts_gpu.render({"gpu": darts_gpu.combined([_run("t", _randoms(0.910, 0.911, 0.912))])}))
    assert "+0.40 points" in win and "beats the random mean retrained the same way **met**" in win
    tie = "\n".join(darts_gpu.render({"gpu": darts_gpu.combined([_run("t", _randoms(0.905, 0.914, 0.916))])}))
    assert "+0.33 points" in tie and "**MISSED**" in tie  # spread 1.1 points: 0.33 is inside it


def test_the_cpu_retraining_of_the_same_cell_is_set_beside_it() -> None:
    res = {
        "gpu": darts_gpu.combined([_run("t", _randoms(0.910, 0.911, 0.912))]),
        "gpu_cell_cpu": _net(0.909),
        "random10": {"1": _net(0.912), "2": _net(0.913), "3": _net(0.911)},
    }
    text = "\n".join(darts_gpu.render(res))
    assert "the same cell reaches 90.90 %, 0.60 points below its GPU retraining" in text
    assert "-0.30 points from the random cells' CPU mean (91.20 %" in text
    assert "-0.20, -0.20, +0.10 points GPU against CPU" in text
