"""Pareto maths against brute-force definitions (hypothesis) and against optuna's private helpers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compression import pareto

DIRS = st.lists(st.sampled_from(["max", "min"]), min_size=2, max_size=3)


@st.composite
def problems(draw: st.DrawFn, max_n: int = 25, grid: int | None = None) -> tuple[np.ndarray, list[str]]:
    dirs = draw(DIRS)
    n = draw(st.integers(0, max_n))
    if grid is not None:
        value = st.integers(0, grid - 1).map(float)
    else:  # small integers mixed with floats: many ties and duplicates, the hard cases
        value = st.one_of(st.integers(0, 4).map(float), st.floats(-100, 100, allow_nan=False))
    pts = draw(st.lists(st.lists(value, min_size=len(dirs), max_size=len(dirs)), min_size=n, max_size=n))
    return np.array(pts, dtype=float).reshape(n, len(dirs)), dirs


def brute_dominates(a: np.ndarray, b: np.ndarray, dirs: list[str]) -> bool:
    better_or_equal = all((x >= y) if d == "max" else (x <= y) for x, y, d in zip(a, b, dirs, strict=True))
    strictly = any((x > y) if d == "max" else (x < y) for x, y, d in zip(a, b, dirs, strict=True))
    return better_or_equal and strictly


def brute_ranks(pts: np.ndarray, dirs: list[str]) -> list[int]:
    """Definition: peel off the non-dominated set again and again."""
    ranks = [-1] * len(pts)
    left = set(range(len(pts)))
    r = 0
    while left:
        front = {i for i in left if not any(brute_dominates(pts[j], pts[i], dirs) for j in left if j != i)}
        for i in front:
            ranks[i] = r
        left -= front
        r += 1
    return ranks


@settings(max_examples=300, deadline=None)
@given(problems())
def test_front_is_exactly_the_non_dominated_points(problem: tuple[np.ndarray, list[str]]) -> None:
    pts, dirs = problem
    mask = pareto.non_dominated(pts, dirs)
    for i in range(len(pts)):
        dominated = any(brute_dominates(pts[j], pts[i], dirs) for j in range(len(pts)) if j != i)
        assert mask[i] == (not dominated)


@settings(max_examples=300, deadline=None)
@given(problems())
def test_ranks_match_repeated_peeling(problem: tuple[np.ndarray, list[str]]) -> None:
    pts, dirs = problem
    assert pareto.front_ranks(pts, dirs).tolist() == brute_ranks(pts, dirs)


@settings(max_examples=200, deadline=None)
@given(problems(max_n=12, grid=6))
def test_hypervolume_counts_dominated_grid_cells(problem: tuple[np.ndarray, list[str]]) -> None:
    """On an integer grid the hypervolume is the number of unit cells some point dominates."""
    pts, dirs = problem
    # Reference: the far corner of the grid in every direction (min: 6, max: -1).
    ref = [6.0 if d == "min" else -1.0 for d in dirs]
    to_min = np.array([1.0 if d == "min" else -1.0 for d in dirs])
    pm, rm = pts * to_min, np.array(ref) * to_min
    lows = [range(-6, int(r)) for r in rm]  # covers every grid value in both directions
    cells = 0
    for cell in itertools.product(*lows):  # cell [c, c+1) per axis
        if any(np.all(p <= np.array(cell)) for p in pm):
            cells += 1
    assert pareto.hypervolume(pts, ref, dirs) == pytest.approx(cells)


@settings(max_examples=100, deadline=None)
@given(problems(max_n=30))
def test_hypervolume_matches_optuna(problem: tuple[np.ndarray, list[str]]) -> None:
    from optuna._hypervolume import compute_hypervolume

    pts, dirs = problem
    to_min = np.array([1.0 if d == "min" else -1.0 for d in dirs])
    ref_min = np.full(len(dirs), 101.0)
    ref = (ref_min * to_min).tolist()
    expected = compute_hypervolume(pts * to_min, ref_min) if len(pts) else 0.0
    assert pareto.hypervolume(pts, ref, dirs) == pytest.approx(expected, rel=1e-9, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(problems(), st.integers(0, 10**6))
def test_front_ignores_order_and_dominated_additions(
    problem: tuple[np.ndarray, list[str]], seed: int
) -> None:
    pts, dirs = problem
    perm = np.random.default_rng(seed).permutation(len(pts))
    assert (pareto.non_dominated(pts[perm], dirs) == pareto.non_dominated(pts, dirs)[perm]).all()
    if len(pts):  # a copy of a point made worse in every objective is dominated and changes no HV
        worse = pts[:1] + np.array([-1.0 if d == "max" else 1.0 for d in dirs])
        both = np.vstack([pts, worse])
        assert not pareto.non_dominated(both, dirs)[-1]
        ref = [-1e3 if d == "max" else 1e3 for d in dirs]
        assert pareto.hypervolume(both, ref, dirs) == pytest.approx(pareto.hypervolume(pts, ref, dirs))


def test_hand_computed_examples() -> None:
    acc_size = [[0.9, 100.0], [0.8, 50.0], [0.7, 80.0], [0.95, 400.0]]
    assert pareto.non_dominated(acc_size, ["max", "min"]).tolist() == [True, True, False, True]
    assert pareto.front_ranks(acc_size, ["max", "min"]).tolist() == [0, 0, 1, 0]
    # min/min squares: (1,2) and (2,1) against (3,3): 2 + 2 - 1 overlap = 3
    assert pareto.hypervolume([[1, 2], [2, 1]], [3, 3], ["min", "min"]) == pytest.approx(3.0)
    # a unit cube corner at the origin against (1,1,1)
    assert pareto.hypervolume([[0, 0, 0]], [1, 1, 1], ["min"] * 3) == pytest.approx(1.0)
    assert pareto.hypervolume([[2, 2]], [1, 1], ["min", "min"]) == 0.0
    assert pareto.dominates([0.9, 10], [0.8, 10], ["max", "min"])
    assert not pareto.dominates([0.9, 10], [0.9, 10], ["max", "min"])


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="directions"):
        pareto.non_dominated([[1, 2]], ["max"])
    with pytest.raises(ValueError, match="NaN"):
        pareto.front_ranks([[1, float("nan")]], ["max", "min"])
    with pytest.raises(ValueError, match="direction"):
        pareto.non_dominated([[1, 2]], ["max", "up"])
