"""Shared pruning machinery: which weights can be pruned, exact top-k masks, schedules, fine-tuning.

Exact sparsity law (every masked method): at amount a, a pool of n prunable units (a layer's
weights, or every layer's together when the scope is global) gets exactly round(a * n) of its
units set to zero. A unit is one weight, or a group of weights at coarser granularity.
Ties: units are ranked by a stable sort on (score, position), so among equal scores the unit
that comes first (lower flat index; in a global pool, earlier layer first) is pruned first.
Weights that are already exactly zero score -inf, so re-pruning a sparse model keeps its zeros
and still lands on exactly round(a * n) zero units as long as it had at most that many.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
import torch.nn.utils.prune as tprune
from torch import nn

from compression import train
from compression.data import Dataset

SCOPES = ("layer", "global")
GRANULARITIES = ("weight", "vector", "kernel", "channel")
SCHEDULES = ("one-shot", "iterative", "gradual")
OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 0.01, "adam": 1e-4}  # gentle: fine-tuning repairs, it does not retrain

GRANULARITY_HELP = {
    "weight": "single weights (fine-grained, irregular)",
    "vector": "rows: one kernel row of a conv (W[o,i,r,:]), one neuron's input vector of a linear layer",
    "kernel": "whole k x k kernels of a conv (W[o,i,:,:]); single weights in a linear layer",
    "channel": "whole output channels / neurons (W[o]), zeroed in place, not removed",
}


def validate_common(config: object, choices: dict[str, tuple[str, ...]]) -> None:
    """Checks every pruning config shares: amount, steps, epochs, and each named field's choices."""
    amount, steps, epochs = (getattr(config, f) for f in ("amount", "steps", "finetune_epochs"))
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount}")
    for field, allowed in {
        "scope": SCOPES,
        "schedule": SCHEDULES,
        "optimizer": OPTIMIZERS,
        **choices,
    }.items():
        value = getattr(config, field)
        if value not in allowed:
            raise ValueError(f"Unknown {field} '{value}' (use {', '.join(allowed)})")
    if steps < 1 or epochs < 0:
        raise ValueError("steps must be >= 1 and finetune_epochs >= 0")
    train.check_lr(getattr(config, "lr", None), "fine-tuning learning rate")
    train.check_epochs(epochs, "finetune_epochs")


def prunable_layers(model: nn.Module, exclude: Iterable[str] = ()) -> list[tuple[str, nn.Module]]:
    """Conv and linear layers whose weight can be pruned, in module order, minus exclusions."""
    skip = set(exclude)
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear) and name not in skip and isinstance(m.weight, torch.Tensor)
    ]


def layer_names(model: nn.Module) -> list[str]:
    return [name for name, _ in prunable_layers(model)]


def unit_view(weight: torch.Tensor, granularity: str) -> torch.Tensor:
    """The weight reshaped to (units, unit_size): each row is one prunable unit (a view, no copy)."""
    w = weight.detach()
    if granularity == "weight":
        return w.reshape(-1, 1)
    if granularity == "vector":
        return w.reshape(-1, w.shape[-1])
    if granularity == "kernel":
        return w.reshape(w.shape[0] * w.shape[1], -1) if w.dim() == 4 else w.reshape(-1, 1)
    if granularity == "channel":
        return w.reshape(w.shape[0], -1)
    raise ValueError(f"Unknown granularity '{granularity}' (use {', '.join(GRANULARITIES)})")


def unit_scores(
    weight: torch.Tensor, granularity: str, criterion: str, gen: torch.Generator | None
) -> torch.Tensor:
    """One score per unit; lower is pruned first. Units that are entirely zero score -inf.

    magnitude: root-mean-square of the unit (|w| for single weights; for groups the L2 norm
    divided by sqrt(size) so groups of different sizes compare fairly in a global pool).
    random: uniform noise from a seeded generator.
    """
    units = unit_view(weight, granularity).float()
    if criterion == "magnitude":
        scores = units.pow(2).mean(dim=1).sqrt()
    elif criterion == "random":
        scores = torch.rand(units.shape[0], generator=gen)
    else:
        raise ValueError(f"Unknown criterion '{criterion}'")
    dead = (units == 0).all(dim=1)
    return torch.where(dead, torch.full_like(scores, float("-inf")), scores)


