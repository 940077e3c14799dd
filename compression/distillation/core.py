"""Train a student from a teacher's soft targets, and its scratch twin side by side.

`apply(teacher, DistillConfig, data)` is the registered technique: it returns the distilled student.
`train_pair` also trains the scratch twin (same architecture, initial weights, seed, optimizer,
schedule and number of steps) in the same loop, so the page and the benches compare like with like
and time both kinds of step interleaved.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from compression import metrics, models, rng, techniques, train
from compression.data import Dataset
from compression.distillation import cache
from compression.distillation.losses import (
    IGNORE,
    LOSSES,
    FeatureTap,
    batch_loss,
    check_soft_targets,
    hint_adapter,
    hint_loss,
)
from compression.distillation.teacher import jitter

EpochHook = Callable[[dict[str, Any]], None]
# digits: 30 epochs are 570 steps of 64 images, ~1 s a student; at 5 epochs and Adam 1e-3 both students
# stopped at 55-80 % top-1 (the distilled one 17 points behind, 3 seeds)
START_EPOCHS = {"digits": 30}


def start_settings(dataset: str) -> tuple[int, float]:
    """The epochs and Adam rate a student starts with on `dataset` (lab and CLI alike): the dataset's own
    training rate (digits: 3e-3, as its baselines), and enough epochs for both students to converge."""
    return START_EPOCHS.get(dataset, 5), train.DEFAULT_LR.get(dataset, 1e-3)


@dataclass(frozen=True)
class DistillConfig:
    technique: ClassVar[str] = "distill"
    family: ClassVar[str] = "distillation"

    student: str = "lenet-300-100"  # zoo architecture of the student
    width: float = 0.25  # the student's width multiplier (narrower = smaller)
    temperature: float = 4.0  # T: softens both softmaxes (1 = plain probabilities)
    alpha: float = 0.9  # weight of the SOFT term; (1 - alpha) goes to CE on labels (Hinton's convention)
    loss: str = "kl"  # kl (Hinton) | mse (logit matching) | hint (kl + FitNets feature hint)
    hint_weight: float = 1.0  # hint only: weight of the feature MSE
    epochs: int = 10  # passes over the (transfer) training set
    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-3
    batch_size: int = 128
    schedule: str = "cosine"  # cosine | constant learning rate
    labels: int = 0  # 0: every training label used; N: N labelled images, the rest an unlabelled transfer set
    jitter: int = (
        0  # pixels: random shifts of every training image (both students); the teacher then runs online
    )
    seed: int = 0  # initial weights, label subset and data order

    def validate(self) -> None:
        if self.student not in models.MODELS:
            raise ValueError(f"Unknown student '{self.student}'. Known: {', '.join(models.MODELS)}")
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss '{self.loss}' (use {', '.join(LOSSES)})")
        if not 0.0 < self.width <= 4.0:
            raise ValueError(f"width must be in (0, 4], got {self.width}")
        check_soft_targets(self.temperature, self.alpha)
        if self.epochs < 0 or self.labels < 0 or self.batch_size < 1:
            raise ValueError("epochs, labels and batch_size must be non-negative (batch_size >= 1)")
        if not 0 <= self.jitter <= 4 or (self.jitter and self.loss == "hint"):
            raise ValueError("jitter is 0..4 pixels, and works with the kl and mse losses (not hint)")
        if self.optimizer not in ("adam", "sgd") or self.schedule not in ("cosine", "constant"):
            raise ValueError("optimizer is adam|sgd and schedule is cosine|constant")
        train.check_lr(self.lr)
        train.check_epochs(self.epochs)


TWIN_FIELDS = (
    "student",
    "width",
    "epochs",
    "optimizer",
    "lr",
    "batch_size",
    "schedule",
    "labels",
    "jitter",
    "seed",
)


def twin_recipe(config: DistillConfig) -> dict[str, Any]:
    """The scratch twin's recipe: the same student and training as `config`, labels only, no teacher."""
    return {"technique": "scratch-twin", **{f: getattr(config, f) for f in TWIN_FIELDS}}


@dataclass
class PairResult:
    student: nn.Module  # distilled
    scratch: nn.Module | None  # the twin trained on labels alone (None when not asked for)
    history: list[dict[str, Any]] = field(default_factory=list)  # one row per epoch
    seconds_distill: float = 0.0  # time in the distilled student's steps (teacher outputs cached)
    seconds_scratch: float = 0.0  # time in the scratch twin's steps, interleaved with the above
    seconds_teacher: float = 0.0  # one-off: computing the teacher's outputs (0 when cached)

    @property
    def epoch_cost_ratio(self) -> float | None:
        """Distilled step time over scratch step time, timed interleaved in one loop."""
        return self.seconds_distill / self.seconds_scratch if self.seconds_scratch > 0 else None


