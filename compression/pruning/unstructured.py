"""Masked pruning: magnitude (per layer or global) and random, at four granularities.

Pruned weights become exact zeros in place; the tensors keep their shape, so the model still
runs dense (no speed-up on a CPU) while its artifact shrinks (sparse encoding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from compression import techniques, train
from compression.data import Dataset
from compression.pruning import core


@dataclass(frozen=True)
class MaskedPruneBase:
    amount: float = 0.5  # target fraction of units set to zero (0..1)
    scope: str = "layer"  # layer: every layer at `amount`; global: one threshold across layers
    granularity: str = "weight"  # weight | vector | kernel | channel (see core.GRANULARITY_HELP)
    exclude: tuple[str, ...] = ()  # layer names left dense (e.g. the first conv)
    layer_amounts: tuple[tuple[str, float], ...] = ()  # per-layer overrides (from a sensitivity scan)
    schedule: str = "one-shot"  # one-shot | iterative (linear steps) | gradual (Zhu & Gupta cubic)
    steps: int = 1  # pruning steps for iterative / gradual schedules
    finetune_epochs: int = 0  # fine-tuning epochs after EACH pruning step (0 = none)
    optimizer: str = "sgd"  # sgd (momentum 0.9, gentle) | adam
    lr: float | None = None  # None: 0.01 for sgd, 1e-4 for adam
    seed: int = 0  # random pruning and fine-tuning shuffles

    criterion: ClassVar[str] = "magnitude"

    def validate(self) -> None:
        core.validate_common(self, {"granularity": core.GRANULARITIES})


@dataclass(frozen=True)
class MagnitudePrune(MaskedPruneBase):
    """Zero the weights (or groups) with the smallest magnitude (Han et al. 2015)."""

    technique: ClassVar[str] = "magnitude-prune"
    family: ClassVar[str] = "pruning"
    criterion: ClassVar[str] = "magnitude"


@dataclass(frozen=True)
class RandomPrune(MaskedPruneBase):
    """Zero randomly chosen weights (or groups): the baseline every criterion must beat."""

    technique: ClassVar[str] = "random-prune"
    family: ClassVar[str] = "pruning"
    criterion: ClassVar[str] = "random"


def needs_training(config: MaskedPruneBase) -> bool:
    return config.finetune_epochs > 0


@techniques.register(MagnitudePrune, slow=False)
@techniques.register(RandomPrune, slow=False)
def masked_prune(
    model: nn.Module,
    config: MaskedPruneBase,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    """Prune on the configured schedule, fine-tuning between steps with masks re-applied."""
    config.validate()
    out = train.clone(model).eval()
    targets = core.schedule_amounts(config.amount, config.schedule, config.steps)
    ft = core.FineTune(config.finetune_epochs, config.optimizer, config.lr, config.seed)
    overrides = dict(config.layer_amounts)
    for i, target in enumerate(targets):
        core.check_stop(should_stop)
        frac = target / config.amount if config.amount > 0 else 1.0
        layer_amounts = {k: v * frac for k, v in overrides.items()} if overrides else None
        masks = core.compute_masks(
            out,
            target,
            scope=config.scope,
            granularity=config.granularity,
            criterion=config.criterion,
            exclude=config.exclude,
            layer_amounts=layer_amounts,
            seed=config.seed + i,
        )
        core.apply_masks(out, masks)
        if progress:
            progress(i / len(targets), f"step {i + 1}/{len(targets)}: pruned to {target:.1%}")
        span = (i / len(targets), (i + 1) / len(targets))
        core.fine_tune(
            out,
            data,
            ft,
            after_step=core.mask_keeper(masks),
            progress=progress,
            should_stop=should_stop,
            span=span,
        )
    if progress:
        progress(1.0, f"pruned to {config.amount:.1%}")
    return out.eval()
