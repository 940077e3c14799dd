"""The pruning methods as the page and the CLI name them, and one function that builds their config.

Also the accuracy-vs-sparsity sweep that compares methods side by side (no fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from compression import metrics, train
from compression.data import Dataset
from compression.pruning import core, structured, unstructured


@dataclass(frozen=True)
class Method:
    key: str
    title: str
    removes: bool  # True: channels are physically removed (smaller, faster); False: masked zeros
    note: str


METHODS: dict[str, Method] = {
    m.key: m
    for m in (
        Method("magnitude", "Magnitude (masked)", False, "zero the smallest |w| (Han et al. 2015)"),
        Method("random", "Random (masked)", False, "zero random weights: the baseline to beat"),
        Method("l1-filter", "L1 filter norm (removed)", True, "remove filters with the smallest L1 norm"),
        Method("l2-filter", "L2 filter norm (removed)", True, "remove filters with the smallest L2 norm"),
        Method("activation", "Activation (removed)", True, "remove neurons whose mean |activation| is ~0"),
        Method("slimming", "Network slimming (removed)", True, "L1 on BN scales, then remove small scales"),
    )
}


def make_config(
    method: str,
    amount: float,
    *,
    scope: str = "layer",
    granularity: str = "weight",
    exclude: Sequence[str] = (),
    schedule: str = "one-shot",
    steps: int = 1,
    finetune_epochs: int = 0,
    optimizer: str = "sgd",
    lr: float | None = None,
    l1: float = 1e-4,
    sparsity_epochs: int = 2,
    seed: int = 0,
) -> Any:
    """The frozen technique config for a method name (page and CLI share this)."""
    common: dict[str, Any] = {
        "amount": float(amount),
        "scope": scope,
        "exclude": tuple(exclude),
        "schedule": schedule,
        "steps": int(steps),
        "finetune_epochs": int(finetune_epochs),
        "optimizer": optimizer,
        "lr": lr,
        "seed": int(seed),
    }
    if method == "magnitude":
        return unstructured.MagnitudePrune(granularity=granularity, **common)
    if method == "random":
        return unstructured.RandomPrune(granularity=granularity, **common)
    if method in ("l1-filter", "l2-filter"):
        return structured.StructuredPrune(norm=method[:2], **common)
    if method == "activation":
        return structured.ActivationPrune(**common)
    if method == "slimming":
        return structured.NetworkSlimming(l1=float(l1), sparsity_epochs=int(sparsity_epochs), **common)
    raise ValueError(f"Unknown pruning method '{method}' (use {', '.join(METHODS)})")


def needs_training(config: Any) -> bool:
    """True when applying the config trains (fine-tuning or slimming): run it as a background job."""
    if isinstance(config, unstructured.MaskedPruneBase):
        return unstructured.needs_training(config)
    return structured.needs_training(config)


def weights_left(before: nn.Module, after: nn.Module) -> tuple[int, int]:
    """(non-zero prunable weights after, prunable weights of the dense model before): conv and linear
    weights, biases and BatchNorm not counted."""
    n0 = sum(m.weight.numel() for _, m in core.prunable_layers(before))
    nz = sum(int((m.weight != 0).sum()) for _, m in core.prunable_layers(after))
    return nz, n0


def removed_fraction(before: nn.Module, after: nn.Module) -> float:
    """Share of the dense model's prunable weights that are gone: zero (masked) or removed (structured)."""
    nz, n0 = weights_left(before, after)
    return 1 - nz / max(1, n0)


CURVE_METHODS = (
    ("magnitude, per layer", "magnitude", "layer"),
    ("magnitude, global", "magnitude", "global"),
    ("random", "random", "layer"),
    ("L1 filter (removed)", "l1-filter", "layer"),
)


def accuracy_curves(
    model: nn.Module,
    data: Dataset,
    amounts: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95),
    methods: Sequence[tuple[str, str, str]] = CURVE_METHODS,
    max_images: int | None = 2000,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> list[dict[str, object]]:
    """Validation top-1 against sparsity for several methods, one-shot, no fine-tuning."""
    x, y = data.x_val[:max_images], data.y_val[:max_images]
    rows: list[dict[str, object]] = []
    total = len(amounts) * len(methods)
    for i, (label, method, scope) in enumerate(methods):
        for j, a in enumerate(amounts):
            core.check_stop(should_stop)
            cfg = make_config(method, a, scope=scope)
            pruned = (
                structured.structured_prune(model, cfg, data)
                if isinstance(cfg, structured.StructuredBase)
                else unstructured.masked_prune(model, cfg, data)
            )
            top1 = metrics.evaluate(pruned, x, y)[0]
            rows.append(
                {"method": label, "amount": a, "sparsity": removed_fraction(model, pruned), "top1": top1}
            )
            if progress:
                progress((i * len(amounts) + j + 1) / total, f"{label} at {a:.0%}")
    return rows