def build_student(config: DistillConfig, ds: Dataset) -> nn.Module:
    """The zoo student at its width, initialised from `config.seed`."""
    return rng.reinit(models.build(config.student, ds.input_shape, ds.num_classes, config.width), config.seed)


def labelled_mask(n: int, labels: int, seed: int) -> torch.Tensor:
    """Which training images keep their label: all when labels is 0, else a seeded random subset."""
    mask = torch.zeros(n, dtype=torch.bool)
    if labels <= 0 or labels >= n:
        mask[:] = True
        return mask
    order = torch.randperm(n, generator=torch.Generator().manual_seed(10_007 + seed))
    mask[order[:labels]] = True
    return mask


def _orders(n: int, seed: int, epoch: int, pool: torch.Tensor | None = None) -> torch.Tensor:
    """The data order of one epoch: every index of `pool` (default 0..n-1) in a seeded permutation."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    if pool is None:
        return torch.randperm(n, generator=g)
    return pool[torch.randperm(len(pool), generator=g)]


def _scheduler(opt: torch.optim.Optimizer, schedule: str, total: int) -> Any:
    return torch.optim.lr_scheduler.CosineAnnealingLR(opt, total) if schedule == "cosine" else None


def _val_top1(model: nn.Module, ds: Dataset) -> float:
    return metrics.evaluate(model, ds.x_val, ds.y_val)[0]


def train_pair(
    teacher: nn.Module,
    config: DistillConfig,
    ds: Dataset,
    *,
    twin: bool = True,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
    on_epoch: EpochHook | None = None,
    teacher_hash: str | None = None,
    evaluate_every_epoch: bool = True,
) -> PairResult:
    """Distil a student from `teacher` (never modified) and, with `twin`, train its scratch twin.

    Both start from identical weights and use the same optimizer, schedule, batch size and number
    of steps. Full labels: both see the same batches in the same order. With a label budget the
    distilled student walks the whole training set (labelled + transfer set, CE only on the
    labelled rows) and the twin the labelled images alone, re-shuffled each pass, for the same
    number of steps.
    """
    config.validate()
    hint = config.loss == "hint"
    t0 = time.perf_counter()
    before = cache.computed
    online = (
        train.clone(teacher).eval() if config.jitter else None
    )  # shifted images: the teacher runs per batch
    if online is None:
        outs = cache.teacher_outputs(teacher, ds, "train", features=hint, teacher_hash=teacher_hash)
        t_logits, t_feats = outs.logits, outs.features
    else:
        t_logits, t_feats = torch.zeros(len(ds.x_train), ds.num_classes), None
    seconds_teacher = time.perf_counter() - t0 if cache.computed > before else 0.0
    # the soft target of every training image, computed once: probabilities at T (or the logits for MSE)
    target, offset = _soft_targets(t_logits, config)
    shift_gen = torch.Generator().manual_seed(10_009 + config.seed)

    student = build_student(config, ds)
    scratch = copy.deepcopy(student) if twin else None
    adapter = hint_adapter(student, teacher) if hint else None
    tap = FeatureTap(student) if hint else None
    params = list(student.parameters()) + (list(adapter.parameters()) if adapter is not None else [])
    mk = train.make_optimizer
    opt = mk(params, config.optimizer, config.lr, 0.9, 0.0)
    opt_s = mk(scratch.parameters(), config.optimizer, config.lr, 0.9, 0.0) if scratch is not None else None

    x, y = ds.x_train, ds.y_train
    n = len(x)
    mask = labelled_mask(n, config.labels, config.seed)
    budget = not bool(mask.all())
    y_seen = torch.where(mask, y, torch.full_like(y, IGNORE))  # transfer-set images have no label
    pool = torch.nonzero(mask).flatten()
    bs = config.batch_size
    steps_per_epoch = max(1, (n + bs - 1) // bs)
    total = max(1, config.epochs * steps_per_epoch)
    sched = _scheduler(opt, config.schedule, total)
    sched_s = _scheduler(opt_s, config.schedule, total) if opt_s is not None else None
    ce = nn.CrossEntropyLoss()

    result = PairResult(student, scratch, seconds_teacher=seconds_teacher)
    twin_stream: list[torch.Tensor] = []  # budget: the twin's batches, refilled a pass at a time
    twin_pass = 0
    step = 0
    student.train()
    if scratch is not None:
        scratch.train()
    for epoch in range(config.epochs):
        order = _orders(n, config.seed, epoch)
        loss_d_sum = loss_s_sum = 0.0
        for i in range(0, n, bs):
            if should_stop is not None and should_stop():
                student.eval()
                raise train.Cancelled("cancelled by the user")
            idx = order[i : i + bs]
            sidx = idx
            if budget:
                if not twin_stream:
                    perm = _orders(n, config.seed, 100_000 + twin_pass, pool)
                    twin_stream = list(torch.split(perm, bs))[::-1]
                    twin_pass += 1
                sidx = twin_stream.pop()
            xb, xs = x[idx], x[sidx]
            if config.jitter:  # the same shifted batch for both students (full labels)
                xb = jitter(xb, config.jitter, shift_gen)
                xs = xb if sidx is idx else jitter(xs, config.jitter, shift_gen)
            # interleaved A B / B A so neither kind of step always runs on a warm (or cold) cache
            for which in ("d", "s") if step % 2 == 0 else ("s", "d"):
                if which == "d":
                    t1 = time.perf_counter()
                    if online is not None:
                        with torch.no_grad():
                            tb, ob = _soft_targets(online(xb), config)
                    else:
                        tb, ob = target[idx], offset[idx]
                    loss = _distill_step(
                        student,
                        opt,
                        sched,
                        tap,
                        adapter,
                        config,
                        xb,
                        y_seen[idx],
                        tb,
                        t_feats[idx] if t_feats is not None else None,
                        mask[idx].sum() if budget else None,
                    )
                    result.seconds_distill += time.perf_counter() - t1
                    loss -= float(ob.mean())
                    loss_d_sum += loss
                elif scratch is not None and opt_s is not None:
                    t3 = time.perf_counter()
                    loss_s = ce(scratch(xs), y[sidx])
                    opt_s.zero_grad(set_to_none=True)
                    loss_s.backward()
                    opt_s.step()
                    if sched_s is not None:
                        sched_s.step()
                    result.seconds_scratch += time.perf_counter() - t3
                    loss_s_sum += float(loss_s.detach())
            step += 1
            if progress is not None and (step % 10 == 0 or step == total):
                progress(step / total, f"epoch {epoch + 1}/{config.epochs}, loss {loss:.3f}")
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            "loss_distilled": loss_d_sum / steps_per_epoch,
            "seconds_distilled": result.seconds_distill,
            "seconds_scratch": result.seconds_scratch,
        }
        if scratch is not None:
            row["loss_scratch"] = loss_s_sum / steps_per_epoch
        if evaluate_every_epoch or epoch == config.epochs - 1:
            row["val_distilled"] = _val_top1(student, ds)
            student.train()
            if scratch is not None:
                row["val_scratch"] = _val_top1(scratch, ds)
                scratch.train()
        result.history.append(row)
        if on_epoch is not None:
            on_epoch(row)
    if tap is not None:
        tap.close()
    student.eval()
    if scratch is not None:
        scratch.eval()
    return result


def _soft_targets(logits: torch.Tensor, config: DistillConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """What the student matches (probabilities at T, or the logits for MSE) and, per row, the constant
    alpha T^2 H(teacher_T) that turns the soft cross-entropy into the reported KL."""
    if config.loss == "mse":
        return logits, torch.zeros(len(logits))
    probs = torch.softmax(logits / config.temperature, dim=1)
    entropy = -(probs * torch.log(probs.clamp_min(1e-30))).sum(1)
    return probs, entropy * (config.alpha * config.temperature**2)


def _distill_step(
    student: nn.Module,
    opt: torch.optim.Optimizer,
    sched: Any,
    tap: FeatureTap | None,
    adapter: nn.Module | None,
    config: DistillConfig,
    xb: torch.Tensor,
    yb: torch.Tensor,
    target: torch.Tensor,
    t_feats: torch.Tensor | None,
    n_labelled: torch.Tensor | None,
) -> float:
    """One optimiser step of the distilled student; the teacher's outputs are looked up, never run."""
    logits = student(xb)
    loss = batch_loss(
        logits,
        target,
        yb,
        kind=config.loss,
        temperature=config.temperature,
        alpha=config.alpha,
        n_labelled=n_labelled,
    )
    if adapter is not None and tap is not None and tap.value is not None and t_feats is not None:
        loss = loss + config.hint_weight * hint_loss(adapter, tap.value, t_feats)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return float(loss.detach())


@techniques.register(DistillConfig, slow=True)
def apply(
    model: nn.Module,
    config: DistillConfig,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    """Technique entry point: `model` is the teacher (untouched); returns the distilled student."""
    return train_pair(model, config, data, twin=False, progress=progress, should_stop=should_stop).student
