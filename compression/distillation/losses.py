"""Distillation losses: Hinton's soft-target KL, logit MSE (Ba and Caruana), and a FitNets hint.

Alpha convention (stated on the page too): `alpha` weighs the SOFT term,
    L = alpha * T^2 * KL(softmax(t/T) || softmax(s/T)) + (1 - alpha) * CE(s, y).
This is Hinton et al.'s form and torchdistill's; Intel's INC names the weights the other way round.
The T^2 factor keeps the soft term's gradient magnitude roughly independent of T (the gradient of
the KL scales as 1/T^2 for large T).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_soft_targets(temperature: float, alpha: float, prefix: str = "") -> None:
    """ValueError for a temperature outside [0.5, 100] (T -> 0 divides the logits by ~0) or an alpha outside
    [0, 1]: the limits of distillation and of a KD recovery."""
    if not 0.5 <= temperature <= 100.0:
        raise ValueError(f"{prefix}temperature must be in [0.5, 100], got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{prefix}alpha must be in [0, 1], got {alpha}")


LOSSES = {
    "kl": "Hinton: alpha x T^2 x KL(teacher_T || student_T) + (1 - alpha) x CE",
    "mse": "logit matching: alpha x MSE(student logits, teacher logits) + (1 - alpha) x CE",
    "hint": "Hinton KL plus a FitNets hint: MSE between adapted student and teacher features",
}


def soft_kl(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 x KL(softmax(teacher/T) || softmax(student/T)), averaged over the batch."""
    return soft_kl_logp(student, teacher_logp(teacher, temperature), temperature)


def teacher_logp(teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """log softmax(teacher / T): computed once per training run for the whole cached split."""
    return F.log_softmax(teacher / float(temperature), dim=1)


def soft_kl_logp(student: torch.Tensor, log_t: torch.Tensor, temperature: float) -> torch.Tensor:
    """`soft_kl` with the teacher's log-probabilities at T already computed (the training loop's form)."""
    t = float(temperature)
    return F.kl_div(F.log_softmax(student / t, dim=1), log_t, reduction="batchmean", log_target=True) * (
        t * t
    )


def logit_mse(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of the logits (Ba and Caruana 2014), summed over classes, mean over batch."""
    return ((student - teacher) ** 2).sum(dim=1).mean()


def hard_ce(
    student: torch.Tensor, labels: torch.Tensor, labelled: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy on the labelled rows only (the rest of the batch is the unlabelled transfer set)."""
    if labelled is not None:
        if not bool(labelled.any()):
            return student.sum() * 0.0  # keeps the graph; no labelled image in this batch
        student, labels = student[labelled], labels[labelled]
    return F.cross_entropy(student, labels)


def distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str,
    temperature: float,
    alpha: float,
    labelled: torch.Tensor | None = None,
    log_t: torch.Tensor | None = None,
) -> torch.Tensor:
    """alpha x soft term + (1 - alpha) x hard CE; the soft term is KL at T (kl, hint) or logit MSE (mse).

    log_t: the teacher's log-probabilities at T for these rows, when precomputed (KL kinds).
    """
    if kind == "mse":
        soft = logit_mse(student, teacher)
    elif log_t is not None:
        soft = soft_kl_logp(student, log_t, temperature)
    else:
        soft = soft_kl(student, teacher, temperature)
    if alpha >= 1.0:
        return soft
    return alpha * soft + (1.0 - alpha) * hard_ce(student, labels, labelled)


def last_linear(model: nn.Module) -> nn.Linear:
    """The classifier layer: its input is the penultimate feature vector the hint loss matches."""
    last = None
    for m in model.modules():
        if isinstance(m, nn.Linear):
            last = m
    if last is None:
        raise ValueError("The hint loss needs a model whose last layer is nn.Linear")
    return last


class FeatureTap:
    """Captures the input of a model's last Linear layer (penultimate features) on every forward."""

    def __init__(self, model: nn.Module) -> None:
        self.value: torch.Tensor | None = None
        self._handle = last_linear(model).register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        self.value = inputs[0].flatten(1)

    def close(self) -> None:
        self._handle.remove()


def hint_adapter(student: nn.Module, teacher: nn.Module) -> nn.Linear:
    """FitNets' learned regressor: maps student features to the teacher's feature width."""
    return nn.Linear(last_linear(student).in_features, last_linear(teacher).in_features)


def hint_loss(adapter: nn.Module, student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """Mean squared error between adapted student features and teacher features."""
    return F.mse_loss(adapter(student_feat), teacher_feat)


IGNORE = -100  # label of a transfer-set image (no label): cross-entropy skips it


def soft_ce(student: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """T^2 x CE(softmax(teacher/T), softmax(student/T)) = soft_kl + T^2 x H(teacher_T).

    The teacher's entropy does not depend on the student, so the gradient is soft_kl's; one fused
    kernel instead of two log-softmaxes makes the training step cheaper.
    """
    t = float(temperature)
    return F.cross_entropy(student / t, teacher_probs) * (t * t)


def batch_loss(
    student: torch.Tensor,
    target: torch.Tensor,
    labels: torch.Tensor,
    *,
    kind: str,
    temperature: float,
    alpha: float,
    n_labelled: torch.Tensor | None = None,
) -> torch.Tensor:
    """The training loop's form of `distill_loss` (same gradient, fewer kernels).

    target: the teacher's probabilities at T (kl, hint) or its logits (mse), for these rows.
    labels: IGNORE for transfer-set rows; n_labelled: their complement's count (None: all labelled).
    """
    soft = logit_mse(student, target) if kind == "mse" else soft_ce(student, target, temperature)
    if alpha >= 1.0:
        return soft
    if n_labelled is None:
        hard = F.cross_entropy(student, labels)
    else:
        hard = F.cross_entropy(student, labels, ignore_index=IGNORE, reduction="sum") / n_labelled.clamp_min(
            1
        )
    return alpha * soft + (1.0 - alpha) * hard
