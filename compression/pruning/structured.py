"""Structured pruning: whole channels and neurons are physically removed with torch-pruning.

torch-pruning's dependency graph finds every tensor coupled to a channel (the next layer's
input, batch-norm statistics, residual additions) so removing a filter keeps the network
consistent; the result is a genuinely smaller dense model that really runs faster.

Exact count law: in layer scope, each prunable group (a layer's output channels together with
everything coupled to them) of C channels loses exactly min(round(a * C), C - 1) channels; in
global scope the pool of all T channels loses exactly min(round(a * T), T - G) for G groups
(every group keeps at least one channel). Ties: stable sort on (importance, channel index).
The output (classifier) layer is never pruned: its outputs are the classes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch_pruning as tp
from torch import nn

from compression import techniques, train
from compression.data import Dataset
from compression.pruning import core

NORMS = ("l1", "l2")


def _example(data: Dataset) -> torch.Tensor:
    return torch.zeros(1, *data.input_shape)


def _ignored(model: nn.Module, exclude: Iterable[str]) -> list[nn.Module]:
    modules = dict(model.named_modules())
    names = {core.classifier_name(model), *exclude}
    return [modules[n] for n in names if n in modules]


def remove_channels(
    model: nn.Module,
    amount: float,
    importance: Any,
    example: torch.Tensor,
    *,
    scope: str = "layer",
    exclude: Iterable[str] = (),
    original: dict[str, int] | None = None,
    calibrate: torch.Tensor | None = None,
) -> dict[str, int]:
    """Remove channels in place so each group ends at round(amount * original channels) removed.

    We let torch-pruning build the dependency graph (MetaPruner) and score groups with its
    importance; the selection of channels is ours so that counts are exact and ties are
    deterministic (MetaPruner keeps int(C * (1 - a)) channels, which float rounding can shift).
    `original` maps each group's root layer name to its channel count before the first step
    (iterative schedules); returns that map.
    """
    if scope not in core.SCOPES:
        raise ValueError(f"Unknown scope '{scope}' (use {', '.join(core.SCOPES)})")
    with torch.enable_grad():  # the dependency graph traces with autograd (a caller may have disabled it)
        return _remove_channels(model, amount, importance, example, scope, exclude, original, calibrate)


def _remove_channels(
    model: nn.Module,
    amount: float,
    importance: Any,
    example: torch.Tensor,
    scope: str,
    exclude: Iterable[str],
    original: dict[str, int] | None,
    calibrate: torch.Tensor | None,
) -> dict[str, int]:
    model.eval()
    pruner = tp.pruner.MetaPruner(
        model,
        example,
        importance=importance,
        pruning_ratio=amount,
        ignored_layers=_ignored(model, exclude),
        global_pruning=scope == "global",
    )
    names = {m: n for n, m in model.named_modules()}
    if calibrate is not None:  # activation importance: record mean |activation| first
        with importance.compute_importance(model), torch.no_grad():
            model(calibrate)
    groups = []
    for group in pruner.DG.get_all_groups(
        ignored_layers=pruner.ignored_layers, root_module_types=pruner.root_module_types
    ):
        imp = pruner.estimate_importance(group)
        if imp is None:
            continue
        root = group[0].dep.target.module
        groups.append((names[root], root, group[0].dep.handler, imp.detach().float().cpu()))
    original = dict(original or {})
    for name, _, _, imp in groups:
        original.setdefault(name, len(imp))
    chosen: dict[str, torch.Tensor] = {}
    if scope == "layer":
        for name, _, _, imp in groups:
            c0, c = original[name], len(imp)
            target_removed = min(core.exact_count(amount, c0), c0 - 1)
            k = max(0, target_removed - (c0 - c))
            chosen[name] = core.lowest_k(imp, min(k, c - 1))
    else:
        total0 = sum(original[name] for name, *_ in groups)
        total = sum(len(imp) for *_, imp in groups)
        k = core.exact_count(amount, total0) - (total0 - total)
        k = max(0, min(k, total - len(groups)))
        pool = torch.cat([imp for *_, imp in groups]) if groups else torch.zeros(0)
        owner = (
            torch.cat([torch.full((len(imp),), i) for i, (*_, imp) in enumerate(groups)]) if groups else pool
        )
        local = torch.cat([torch.arange(len(imp)) for *_, imp in groups]) if groups else pool
        left = [len(imp) for *_, imp in groups]
        picks: list[list[int]] = [[] for _ in groups]
        for idx in torch.sort(pool, stable=True).indices.tolist():
            if k == 0:
                break
            g = int(owner[idx])
            if left[g] > 1:  # every group keeps at least one channel
                picks[g].append(int(local[idx]))
                left[g] -= 1
                k -= 1
        chosen = {
            name: torch.tensor(p, dtype=torch.long) for (name, *_), p in zip(groups, picks, strict=True)
        }
    for name, root, handler, _ in groups:
        idxs = chosen[name].tolist()
        if idxs:
            pruner.DG.get_pruning_group(root, handler, sorted(idxs)).prune()
    return original


@dataclass(frozen=True)
class StructuredBase:
    amount: float = 0.5  # fraction of channels / neurons removed from each group (or the global pool)
    scope: str = "layer"  # layer | global
    exclude: tuple[str, ...] = ()  # layer names whose output channels are kept
    schedule: str = "one-shot"  # one-shot | iterative | gradual
    steps: int = 1  # pruning steps for iterative / gradual schedules
    finetune_epochs: int = 0  # fine-tuning epochs after EACH pruning step
    optimizer: str = "sgd"  # sgd (momentum 0.9) | adam
    lr: float | None = None  # None: 0.01 for sgd, 1e-4 for adam
    seed: int = 0

    def validate(self) -> None:
        core.validate_common(self, {})


@dataclass(frozen=True)
class StructuredPrune(StructuredBase):
    """Remove the filters / neurons with the smallest L1 or L2 norm (Li et al. 2017)."""

    technique: ClassVar[str] = "structured-prune"
    family: ClassVar[str] = "pruning"
    norm: str = "l1"  # l1 | l2: the norm of each filter's weights (summed over coupled layers)

    def validate(self) -> None:
        super().validate()
        if self.norm not in NORMS:
            raise ValueError(f"Unknown norm '{self.norm}' (use l1 or l2)")


@dataclass(frozen=True)
class ActivationPrune(StructuredBase):
    """Remove the channels / neurons whose mean |activation| on calibration images is nearest 0."""

    technique: ClassVar[str] = "activation-prune"
    family: ClassVar[str] = "pruning"
    calibration: int = 512  # training images used to measure activations


@dataclass(frozen=True)
class NetworkSlimming(StructuredBase):
    """Liu et al. 2017: train with L1 on BatchNorm scales, then remove channels with small scales."""

    technique: ClassVar[str] = "network-slimming"
    family: ClassVar[str] = "pruning"
    scope: str = "global"  # the paper uses one global threshold on |gamma|
    l1: float = 1e-4  # strength of the L1 penalty on BN scales (lambda)
    sparsity_epochs: int = 2  # epochs of training with the penalty before pruning


def _importance(config: StructuredBase) -> Any:
    if isinstance(config, StructuredPrune):
        # Li et al. 2017: the norm of each filter itself ("first" = the root layer of the group);
        # mean-normalised per layer so a global ranking compares layers fairly
        return tp.importance.MagnitudeImportance(p=1 if config.norm == "l1" else 2, group_reduction="first")
    if isinstance(config, ActivationPrune):
        return tp.importance.ActivationImportance()
    if isinstance(config, NetworkSlimming):
        # raw |gamma| (no per-layer normalisation) so one global threshold means what the paper means
        return tp.importance.BNScaleImportance(normalizer=None)
    raise TypeError(type(config))


def needs_training(config: StructuredBase) -> bool:
    return config.finetune_epochs > 0 or isinstance(config, NetworkSlimming)


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d) for m in model.modules())


def bn_l1_hook(strength: float) -> train.LossHook:
    """Cross-entropy plus lambda * sum |gamma| over every BatchNorm (network slimming)."""
    ce = nn.CrossEntropyLoss()

    def hook(model: nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        penalty = sum(
            m.weight.abs().sum() for m in model.modules() if isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d)
        )
        return ce(logits, y) + strength * penalty

    return hook


@techniques.register(StructuredPrune, slow=False)
@techniques.register(ActivationPrune, slow=False)
@techniques.register(NetworkSlimming, slow=True)
def structured_prune(
    model: nn.Module,
    config: StructuredBase,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    """Remove channels on the configured schedule, fine-tuning after each step."""
    config.validate()
    out = train.clone(model).eval()
    targets = core.schedule_amounts(config.amount, config.schedule, config.steps)
    ft = core.FineTune(config.finetune_epochs, config.optimizer, config.lr, config.seed)
    lo = 0.0
    if isinstance(config, NetworkSlimming):
        if not has_batchnorm(out):
            raise ValueError(
                "Network slimming needs BatchNorm layers; pick bn-cnn, small-resnet or a MobileNet."
            )
        lo = 0.5 if config.finetune_epochs > 0 else 1.0
        sparse = core.FineTune(config.sparsity_epochs, config.optimizer, config.lr, config.seed)
        core.fine_tune(
            out,
            data,
            sparse,
            loss_hook=bn_l1_hook(config.l1),
            progress=progress,
            should_stop=should_stop,
            span=(0.0, lo),
        )
    calibrate = None
    if isinstance(config, ActivationPrune):
        calibrate = data.x_train[: max(1, config.calibration)]
    example = _example(data)
    original: dict[str, int] | None = None
    for i, target in enumerate(targets):
        core.check_stop(should_stop)
        original = remove_channels(
            out,
            target,
            _importance(config),
            example,
            scope=config.scope,
            exclude=config.exclude,
            original=original,
            calibrate=calibrate,
        )
        step_lo = lo + (1 - lo) * i / len(targets)
        step_hi = lo + (1 - lo) * (i + 1) / len(targets)
        if progress:
            progress(step_lo, f"step {i + 1}/{len(targets)}: removed {target:.0%} of channels")
        core.fine_tune(out, data, ft, progress=progress, should_stop=should_stop, span=(step_lo, step_hi))
    if progress:
        progress(1.0, f"removed {config.amount:.0%} of channels")
    return out.eval()


def channel_counts(model: nn.Module) -> dict[str, int]:
    """Output channels / features of every conv and linear layer."""
    return {
        name: int(m.weight.shape[0])
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    }
