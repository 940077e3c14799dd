"""Training and fine-tuning loops, and the on-disk cache of trained baselines."""

from __future__ import annotations

import contextvars
import copy
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from compression import data as data_mod
from compression import models, rng

Progress = Callable[[float, str], None]  # (fraction done 0..1, message)
StopFlag = Callable[[], bool]  # True when the user pressed cancel
LossHook = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
StepHook = Callable[[nn.Module], None]

# The loss `fit` uses when its caller passes none: a technique can wrap another one's training (KD as a
# recovery step in pruning fine-tuning and QAT, compression.distillation.recovery) without changing it.
DEFAULT_LOSS: contextvars.ContextVar[LossHook | None] = contextvars.ContextVar("default_loss", default=None)
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "baselines"
CACHE_VERSION = 1  # bump when the training code changes the weights it produces


class Cancelled(RuntimeError):
    """Raised inside a loop when the user cancelled the job."""


def cache_dir() -> Path:
    return Path(os.environ.get("COMPRESSION_CACHE", "cache"))


MAX_WIDTH = 4.0  # a width multiplier; beyond it a zoo model outgrows this machine's memory


MAX_EPOCHS = 1000  # a training or fine-tuning; a recipe's 1e9 started a job that never ended


def check_epochs(n: int, name: str = "epochs") -> None:
    if not 0 <= n <= MAX_EPOCHS:
        raise ValueError(f"{name} must be 0 to {MAX_EPOCHS}, got {n}")


def check_lr(lr: float | None, name: str = "learning rate") -> None:
    """A learning rate in (0, 10), or None for a default: NaN, inf or 0 would wreck or freeze the weights."""
    if lr is not None and not 0 < lr < 10:
        raise ValueError(f"the {name} must be in (0, 10), got {lr}")


@dataclass(frozen=True)
class TrainConfig:
    dataset: str = "digits"
    model: str = "lenet5"
    width: float = 1.0  # width multiplier (students are narrower)
    epochs: int = 30
    optimizer: str = "adam"  # adam | sgd
    lr: float = 1e-3
    momentum: float = 0.9  # sgd only
    weight_decay: float = 0.0
    batch_size: int = 64
    seed: int = 0
    schedule: str = "cosine"  # cosine | constant learning rate

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not 0 < self.width <= MAX_WIDTH:
            raise ValueError(f"epochs and batch size must be at least 1, the width in (0, {MAX_WIDTH:g}]")
        check_lr(self.lr)
        check_epochs(self.epochs)
        if self.optimizer not in ("adam", "sgd") or self.schedule not in ("cosine", "constant"):
            raise ValueError("optimizer is adam or sgd, schedule cosine or constant")

    def key(self) -> str:
        """Everything that determines the weights, hashed: the baseline cache key."""
        blob = json.dumps({**asdict(self), "v": CACHE_VERSION}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def filename(self) -> str:
        return f"{self.dataset}__{self.model}__w{self.width:g}__{self.key()}"


DEFAULT_EPOCHS = {"digits": 60, "fashion-mnist": 15, "mnist": 8, "cifar10": 20}
DEFAULT_BATCH = {"digits": 64, "fashion-mnist": 128, "mnist": 128, "cifar10": 128}
# BN-CNN's 22 M MACs per image cost 1.7 min per fashion-mnist epoch at one thread here; with BatchNorm it
# converges in far fewer epochs than the LeNets, so its shipped baseline trains 6 (not 15).
MODEL_EPOCHS = {("fashion-mnist", "bn-cnn"): 6}
DEFAULT_LR = {"digits": 3e-3}  # Adam; 1e-3 elsewhere (digits: 98% vs 97% test top-1 for LeNet-5)


def default_config(dataset: str, model: str, width: float = 1.0) -> TrainConfig:
    return TrainConfig(
        dataset=dataset,
        model=model,
        width=width,
        epochs=MODEL_EPOCHS.get((dataset, model), DEFAULT_EPOCHS.get(dataset, 10)),
        batch_size=DEFAULT_BATCH.get(dataset, 128),
        lr=DEFAULT_LR.get(dataset, 1e-3),
    )


def make_optimizer(params: object, name: str, lr: float, momentum: float, wd: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=wd)  # type: ignore[arg-type]
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=wd)  # type: ignore[arg-type]
    raise ValueError(f"Unknown optimizer '{name}' (use sgd or adam)")


