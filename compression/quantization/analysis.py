"""Sweeps over bit widths: accuracy per scheme, per-layer sensitivity, and bit allocation under a budget.

These choose on the validation split (a subset, so a scan stays interactive); reported
accuracy elsewhere is on the test split.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from compression import metrics, techniques
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


def allocate_bits(
    model: nn.Module,
    ds: Dataset,
    config: schemes.MixedPrecision,
    sensitivity: list[dict[str, object]] | None = None,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> tuple[tuple[str, int], ...]:
    """Greedy bit allocation: lower the layer whose extra accuracy loss per saved bit is smallest,
    until the parameter-weighted mean width is at most `avg_bits`."""
    cands = sorted(set(config.candidate_bits))
    rows = sensitivity or layer_sensitivity(
        model, ds, config.scheme, tuple(cands), config.granularity, progress=progress, should_stop=should_stop
    )
    drop = {(str(r["layer"]), int(r["bits"])): float(r["drop"]) for r in rows}  # type: ignore[arg-type]
    sizes = {name: int(mod.weight.numel()) for name, mod in model_ops.layers(model)}
    total = sum(sizes.values())
    level = {name: len(cands) - 1 for name in sizes}  # index into cands: start at the widest

    def mean_bits() -> float:
        return sum(sizes[n] * cands[level[n]] for n in sizes) / max(1, total)

    while mean_bits() > config.avg_bits:
        best: tuple[float, str] | None = None
        for name in sizes:
            if level[name] == 0:
                continue
            hi, lo = cands[level[name]], cands[level[name] - 1]
            cost = drop.get((name, lo), 1.0) - drop.get((name, hi), 0.0)
            gain = sizes[name] * (hi - lo)
            score = max(cost, 0.0) / gain + 1e-12 * cost  # accuracy lost per bit saved
            if best is None or score < best[0]:
                best = (score, name)
        if best is None:
            break
        level[best[1]] -= 1
    return tuple((name, cands[level[name]]) for name in sizes)
