"""KD as a recovery step: any technique that trains (pruning fine-tuning, QAT) learns from the
model it started from (teacher = the baseline) instead of the labels alone.

`KDRecovery` wraps another technique's config: while that technique runs, `train.fit` uses
alpha x T^2 x KL(teacher_T || student_T) + (1 - alpha) x CE as its loss (train.DEFAULT_LOSS).
The teacher runs on each batch here (fine-tuning sees its own, changing batches; nothing to cache).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from compression import techniques, train
from compression.data import Dataset
from compression.distillation.losses import check_soft_targets, distill_loss


@dataclass(frozen=True)
class KDRecovery:
    technique: ClassVar[str] = "kd-recovery"
    family: ClassVar[str] = "distillation"

    step: str  # the wrapped technique's config, as JSON (techniques.to_dict)
    temperature: float = 4.0
    alpha: float = 0.7  # weight of the soft term (Hinton's convention); 1 - alpha on labels

    @classmethod
    def wrap(cls, config: Any, temperature: float = 4.0, alpha: float = 0.7) -> KDRecovery:
        return cls(json.dumps(techniques.to_dict(config), sort_keys=True), float(temperature), float(alpha))

    def __post_init__(self) -> None:
        try:
            inner = techniques.from_dict(json.loads(self.step))
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # a recipe's hand-written step
            raise ValueError(f"kd-recovery: its step is not a technique's config ({exc})") from exc
        if isinstance(inner, KDRecovery):
            raise ValueError("kd-recovery: its step cannot be another kd-recovery")
        check_soft_targets(self.temperature, self.alpha, "the KD ")

    def inner(self) -> Any:
        return techniques.from_dict(json.loads(self.step))


def kd_hook(teacher: nn.Module, temperature: float, alpha: float) -> train.LossHook:
    def hook(model: nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t = teacher(x)
        return distill_loss(logits, t, y, kind="kl", temperature=temperature, alpha=alpha)

    return hook


@contextlib.contextmanager
def kd_context(teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.7) -> Iterator[None]:
    """Every `train.fit` inside (in this thread) that brings no loss of its own distils from `teacher`."""
    frozen = train.clone(teacher).eval()  # the caller's model is never touched or switched to train mode
    token = train.DEFAULT_LOSS.set(kd_hook(frozen, temperature, alpha))
    try:
        yield
    finally:
        train.DEFAULT_LOSS.reset(token)


def add_cli_args(p: Any) -> None:
    """--kd, --kd-temperature, --kd-alpha on the CLIs of techniques that train (prune, quantize)."""
    p.add_argument(
        "--kd",
        action="store_true",
        help="recover with knowledge distillation: fine-tuning / QAT learn from the baseline (teacher)",
    )
    p.add_argument("--kd-temperature", type=float, default=4.0, help="--kd: temperature T")
    p.add_argument(
        "--kd-alpha", type=float, default=0.7, help="--kd: weight of the soft term (1 - alpha on labels)"
    )


@techniques.register(KDRecovery, slow=True)
def apply(
    model: nn.Module,
    config: KDRecovery,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    """Run the wrapped technique with KD from `model` (untouched) in every training loop it runs."""
    with kd_context(model, config.temperature, config.alpha):
        return techniques.apply(model, config.inner(), data, progress=progress, should_stop=should_stop)
