"""Sweeps over bit widths: accuracy per scheme, per-layer sensitivity, and bit allocation under a budget.

These choose on the validation split (a subset, so a scan stays interactive); reported
accuracy elsewhere is on the test split.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from compression import metrics, techniques, train
from compression.data import Dataset
from compression.quantization import model_ops, schemes
from compression.train import Cancelled, Progress, StopFlag

SWEEP_SCHEMES = ("linear", "kmeans", "log", "binary", "ternary")
VAL_SUBSET = 2000


def _val(ds: Dataset, n: int) -> tuple[Any, Any]:
    return ds.x_val[:n], ds.y_val[:n]


def fixed_width_config(scheme: str, bits: int, granularity: str = "per-channel") -> object | None:
    """The config of `scheme` at `bits`; None where the scheme has no such width."""
    if scheme == "binary":
        return schemes.BinaryQuant(granularity=granularity) if bits == 1 else None
    if scheme == "ternary":
        return schemes.TernaryQuant() if bits == 2 else None
    if scheme in ("kmeans", "log") and bits > 8:
        return None
    return schemes.scheme_config(scheme, bits, granularity=granularity)


def bit_sweep(
    model: nn.Module,
    ds: Dataset,
    bits_list: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8),
    scheme_names: tuple[str, ...] = SWEEP_SCHEMES,
    granularity: str = "per-channel",
    n: int = VAL_SUBSET,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> list[dict[str, object]]:
    """Validation accuracy of every scheme at every width: the accuracy-versus-bits curves."""
    x, y = _val(ds, n)
    base = metrics.evaluate(model, x, y)[0]
    rows: list[dict[str, object]] = [{"scheme": "fp32", "bits": 32, "top1": base}]
    jobs = [(s, b) for s in scheme_names for b in bits_list]
    for i, (scheme, bits) in enumerate(jobs):
        if should_stop is not None and should_stop():
            raise Cancelled("cancelled by the user")
        cfg = fixed_width_config(scheme, bits, granularity)
        if cfg is None:
            continue
        q = techniques.apply(model, cfg, ds)
        rows.append({"scheme": scheme, "bits": bits, "top1": metrics.evaluate(q, x, y)[0]})
        if progress:
            progress((i + 1) / len(jobs), f"{scheme} at {bits} bits")
    return rows


def layer_sensitivity(
    model: nn.Module,
    ds: Dataset,
    scheme: str = "linear",
    bits_list: tuple[int, ...] = (1, 2, 3, 4, 6, 8),
    granularity: str = "per-channel",
    n: int = VAL_SUBSET,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> list[dict[str, object]]:
    """Quantize one layer at a time (the rest stay float): the accuracy drop per layer and width."""
    x, y = _val(ds, n)
    base = metrics.evaluate(model, x, y)[0]
    names = model_ops.layer_names(model)
    sizes = {name: int(mod.weight.numel()) for name, mod in model_ops.layers(model)}
    rows: list[dict[str, object]] = []
    total = len(names) * len(bits_list)
    for i, name in enumerate(names):
        for j, bits in enumerate(bits_list):
            if should_stop is not None and should_stop():
                raise Cancelled("cancelled by the user")
            cfg = schemes.scheme_config(scheme, schemes.FLOAT_BITS, ((name, bits),), granularity)
            q = techniques.apply(model, cfg, ds)
            top1 = metrics.evaluate(q, x, y)[0]
            rows.append(
                {"layer": name, "bits": bits, "top1": top1, "drop": base - top1, "params": sizes[name]}
            )
            if progress:
                progress((i * len(bits_list) + j + 1) / total, f"{name} at {bits} bits")
    return rows


def layer_params(model: nn.Module) -> dict[str, int]:
    """Weights per quantizable layer: the n_l of the mean width sum(n_l b_l) / sum(n_l)."""
    return {name: int(mod.weight.numel()) for name, mod in model_ops.layers(model)}


def mean_bits(layer_bits: Mapping[str, int], params: Mapping[str, int]) -> float:
    """Parameter-weighted mean width of a map: sum(n_l b_l) / sum(n_l)."""
    total = sum(params[n] for n in layer_bits)
    return sum(params[n] * b for n, b in layer_bits.items()) / max(1, total)


Score = tuple[float, float]  # (validation top-1, minus validation cross-entropy): compared lexicographically


class _MapScorer:
    """Validation score of a bit-width map, on one working copy whose weights are swapped in.

    Each layer is quantized once per candidate width up front; scoring a map copies in the
    layers that changed and runs the validation subset once. Scores are cached per map.
    """

    def __init__(
        self, model: nn.Module, ds: Dataset, config: schemes.MixedPrecision, cands: list[int], n: int
    ) -> None:
        self.names = model_ops.layer_names(model)
        self.work = train.clone(model).eval()
        self.mods = dict(self.work.named_modules())
        self.x, self.y = _val(ds, n)
        self.table: dict[tuple[str, int], torch.Tensor] = {}
        for b in cands:
            quant = schemes.tensor_quantizer(
                schemes.scheme_config(config.scheme, b, (), config.granularity, config.symmetric)
            )
            for name, mod in model_ops.layers(model):
                q = quant(name, mod.weight.detach())
                self.table[(name, b)] = mod.weight.detach() if q is None else q.values.to(mod.weight.dtype)
        self.loaded: dict[str, int] = {}
        self.cache: dict[tuple[int, ...], Score] = {}

    def __call__(self, bits: Mapping[str, int]) -> Score:
        key = tuple(bits[n] for n in self.names)
        if key not in self.cache:
            with torch.no_grad():
                for name in self.names:
                    if self.loaded.get(name) != bits[name]:
                        self.mods[name].weight.copy_(self.table[(name, bits[name])])
                        self.loaded[name] = bits[name]
            top1, _, loss = metrics.evaluate(self.work, self.x, self.y)
            self.cache[key] = (top1, -loss)
        return self.cache[key]


def allocate_bits(
    model: nn.Module,
    ds: Dataset,
    config: schemes.MixedPrecision,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
    n: int = VAL_SUBSET,
) -> schemes.LayerBits:
    """Per-layer widths under a mean-width budget, searched on the validation split.

    The mean width is sum(n_l b_l) / sum(n_l) over the layers' weights. The search:
    1. starts from the best uniform width that fits the budget (every candidate width <= avg_bits
       is scored), so uniform is always a candidate and the result's validation top-1 is never
       below uniform's;
    2. hill-climbs on the validation score (top-1, then cross-entropy): each round scores every
       single-layer change, and every "trade" that lowers one layer and spends the freed bits on
       the layers whose single changes helped most; it moves to the best map that fits the
       budget and scores strictly better, until none does (HAQ's point: the layers differ in
       how much a bit is worth, so a learned map beats a fixed width);
    3. spends what is left: raises one layer at a time (to the best-scoring wider candidate that
       fits) while the validation top-1 stays at least uniform's. It stops only when no raise fits
       or every raise that fits would score below uniform (at 2 bits the symmetric linear grid
       {-max, 0, +max} can be worse than 1 bit's {-max, +max}: more bits are not always better).
    The climb stops after `config.max_evals` scored maps (each one pass over `n` validation
    images); the final spending adds at most a few more.
    """
    cands = sorted({int(b) for b in config.candidate_bits})
    params = layer_params(model)
    names = list(params)
    budget = config.avg_bits * sum(params.values())
    eps = 1e-9 * max(1.0, budget)
    fitting = [b for b in cands if b <= config.avg_bits + 1e-9]
    if not fitting:
        raise ValueError(
            f"A {config.avg_bits:g}-bit budget is below the narrowest candidate width ({cands[0]} bits)"
        )
    if progress:
        progress(0.0, "quantizing every layer at every candidate width")
    score = _MapScorer(model, ds, config, cands, n)
    spent_evals = 0

    def evaluate(bits: Mapping[str, int]) -> Score:
        nonlocal spent_evals
        if should_stop is not None and should_stop():
            raise Cancelled("cancelled by the user")
        if tuple(bits[nm] for nm in names) not in score.cache:
            spent_evals += 1
            if progress:
                progress(
                    min(0.99, spent_evals / config.max_evals), f"{spent_evals} maps scored on validation"
                )
        return score(bits)

    def cost(bits: Mapping[str, int]) -> float:
        return float(sum(params[nm] * bits[nm] for nm in names))

    def fits(bits: Mapping[str, int]) -> bool:
        return cost(bits) <= budget + eps

    def budget_left() -> bool:
        return spent_evals < config.max_evals

    uniform = [dict.fromkeys(names, b) for b in fitting]
    current = max(reversed(uniform), key=evaluate)  # the widest wins ties
    anchor = evaluate(current)

    while budget_left():
        singles = [({**current, name: b}, name, b) for name in names for b in cands if b != current[name]]
        moves: list[dict[str, int]] = []
        gain: dict[tuple[str, int], float] = {}
        for bits, name, b in singles:
            if not budget_left():
                break
            s = evaluate(bits)
            gain[(name, b)] = s[1] - evaluate(current)[1]  # loss it saves when changed alone
            if fits(bits):
                moves.append(bits)
        for (low, b_low), _ in sorted(gain.items(), key=lambda kv: -kv[1]):
            if b_low >= current[low]:
                continue
            trade = {**current, low: b_low}
            raises = sorted(
                (
                    (g / (params[nm] * (b - current[nm])), nm, b)
                    for (nm, b), g in gain.items()
                    if nm != low and b > current[nm] and g > 0
                ),
                reverse=True,
            )
            for _, nm, b in raises:
                if trade[nm] == current[nm] and fits({**trade, nm: b}):
                    trade[nm] = b
            if trade != {**current, low: b_low}:
                moves.append(trade)
        scored = [
            (evaluate(m), m) for m in moves if budget_left() or tuple(m[nm] for nm in names) in score.cache
        ]
        best = max(scored, key=lambda sm: sm[0], default=None)
        if best is None or best[0] <= evaluate(current):
            break
        current = best[1]

    while True:  # spend what is left: raise one layer, to the best-scoring width that fits
        ups = [{**current, name: b} for name in names for b in cands if b > current[name]]
        ok = [(evaluate(u), u) for u in ups if fits(u)]
        ok = [(s, u) for s, u in ok if s[0] >= anchor[0]]
        if not ok:
            break
        current = max(ok, key=lambda su: su[0])[1]
    if progress:
        progress(1.0, f"{spent_evals} maps scored; mean {mean_bits(current, params):.2f} bits")
    return tuple((name, current[name]) for name in names)
