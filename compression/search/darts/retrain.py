"""Retraining a genotype's network from scratch, and DARTS as a registered technique."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from compression import data as data_mod
from compression import techniques, train
from compression.search.darts.config import DartsConfig, EpochRecord, SearchResult, pick_device
from compression.search.darts.genotype import Genotype
from compression.search.darts.network import build_network
from compression.search.darts.search import search
from compression.train import Progress, StopFlag


def training_split(ds: data_mod.Dataset, subset: int, device: torch.device) -> data_mod.Dataset:
    """The dataset with its training split cut to a seeded subset (0: all) and moved to `device`."""
    x, y = ds.x_train, ds.y_train
    if 0 < subset < len(x):
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(data_mod.SPLIT_SEED))[:subset]
        x, y = x[idx], y[idx]
    return dataclasses.replace(ds, x_train=x.to(device), y_train=y.to(device))


def retrain(
    genotype: Genotype,
    cfg: DartsConfig,
    ds: data_mod.Dataset,
    *,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
    device: str | torch.device | None = None,
) -> nn.Module:
    """Train the genotype's network from scratch on the training split (Adam, cosine schedule, the
    config's retrain fields); returns it in eval mode on the CPU."""
    dev = pick_device(device)
    model = build_network(genotype, ds.input_shape, ds.num_classes, channels=cfg.channels, cells=cfg.cells)
    model.to(dev)
    train.fit(
        model,
        training_split(ds, cfg.retrain_subset, dev),
        epochs=cfg.retrain_epochs,
        optimizer="adam",
        lr=cfg.retrain_lr,
        batch_size=cfg.retrain_batch_size,
        seed=cfg.seed,
        progress=progress,
        should_stop=should_stop,
        schedule="cosine",
    )
    return model.cpu().eval()


def search_and_retrain(
    cfg: DartsConfig,
    ds: data_mod.Dataset,
    *,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    device: str | torch.device | None = None,
    search_share: float = 0.5,
) -> tuple[SearchResult, nn.Module]:
    """The whole technique: search, then retrain the derived genotype. `search_share`: the part of
    the progress bar the search takes."""

    def part(lo: float, hi: float) -> Progress | None:
        if progress is None:
            return None
        return lambda f, msg: progress(lo + (hi - lo) * f, msg)

    result = search(
        cfg, ds, progress=part(0.0, search_share), should_stop=should_stop, on_epoch=on_epoch, device=device
    )
    model = retrain(
        result.genotype, cfg, ds, progress=part(search_share, 1.0), should_stop=should_stop, device=device
    )
    return result, model


@techniques.register(DartsConfig, slow=True)
def apply(
    model: nn.Module,
    config: DartsConfig,
    data: data_mod.Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    """DARTS as a technique: a new network searched and retrained on `data` (the input model is the
    lineage's reference baseline only; nothing of it is reused)."""
    del model
    return search_and_retrain(config, data, progress=progress, should_stop=should_stop)[1]