def fit(
    model: nn.Module,
    ds: data_mod.Dataset,
    *,
    epochs: int,
    optimizer: str = "sgd",
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    batch_size: int = 128,
    seed: int = 0,
    loss_hook: LossHook | None = None,
    after_step: StepHook | None = None,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
    progress_span: tuple[float, float] = (0.0, 1.0),
    schedule: str = "constant",
) -> nn.Module:
    """Train `model` in place on the training split and return it.

    loss_hook(model, x, y, logits) replaces cross-entropy (distillation, L1 on BN scales);
    after_step(model) runs after each optimiser step (re-applying pruning masks, clamping).
    """
    rng.seed(seed)
    opt = make_optimizer(model.parameters(), optimizer, lr, momentum, weight_decay)
    x, y = ds.x_train, ds.y_train
    steps_per_epoch = max(1, (len(x) + batch_size - 1) // batch_size)
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total) if schedule == "cosine" else None
    lo, hi = progress_span
    step = 0
    ce = nn.CrossEntropyLoss()
    loss_hook = loss_hook or DEFAULT_LOSS.get()
    model.train()
    for epoch in range(epochs):
        for xb, yb in data_mod.batches(x, y, batch_size, shuffle_seed=seed * 1000 + epoch):
            if should_stop is not None and should_stop():
                model.eval()
                raise Cancelled("cancelled by the user")
            logits = model(xb)
            loss = loss_hook(model, xb, yb, logits) if loss_hook else ce(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            if after_step is not None:
                after_step(model)
            step += 1
            if progress is not None and (step % 10 == 0 or step == total):
                progress(lo + (hi - lo) * step / total, f"epoch {epoch + 1}/{epochs}, loss {loss.item():.3f}")
    model.eval()
    return model


def train_baseline(
    cfg: TrainConfig, progress: Progress | None = None, should_stop: StopFlag | None = None
) -> nn.Module:
    ds = data_mod.load(cfg.dataset)
    model = rng.reinit(models.build(cfg.model, ds.input_shape, ds.num_classes, cfg.width), cfg.seed)
    return fit(
        model,
        ds,
        epochs=cfg.epochs,
        optimizer=cfg.optimizer,
        lr=cfg.lr,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        progress=progress,
        should_stop=should_stop,
        schedule=cfg.schedule,
    )


def baseline_path(cfg: TrainConfig) -> Path | None:
    """Where a trained baseline is on disk (shipped assets first, then the cache), if anywhere."""
    for folder in (ASSETS, cache_dir() / "baselines"):
        path = folder / f"{cfg.filename()}.safetensors"
        if path.exists():
            return path
    return None


def save_baseline(model: nn.Module, cfg: TrainConfig, folder: Path | None = None) -> Path:
    folder = folder or cache_dir() / "baselines"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cfg.filename()}.safetensors"
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".tmp")
    save_file(state, str(tmp), metadata={"config": json.dumps(asdict(cfg))})
    tmp.replace(path)  # atomic: a reader never sees half a file
    return path


def load_baseline(cfg: TrainConfig) -> nn.Module | None:
    path = baseline_path(cfg)
    if path is None:
        return None
    ds_shape, classes = shape_of(cfg.dataset)
    model = models.build(cfg.model, ds_shape, classes, cfg.width)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def shape_of(dataset: str) -> tuple[tuple[int, int, int], int]:
    spec = data_mod.DATASETS[dataset]
    return spec.input_shape, len(spec.classes)


def get_baseline(
    cfg: TrainConfig, progress: Progress | None = None, should_stop: StopFlag | None = None
) -> nn.Module:
    """The trained baseline for `cfg`: from disk when cached, else trained now and cached."""
    model = load_baseline(cfg)
    if model is not None:
        if progress:
            progress(1.0, "loaded from cache")
        return model
    model = train_baseline(cfg, progress, should_stop)
    save_baseline(model, cfg)
    return model


def weights_hash(model: nn.Module) -> str:
    """A short hash of a model's weights: the lineage key of every run built on it."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if isinstance(tensor, torch.Tensor) and not tensor.is_quantized:
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def clone(model: nn.Module) -> nn.Module:
    """Techniques never mutate their input: they start from a deep copy."""
    return copy.deepcopy(model)


def with_epochs(cfg: TrainConfig, epochs: int) -> TrainConfig:
    return replace(cfg, epochs=epochs)
