"""A teacher trained the way Hinton's was: random +-2 pixel shifts (jitter), so that it does not
memorise its training images and its soft targets on them still carry information.

Used by the full-label benchmark; the weights are cached under the cache folder like baselines.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from compression import data as data_mod
from compression import models, rng, train


@dataclass(frozen=True)
class JitterTeacherConfig:
    dataset: str = "fashion-mnist"
    model: str = "lenet5"
    epochs: int = 15
    shift: int = 2  # pixels: each image is moved by a random integer offset in [-shift, shift]
    lr: float = 1e-3  # Adam, cosine schedule
    batch_size: int = 128
    seed: int = 0

    def path(self) -> Path:
        key = hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]
        return train.cache_dir() / "teachers" / f"{self.dataset}__{self.model}__jitter__{key}.safetensors"


def jitter(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Shift every image by its own random (dy, dx) in [-shift, shift], filling with the background."""
    if shift <= 0:
        return x
    n, _, h, w = x.shape
    pad = F.pad(x, (shift, shift, shift, shift), value=float(x.min()))
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * shift)
    cropped = pad.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    return cropped.gather(3, cols)


def train_teacher(
    cfg: JitterTeacherConfig, ds: data_mod.Dataset, progress: train.Progress | None = None
) -> nn.Module:
    model = rng.reinit(models.build(cfg.model, ds.input_shape, ds.num_classes), cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps = cfg.epochs * ((len(ds.x_train) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    g = torch.Generator().manual_seed(cfg.seed + 77)
    model.train()
    step = 0
    for epoch in range(cfg.epochs):
        for xb, yb in data_mod.batches(
            ds.x_train, ds.y_train, cfg.batch_size, shuffle_seed=cfg.seed * 1000 + epoch
        ):
            loss = F.cross_entropy(model(jitter(xb, cfg.shift, g)), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if progress is not None and step % 50 == 0:
                progress(step / steps, f"teacher epoch {epoch + 1}/{cfg.epochs}, loss {float(loss):.3f}")
    return model.eval()


def get_teacher(
    cfg: JitterTeacherConfig, ds: data_mod.Dataset, progress: train.Progress | None = None
) -> nn.Module:
    """The jitter-trained teacher: from the cache when there, else trained now and cached."""
    path = cfg.path()
    if path.exists():
        model = models.build(cfg.model, ds.input_shape, ds.num_classes)
        model.load_state_dict(load_file(str(path)))
        return model.eval()
    model = train_teacher(cfg, ds, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(tmp),
        metadata={"config": json.dumps(asdict(cfg))},
    )
    tmp.replace(path)
    return model
