"""Pareto maths: non-dominated sorting and hypervolume for 2 or 3 objectives.

Each objective has a direction ("max" for accuracy, "min" for size, MACs, latency). Internally
every objective is turned into a minimisation by negating the "max" columns.

Hand-written with numpy: optuna has equivalents (`optuna.study._multi_objective`,
`optuna._hypervolume`) but only as private, unstable APIs over its own Trial objects; the
tests check these functions against brute-force definitions and against optuna's private ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Direction = Literal["max", "min"]
Points = np.ndarray | Sequence[Sequence[float]]


def _as_min(points: np.ndarray | Sequence[Sequence[float]], directions: Sequence[Direction]) -> np.ndarray:
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2:
        pts = pts.reshape(len(pts), -1)
    if pts.shape[1] != len(directions):
        raise ValueError(f"{pts.shape[1]} objectives but {len(directions)} directions")
    for d in directions:
        if d not in ("max", "min"):
            raise ValueError(f"direction must be 'max' or 'min', not {d!r}")
    if np.isnan(pts).any():
        raise ValueError("objective values must not be NaN (drop runs without that measurement first)")
    sign = np.array([-1.0 if d == "max" else 1.0 for d in directions])
    return pts * sign


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Direction]) -> bool:
    """a is at least as good as b in every objective and strictly better in one."""
    pa, pb = _as_min([a, b], directions)
    return bool(np.all(pa <= pb) and np.any(pa < pb))


class _Rank:
    """The members of one front as a growing array (amortised O(1) append)."""

    def __init__(self, dims: int) -> None:
        self.buf = np.empty((16, dims))
        self.n = 0

    def append(self, p: np.ndarray) -> None:
        if self.n == len(self.buf):
            self.buf = np.concatenate([self.buf, np.empty_like(self.buf)])
        self.buf[self.n] = p
        self.n += 1

    def dominates(self, p: np.ndarray) -> bool:
        m = self.buf[: self.n]
        return bool(np.any(np.all(m <= p, axis=1) & np.any(m < p, axis=1)))


def front_ranks(points: Points, directions: Sequence[Direction]) -> np.ndarray:
    """Non-dominated sorting: rank 0 is the Pareto front, rank 1 the front once 0 is removed, ...

    Points are visited in lexicographic order, so only earlier points can dominate a point.
    Then rank(p) is the first front none of whose members dominates p, and "some member of
    front k dominates p" is monotone in k, so each point binary-searches the fronts.
    """
    pts = _as_min(points, directions)
    n = len(pts)
    ranks = np.zeros(n, dtype=int)
    if n == 0:
        return ranks
    order = np.lexsort(pts.T[::-1])
    fronts: list[_Rank] = []
    for i in order:
        p = pts[i]
        lo, hi = 0, len(fronts)
        while lo < hi:
            mid = (lo + hi) // 2
            if fronts[mid].dominates(p):
                lo = mid + 1
            else:
                hi = mid
        if lo == len(fronts):
            fronts.append(_Rank(pts.shape[1]))
        fronts[lo].append(p)
        ranks[i] = lo
    return ranks


def non_dominated(points: Points, directions: Sequence[Direction]) -> np.ndarray:
    """Boolean mask of the Pareto front (duplicates of a front point are on the front too)."""
    pts = _as_min(points, directions)
    mask = np.zeros(len(pts), dtype=bool)
    if len(pts) == 0:
        return mask
    if pts.shape[1] == 2:  # vectorised O(n log n): the chart's case, 10k runs in milliseconds
        uniq, inverse = np.unique(pts, axis=0, return_inverse=True)  # lexicographic, no duplicates
        prev_min = np.minimum.accumulate(np.concatenate([[np.inf], uniq[:-1, 1]]))
        return (uniq[:, 1] < prev_min)[inverse.reshape(-1)]
    front = _Rank(pts.shape[1])
    for i in np.lexsort(pts.T[::-1]):
        if not front.dominates(pts[i]):
            front.append(pts[i])
            mask[i] = True
    return mask


def _hv2(pts: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume (minimisation) of points that all lie strictly below ref: a sweep."""
    if len(pts) == 0:
        return 0.0
    pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
    area = 0.0
    best_y = ref[1]
    for x, y in pts:  # x ascending: each point adds the strip under best_y it newly covers
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(area)


def hypervolume(
    points: np.ndarray | Sequence[Sequence[float]],
    reference: Sequence[float],
    directions: Sequence[Direction],
) -> float:
    """Volume of objective space dominated by the points and bounded by the reference point.

    Points that do not strictly improve on the reference in every objective add nothing.
    2-D: an exact sweep. 3-D: exact slicing along the third objective (a 2-D sweep per slab).
    """
    pts = _as_min(points, directions)
    ref = _as_min([list(reference)], directions)[0]
    if pts.shape[1] not in (1, 2, 3):
        raise ValueError("hypervolume supports 1, 2 or 3 objectives")
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    pts = pts[non_dominated(pts, ["min"] * pts.shape[1])]
    if pts.shape[1] == 1:
        return float(ref[0] - pts[:, 0].min())
    if pts.shape[1] == 2:
        return _hv2(pts, ref)
    pts = pts[np.argsort(pts[:, 2], kind="stable")]
    zs = np.append(pts[:, 2], ref[2])
    volume = 0.0
    for k in range(len(pts)):  # slab [z_k, z_k+1): dominated by the points with z <= z_k
        depth = zs[k + 1] - zs[k]
        if depth > 0:
            volume += _hv2(pts[: k + 1, :2], ref[:2]) * depth
    return float(volume)
