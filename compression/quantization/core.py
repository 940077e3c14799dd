"""Quantizers on single tensors: linear (uniform), k-means, logarithmic, binary and ternary.

Every quantizer returns a `QTensor`: integer codes plus what turns them back into values.
Two kinds cover every scheme:
- affine: value = (code - zero) * scale, with scale and zero per tensor or per output channel
  (linear, binary = sign x mean|w|, ternary = TWN);
- codebook: value = codebook[code] (k-means weight sharing, power-of-two levels).
The dequantized values are computed from the codes with exactly these formulas, so storing
the codes and the scales (or the codebook) gives the model back bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

RANGE_METHODS = ("minmax", "percentile", "mse")
KMEANS_INITS = ("linear", "density", "random", "optimal")
EXACT_WORK = 1 << 20  # "optimal" is exact while k x n <= this (4 bits on 65,536 weights: ~0.3 s)
LLOYD_MAX_ITER = 10_000  # 1-D Lloyd iterations are O(k log n): run them to a fixed point


@dataclass(frozen=True)
class QTensor:
    """A quantized tensor: codes plus the recipe that maps them back to float values."""

    kind: str  # "affine" | "codebook"
    bits: int  # width of one code
    codes: torch.Tensor  # int64, same shape as the tensor
    scale: torch.Tensor | None = None  # affine: broadcastable to the tensor (per tensor or per channel)
    zero: torch.Tensor | None = None  # affine: the code that means 0 (may be fractional, e.g. binary)
    codebook: torch.Tensor | None = None  # codebook: the shared values, sorted
    clip: tuple[float, float] | None = None  # range mapped to the grid (per tensor, for charts)
    qmax: int = 0  # affine: the largest code (codes run 0..qmax)

    @property
    def values(self) -> torch.Tensor:
        if self.kind == "affine":
            assert self.scale is not None and self.zero is not None
            return dequantize_affine(self.codes, self.zero, self.scale)
        assert self.codebook is not None
        return self.codebook[self.codes]

    def levels(self) -> torch.Tensor:
        """The distinct values the tensor can take (first channel's grid for per-channel affine)."""
        if self.kind == "codebook":
            assert self.codebook is not None
            return self.codebook
        assert self.scale is not None and self.zero is not None
        s = self.scale.flatten()[0]
        z = self.zero.flatten()[0]
        return (torch.arange(self.qmax + 1, dtype=torch.float32) - z) * s


def dequantize_affine(codes: torch.Tensor, zero: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """value = (code - zero) * scale; the one formula used everywhere, so round trips are exact."""
    return (codes.to(torch.float32) - zero) * scale


def _channel_view(w: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """Rows to compute ranges over: one row per output channel, or one row for the tensor."""
    return w.reshape(w.shape[0], -1) if per_channel and w.dim() > 1 else w.reshape(1, -1)


def _bshape(w: torch.Tensor, per_channel: bool) -> tuple[int, ...]:
    return (w.shape[0],) + (1,) * (w.dim() - 1) if per_channel and w.dim() > 1 else (1,) * max(1, w.dim())


def code_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """(qmax, zero code) of the unsigned code grid 0..qmax.

    Symmetric uses the restricted range -(2^(b-1)-1)..2^(b-1)-1 so zero is a level and the grid
    is symmetric; at 1 bit symmetric means the two levels -c and +c (no zero).
    """
    if not symmetric:
        return (1 << bits) - 1, -1  # zero point is computed from the range
    if bits == 1:
        return 1, -1
    half = (1 << (bits - 1)) - 1
    return 2 * half, half


def _affine_from_clip(
    lo: torch.Tensor, hi: torch.Tensor, bits: int, symmetric: bool
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Scale and zero point (per row) for a clipping range [lo, hi]."""
    qmax, zcode = code_range(bits, symmetric)
    eps = torch.finfo(torch.float32).tiny
    if symmetric:
        c = torch.maximum(lo.abs(), hi.abs()).clamp_min(eps)
        if bits == 1:  # two levels -c, +c: codes 0/1, zero half-way
            return 2 * c, torch.full_like(c, 0.5), qmax
        return c / zcode, torch.full_like(c, float(zcode)), qmax
    lo = torch.minimum(lo, torch.zeros_like(lo))  # the range must contain 0 so zero is exact
    hi = torch.maximum(hi, torch.zeros_like(hi))
    scale = ((hi - lo) / qmax).clamp_min(eps)
    zero = torch.round(-lo / scale).clamp(0, qmax)
    return scale, zero, qmax


def _quant_rows(rows: torch.Tensor, scale: torch.Tensor, zero: torch.Tensor, qmax: int) -> torch.Tensor:
    if qmax == 1 and bool((zero == 0.5).all()):  # 1-bit symmetric: the sign picks the level
        return (rows >= 0).to(rows.dtype)
    return (torch.round(rows / scale) + zero).clamp(0, qmax)


def clip_range(
    w: torch.Tensor,
    bits: int,
    symmetric: bool,
    per_channel: bool,
    method: str = "minmax",
    percentile: float = 99.99,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row clipping range [lo, hi] by min-max, percentile or MSE-optimal search."""
    if method not in RANGE_METHODS:
        raise ValueError(f"Unknown range method '{method}' (use {', '.join(RANGE_METHODS)})")
    rows = _channel_view(w.detach().float(), per_channel)
    if method == "percentile" and rows.shape[1] > 1:
        p = min(100.0, max(50.0, percentile)) / 100
        lo = torch.quantile(rows, 1 - p, dim=1, keepdim=True)
        hi = torch.quantile(rows, p, dim=1, keepdim=True)
        return lo, hi
    lo = rows.min(dim=1, keepdim=True).values
    hi = rows.max(dim=1, keepdim=True).values
    if method == "mse":
        return mse_clip(rows, lo, hi, bits, symmetric)
    return lo, hi


def mse_clip(
    rows: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, bits: int, symmetric: bool, steps: int = 40
) -> tuple[torch.Tensor, torch.Tensor]:
    """Shrink the range by the factor (per row) that minimises the quantization MSE (a grid search)."""
    best_err = torch.full_like(lo, float("inf"))
    best_lo, best_hi = lo.clone(), hi.clone()
    for f in torch.linspace(0.2, 1.0, steps).tolist():
        s, z, qmax = _affine_from_clip(lo * f, hi * f, bits, symmetric)
        deq = dequantize_affine(_quant_rows(rows, s, z, qmax), z, s)
        err = ((deq - rows) ** 2).mean(dim=1, keepdim=True)
        better = err < best_err
        best_err = torch.where(better, err, best_err)
        best_lo = torch.where(better, lo * f, best_lo)
        best_hi = torch.where(better, hi * f, best_hi)
    return best_lo, best_hi


def quantize_linear(
    w: torch.Tensor,
    bits: int,
    symmetric: bool = True,
    per_channel: bool = True,
    method: str = "minmax",
    percentile: float = 99.99,
) -> QTensor:
    """Uniform quantization q = clamp(round(w / s) + z, 0, 2^b - 1); w_hat = (q - z) * s."""
    if not 1 <= bits <= 16:
        raise ValueError(f"bits must be 1..16, got {bits}")
    lo, hi = clip_range(w, bits, symmetric, per_channel, method, percentile)
    scale, zero, qmax = _affine_from_clip(lo, hi, bits, symmetric)
    rows = _channel_view(w.detach().float(), per_channel)
    codes = _quant_rows(rows, scale, zero, qmax).reshape(w.shape)
    shape = _bshape(w, per_channel)
    return QTensor(
        "affine",
        bits,
        codes.to(torch.int64),
        scale=scale.reshape(shape),
        zero=zero.reshape(shape),
        clip=(float(lo.min()), float(hi.max())),
        qmax=qmax,
    )


def quantize_binary(w: torch.Tensor, per_channel: bool = True) -> QTensor:
    """BinaryConnect / XNOR-Net weights: sign(w) x alpha, alpha = mean |w| (per output channel)."""
    rows = _channel_view(w.detach().float(), per_channel)
    alpha = rows.abs().mean(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    codes = (rows >= 0).to(torch.int64).reshape(w.shape)
    shape = _bshape(w, per_channel)
    # value = (code - 1/2) * 2 alpha = +-alpha exactly (scaling by 2 and 1/2 is exact in float)
    return QTensor(
        "affine",
        1,
        codes,
        scale=(2 * alpha).reshape(shape),
        zero=torch.full(shape, 0.5),
        clip=(-float(alpha.max()), float(alpha.max())),
        qmax=1,
    )


def quantize_ternary(w: torch.Tensor, per_channel: bool = False, threshold: float = 0.7) -> QTensor:
    """Ternary weight networks (Li & Liu 2016): delta = 0.7 mean|w|, alpha = mean of |w| above delta."""
    rows = _channel_view(w.detach().float(), per_channel)
    delta = threshold * rows.abs().mean(dim=1, keepdim=True)
    big = rows.abs() > delta
    alpha = (rows.abs() * big).sum(dim=1, keepdim=True) / big.sum(dim=1, keepdim=True).clamp_min(1)
    alpha = alpha.clamp_min(torch.finfo(torch.float32).tiny)
    codes = torch.where(big, torch.where(rows > 0, 2, 0), 1).reshape(w.shape).to(torch.int64)
    shape = _bshape(w, per_channel)
    return QTensor(
        "affine",
        2,
        codes,
        scale=alpha.reshape(shape),
        zero=torch.ones(shape),
        clip=(-float(delta.max()), float(delta.max())),  # the dead zone: |w| <= delta becomes 0
        qmax=2,
    )


def kmeans_init(values: np.ndarray, k: int, init: str, seed: int = 0) -> np.ndarray:
    """Deep Compression's three centroid initialisations (Han et al. 2016, section 3.1)."""
    if init == "linear":  # evenly spaced over [min, max]: keeps the rare large weights
        return np.linspace(values.min(), values.max(), k)
    if init == "density":  # evenly spaced on the CDF: dense where weights are dense
        return np.quantile(values, (np.arange(k) + 0.5) / k)
    if init == "random":  # Forgy: k weights picked at random
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(values, size=k, replace=False))
    raise ValueError(f"Unknown k-means init '{init}' (use {', '.join(KMEANS_INITS[:3])})")


def _prefix_sums(xs: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Prefix sums of the centred sorted values and their squares (centred: less cancellation)."""
    mu = float(xs.mean())
    x = xs - mu
    s1 = np.concatenate([[0.0], np.cumsum(x)])
    s2 = np.concatenate([[0.0], np.cumsum(x * x)])
    return s1, s2, mu


def cluster_sse(xs: np.ndarray, centers: np.ndarray) -> float:
    """Sum of squared distances of each value to its nearest center (the k-means objective)."""
    c = np.sort(np.asarray(centers, dtype=np.float64))
    idx = np.searchsorted((c[1:] + c[:-1]) / 2, xs)
    return float(((xs - c[idx]) ** 2).sum())


def lloyd_1d(xs: np.ndarray, start: np.ndarray, max_iter: int = LLOYD_MAX_ITER) -> np.ndarray:
    """Lloyd's k-means on sorted 1-D values, to its fixed point, on every value.

    In one dimension a cluster is a run of the sorted values between two midpoints, so one
    iteration is a binary search for the k-1 boundaries plus prefix-sum means: O(k log n),
    not O(k n). An empty cluster keeps its center (it is dropped from the codebook).
    """
    s1, _, mu = _prefix_sums(xs)
    c = np.sort(np.asarray(start, dtype=np.float64)) - mu
    x = xs - mu
    edges: np.ndarray | None = None
    for _ in range(max_iter):
        e = np.concatenate([[0], np.searchsorted(x, (c[1:] + c[:-1]) / 2, side="right"), [x.size]])
        if edges is not None and np.array_equal(e, edges):
            break
        edges = e
        count = np.diff(e)
        c = np.where(count > 0, (s1[e[1:]] - s1[e[:-1]]) / np.maximum(count, 1), c)
    return c + mu


def _dp_row(a: np.ndarray, s1: np.ndarray, lo: int, hi: int, opt_lo: int) -> tuple[np.ndarray, np.ndarray]:
    """min over t < i of a[t] - (s1[i] - s1[t])^2 / (i - t), and its first argmin, for i in lo..hi.

    The argmin never decreases with i (1-D clusters are contiguous and ordered), so divide and
    conquer needs O(n log n): the middle i is solved over its allowed range of t, which splits
    that range for the two halves. All the subproblems of one depth run as one vectorised step.
    """
    n = s1.size - 1
    best_v = np.full(n + 1, np.inf)
    best_t = np.zeros(n + 1, dtype=np.int64)
    los, his = np.array([lo]), np.array([hi])
    tlo, thi = np.array([opt_lo]), np.array([hi - 1])
    while los.size:
        mid = (los + his) >> 1
        lens = np.minimum(thi, mid - 1) - tlo + 1
        ends = np.cumsum(lens)
        starts = ends - lens
        t = np.arange(ends[-1]) - np.repeat(starts - tlo, lens)
        m = np.repeat(mid, lens)
        d = s1[m] - s1[t]
        d *= d
        d /= m - t
        v = a[t] - d
        mins = np.minimum.reduceat(v, starts)
        hit = np.flatnonzero(v == np.repeat(mins, lens))
        arg = t[hit[np.searchsorted(hit, starts)]]  # the first t reaching each minimum
        best_v[mid], best_t[mid] = mins, arg
        left, right = mid > los, mid < his
        los, his, tlo, thi = (
            np.concatenate([los[left], mid[right] + 1]),
            np.concatenate([mid[left] - 1, his[right]]),
            np.concatenate([tlo[left], arg[right]]),
            np.concatenate([arg[left], thi[right]]),
        )
    return best_v, best_t


def kmeans_1d_optimal(xs: np.ndarray, k: int) -> np.ndarray:
    """The globally optimal k centers of sorted 1-D values by dynamic programming (Ckmeans.1d.dp,
    Wang & Song 2011; divide and conquer as in Gronlund et al. 2017).

    D[j][i] = min over t of D[j-1][t] + SSE(xs[t:i]), each SSE from prefix sums in O(1); every row
    by monotone divide and conquer, O(k n log n) in all. Hand-written because no library in our
    dependencies has exact 1-D k-means: scikit-learn's KMeans is Lloyd's algorithm from k-means++
    starts, a local optimum however many starts it keeps the best of.
    """
    n = xs.size
    s1, s2, mu = _prefix_sums(xs)
    i = np.arange(n + 1)
    d = np.full(n + 1, np.inf)
    d[1:] = s2[1:] - s1[1:] ** 2 / i[1:]  # one cluster over the first i values
    starts: list[np.ndarray] = []
    for j in range(2, k + 1):
        lo = n if j == k else j  # the last row needs only the full range
        v, arg = _dp_row(d - s2, s1, lo, n, j - 1)
        d = np.full(n + 1, np.inf)
        d[lo:] = v[lo:] + s2[lo:]
        starts.append(arg)
    edges = [n]
    for arg in reversed(starts):
        edges.append(int(arg[edges[-1]]))
    e = np.array([0, *reversed(edges)])
    return (s1[e[1:]] - s1[e[:-1]]) / np.diff(e) + mu


def kmeans_codebook(w: torch.Tensor, bits: int, init: str = "linear", seed: int = 0) -> torch.Tensor:
    """Fit 2^bits shared values to all the weights with 1-D k-means.

    linear / density / random: Lloyd's algorithm from Deep Compression's start, run to its fixed
    point (a local optimum: the start matters, which is what the page teaches). optimal: the
    exact optimum by dynamic programming while k x n <= EXACT_WORK; above that (wide codebooks
    on big layers), the best of the three Lloyd fits.
    """
    flat = np.sort(w.detach().float().flatten().numpy().astype(np.float64))
    uniq = np.unique(flat)
    k = 1 << bits
    if uniq.size <= k:  # already few values: they are the codebook
        return torch.from_numpy(uniq.astype(np.float32))
    if init == "optimal":
        if k * flat.size <= EXACT_WORK:
            centers = kmeans_1d_optimal(flat, k)
        else:
            fits = [lloyd_1d(flat, _distinct_start(flat, uniq, k, s, seed)) for s in KMEANS_INITS[:3]]
            centers = min(fits, key=lambda c: cluster_sse(flat, c))
    else:
        centers = lloyd_1d(flat, _distinct_start(flat, uniq, k, init, seed))
    return torch.from_numpy(np.unique(centers.astype(np.float32)))


def _distinct_start(flat: np.ndarray, uniq: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    start = np.unique(kmeans_init(flat, k, init, seed))
    if start.size < k:  # duplicate quantiles on tiny tensors: fill with distinct weights
        extra = np.setdiff1d(uniq, start)[: k - start.size]
        start = np.sort(np.concatenate([start, extra]))
    return start


def assign_nearest(w: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest codebook entry for every weight (codebook sorted ascending)."""
    if codebook.numel() == 1:
        return torch.zeros(w.shape, dtype=torch.int64)
    mids = (codebook[1:] + codebook[:-1]) / 2
    return torch.bucketize(w.detach().float().contiguous(), mids).to(torch.int64)


def quantize_kmeans(w: torch.Tensor, bits: int, init: str = "linear", seed: int = 0) -> QTensor:
    """k-means weight sharing: every weight becomes the nearest of 2^bits centroids."""
    codebook = kmeans_codebook(w, bits, init, seed)
    codes = assign_nearest(w, codebook)
    return QTensor("codebook", bits, codes, codebook=codebook, clip=(float(w.min()), float(w.max())))


def quantize_log(w: torch.Tensor, bits: int) -> QTensor:
    """Power-of-two levels: sign bit plus 2^(b-1)-1 exponents below the largest weight, and zero.

    w_hat = sign(w) * 2^round(log2|w|); weights below half the smallest level become 0.
    At 1 bit there is no room for zero: the levels are +-2^e_max.
    """
    wf = w.detach().float()
    m = float(wf.abs().max())
    e_max = math.floor(math.log2(m) + 0.5) if m > 0 else 0
    n_mag = 1 if bits == 1 else (1 << (bits - 1)) - 1
    exps = torch.arange(e_max - n_mag + 1, e_max + 1, dtype=torch.float32)
    mags = torch.pow(2.0, exps)
    levels = (
        torch.cat([-mags.flip(0), mags]) if bits == 1 else torch.cat([-mags.flip(0), torch.zeros(1), mags])
    )
    e = torch.round(torch.log2(wf.abs().clamp_min(torch.finfo(torch.float32).tiny))).clamp(exps[0], exps[-1])
    vals = torch.sign(wf) * torch.pow(2.0, e)
    if bits == 1:
        vals = torch.where(wf >= 0, mags[-1], -mags[-1])
    else:
        vals = torch.where(wf.abs() < mags[0] / 2, torch.zeros_like(wf), vals)
    codes = torch.searchsorted(levels, vals.contiguous()).to(torch.int64)
    return QTensor("codebook", bits, codes, codebook=levels, clip=(-float(mags[-1]), float(mags[-1])))


def bits_needed(levels: int) -> int:
    return max(1, math.ceil(math.log2(levels))) if levels > 1 else 1


# ---------------------------------------------------------------- activations


def fake_quant_affine(x: torch.Tensor, scale: float, zero: float, qmax: int) -> torch.Tensor:
    """Quantize-dequantize an activation with a fixed (calibrated) per-tensor grid."""
    return (torch.clamp(torch.round(x / scale) + zero, 0, qmax) - zero) * scale


def activation_range(
    samples: torch.Tensor, bits: int, method: str, percentile: float = 99.99
) -> tuple[float, float]:
    """Calibrated range of an activation from a training batch (asymmetric, per tensor)."""
    flat = samples.detach().float().flatten()
    if flat.numel() > 1 << 20:  # quantile needs a bounded input
        flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[: 1 << 20]]
    lo, hi = clip_range(flat, bits, symmetric=False, per_channel=False, method=method, percentile=percentile)
    return float(lo), float(hi)


def affine_params(lo: float, hi: float, bits: int) -> tuple[float, float, int]:
    s, z, qmax = _affine_from_clip(torch.tensor([[lo]]), torch.tensor([[hi]]), bits, symmetric=False)
    return float(s), float(z), qmax