def lowest_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k lowest scores; ties broken by position (stable sort)."""
    order = torch.sort(scores, stable=True).indices
    return order[:k]


def exact_count(amount: float, n: int) -> int:
    """round(a * n), half to even (Python's round), clamped to [0, n]."""
    return max(0, min(n, round(amount * n)))


def compute_masks(
    model: nn.Module,
    amount: float,
    *,
    scope: str = "layer",
    granularity: str = "weight",
    criterion: str = "magnitude",
    exclude: Iterable[str] = (),
    layer_amounts: dict[str, float] | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Keep-masks (1 keep, 0 prune) of the same shape as each prunable weight.

    layer_amounts overrides the amount per layer (layer scope only; used by sensitivity rates).
    """
    if scope not in SCOPES:
        raise ValueError(f"Unknown scope '{scope}' (use {', '.join(SCOPES)})")
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount must be in [0, 1], got {amount}")
    gen = torch.Generator().manual_seed(seed)
    layers = prunable_layers(model, exclude)
    scores = {name: unit_scores(m.weight, granularity, criterion, gen) for name, m in layers}
    masks: dict[str, torch.Tensor] = {}
    if scope == "global" and not layer_amounts:
        pool = torch.cat([scores[name] for name, _ in layers]) if layers else torch.zeros(0)
        pruned = torch.zeros(pool.numel(), dtype=torch.bool)
        pruned[lowest_k(pool, exact_count(amount, pool.numel()))] = True
        offset = 0
        for name, m in layers:
            n = scores[name].numel()
            masks[name] = _expand(~pruned[offset : offset + n], m.weight, granularity)
            offset += n
        return masks
    for name, m in layers:
        a = (layer_amounts or {}).get(name, amount)
        s = scores[name]
        keep = torch.ones(s.numel(), dtype=torch.bool)
        keep[lowest_k(s, exact_count(a, s.numel()))] = False
        masks[name] = _expand(keep, m.weight, granularity)
    return masks


def _expand(unit_keep: torch.Tensor, weight: torch.Tensor, granularity: str) -> torch.Tensor:
    shape = unit_view(weight, granularity).shape
    return unit_keep[:, None].expand(shape).reshape(weight.shape).to(weight.dtype)


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Zero the masked weights permanently (in place on `model`).

    torch.nn.utils.prune attaches the mask as a forward pre-hook; prune.remove then folds it
    into a plain `weight` Parameter, so the result is an ordinary model whose weights hold
    exact zeros (saveable, loadable, measurable like any other).
    """
    modules = dict(model.named_modules())
    for name, mask in masks.items():
        module = modules[name]
        tprune.custom_from_mask(module, "weight", mask)
        tprune.remove(module, "weight")
    return model


def mask_keeper(masks: dict[str, torch.Tensor]) -> Callable[[nn.Module], None]:
    """An after_step hook for train.fit: re-zero pruned weights after every optimiser step."""

    def reapply(model: nn.Module) -> None:
        modules = dict(model.named_modules())
        with torch.no_grad():
            for name, mask in masks.items():
                modules[name].weight.mul_(mask)

    return reapply


def current_masks(model: nn.Module, exclude: Iterable[str] = ()) -> dict[str, torch.Tensor]:
    """Masks of the zeros a model already has (to keep them zero while fine-tuning)."""
    return {name: (m.weight.detach() != 0).to(m.weight.dtype) for name, m in prunable_layers(model, exclude)}


# ---------------------------------------------------------------- schedules


def schedule_amounts(target: float, schedule: str, steps: int) -> list[float]:
    """Sparsity targets after each pruning step.

    one-shot: [target]. iterative: linear steps target * t / N. gradual: Zhu & Gupta (2017)
    cubic s_t = s_f * (1 - (1 - t / N)^3), which prunes fast while many weights are redundant
    and slowly near the target.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"Unknown schedule '{schedule}' (use {', '.join(SCHEDULES)})")
    if schedule == "one-shot" or steps <= 1:
        return [target]
    if schedule == "iterative":
        return [target * t / steps for t in range(1, steps + 1)]
    return [target * (1 - (1 - t / steps) ** 3) for t in range(1, steps + 1)]


@dataclass(frozen=True)
class FineTune:
    epochs: int
    optimizer: str
    lr: float | None
    seed: int


def fine_tune(
    model: nn.Module,
    data: Dataset,
    ft: FineTune,
    *,
    after_step: Callable[[nn.Module], None] | None = None,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
    span: tuple[float, float] = (0.0, 1.0),
    loss_hook: train.LossHook | None = None,
) -> nn.Module:
    """Gentle fine-tuning: SGD with momentum (or Adam) at a small constant learning rate."""
    if ft.epochs <= 0:
        return model
    if ft.optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer '{ft.optimizer}' (use {', '.join(OPTIMIZERS)})")
    lr = ft.lr if ft.lr is not None else DEFAULT_LR[ft.optimizer]
    return train.fit(
        model,
        data,
        epochs=ft.epochs,
        optimizer=ft.optimizer,
        lr=lr,
        momentum=0.9,
        seed=ft.seed,
        after_step=after_step,
        loss_hook=loss_hook,
        progress=progress,
        should_stop=should_stop,
        progress_span=span,
        schedule="cosine",
    )


def check_stop(should_stop: train.StopFlag | None) -> None:
    if should_stop is not None and should_stop():
        raise train.Cancelled("cancelled by the user")


# ---------------------------------------------------------------- summaries


def sparsity(model: nn.Module, exclude: Iterable[str] = ()) -> float:
    """Fraction of zeros among the prunable (conv and linear) weights."""
    layers = prunable_layers(model, exclude)
    n = sum(m.weight.numel() for _, m in layers)
    z = sum(int((m.weight == 0).sum()) for _, m in layers)
    return z / max(1, n)


def layer_sparsity(model: nn.Module) -> list[dict[str, object]]:
    """Per prunable layer: name, shape, weights, zeros, sparsity."""
    rows: list[dict[str, object]] = []
    for name, m in prunable_layers(model):
        w = m.weight.detach()
        z = int((w == 0).sum())
        rows.append(
            {
                "layer": name,
                "shape": "x".join(str(s) for s in w.shape),
                "weights": w.numel(),
                "zeros": z,
                "sparsity": z / max(1, w.numel()),
            }
        )
    return rows


def classifier_name(model: nn.Module) -> str:
    """The output layer (last linear, else last conv): never pruned structurally."""
    last_linear = last_conv = ""
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            last_linear = name
        elif isinstance(m, nn.Conv2d):
            last_conv = name
    return last_linear or last_conv
