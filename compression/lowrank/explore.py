"""What the Low-rank lab shows for one layer: its spectrum, one rank's cost, and speed against rank."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from compression import latency
from compression.lowrank import core
from compression.lowrank.technique import LowRank, factorise, factorised_params, layer_macs


def eligible_layers(model: nn.Module, method: str) -> list[str]:
    return [n for n, m in model.named_modules() if core.eligible(m, method)]


def full_rank(module: nn.Module, method: str) -> int:
    """The slider's top: min(out, in) for SVD; the larger channel count for Tucker-2 (capped per mode) and CP."""
    w = module.weight
    if method == "svd":
        return int(min(w.shape))
    return int(max(w.shape[0], w.shape[1]))


def params_breakeven(module: nn.Module, method: str) -> float:
    """The rank at which the factorisation has as many weights as the layer (above it, it is larger)."""
    w = module.weight
    if method == "svd":
        out_f, in_f = w.shape
        return out_f * in_f / (out_f + in_f)
    o, i, kh, kw = w.shape
    if method == "cp":
        return o * i * kh * kw / (o + i + kh + kw)
    before = core.params_of(module)  # Tucker-2: each channel rank capped by its channels, so count
    for r in range(1, max(o, i) + 1):
        if factorised_params(module, "tucker", (min(r, o), min(r, i))) >= before:
            return float(r)
    return float(max(o, i))


def one_layer(model: nn.Module, layer: str, method: str, rank: int) -> nn.Module:
    """A copy of `model` with only `layer` factorised at `rank` (even when that is not smaller)."""
    return factorise(
        model, LowRank(method=method, rule="rank", rank=rank, layers=(layer,), skip_if_larger=False)
    )


def layer_cost(
    model: nn.Module,
    layer: str,
    method: str,
    rank: int,
    input_shape: tuple[int, ...],
    factorised: nn.Module | None = None,
) -> dict[str, float]:
    """Weights and MACs of `layer` whole and factorised at `rank`, and the energy kept. `factorised`:
    `one_layer(model, layer, method, rank)` when the caller has it already (it also evaluates it)."""
    module = model.get_submodule(layer)
    before_macs = layer_macs(model, input_shape)[layer]
    f = factorised if factorised is not None else one_layer(model, layer, method, rank)
    after_macs = sum(v for k, v in layer_macs(f, input_shape).items() if k.startswith(layer + "."))
    ranks = (
        (rank,)
        if method != "tucker"
        else (min(rank, module.weight.shape[0]), min(rank, module.weight.shape[1]))
    )
    return {
        "params_before": core.params_of(module),
        "params_after": factorised_params(module, method, ranks),
        "macs_before": before_macs,
        "macs_after": after_macs,
        "energy_kept": core.kept_energy(core.spectrum(module.weight), ranks[0]),
    }


def layer_input_shape(model: nn.Module, layer: str, input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of one image's input to `layer` (a forward hook on one image)."""
    seen: list[tuple[int, ...]] = []
    h = model.get_submodule(layer).register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[1:])))
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        h.remove()
    return seen[0]


def speed_vs_rank(
    model: nn.Module,
    layer: str,
    method: str,
    ranks: Sequence[int],
    input_shape: tuple[int, ...],
    batch: int = 256,
    rounds: int = 8,
    progress: object = None,
) -> list[dict[str, float]]:
    """Paired latency of the factorised layer against the whole layer on its own input, per rank."""
    module = model.get_submodule(layer)
    shape = layer_input_shape(model, layer, input_shape)
    rows = []
    for k, r in enumerate(ranks):
        f = one_layer(model, layer, method, int(r)).get_submodule(layer)
        p = latency.paired_latency(module, f, shape, batch, rounds=rounds)
        rows.append(
            {"rank": int(r), "speedup": p.speedup, "lo": p.speedup_lo, "hi": p.speedup_hi, "noisy": p.noisy}
        )
        if callable(progress):
            progress((k + 1) / len(ranks), f"rank {r}: {p.speedup:.2f}x")
    return rows


def rank_grid(full: int, n: int = 8) -> list[int]:
    """Up to n ranks spread geometrically from 1 to the full rank."""
    return sorted({max(1, int(round(v))) for v in np.geomspace(1, max(1, full), n)})
