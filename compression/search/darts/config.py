"""The DARTS config (one search + retrain, a registered technique) and what a search reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from compression import train
from compression.search.darts.genotype import Genotype

CURES: tuple[str, ...] = ("none", "early-stop", "cap-skips")
MAX_SKIPS = 2  # DARTS+ stops above it, P-DARTS caps the derived normal cell at it
SELECTIONS: tuple[str, ...] = ("alpha", "perturbation")
MAX_SIZE_PENALTY = 10.0
SELECTION_IMAGES = 1000  # images of the alpha half that perturbation-based selection scores on


# digits: 30 retraining epochs are 300 steps (~8 s on this CPU); at 5 the default search's cell reached 70 %
# test top-1 (98.1-98.3 % at 30, with 4.7-5.1k parameters against LeNet-5's 21k at 98.1 %)
RETRAIN_START = {"digits": 30}
# fashion-mnist: Adam's step of every recorded retraining there (bench.darts: the searched and random cells)
RETRAIN_LR_START = {"fashion-mnist": 3e-3}


def start_retrain_epochs(dataset: str) -> int:
    """The retraining epochs the page and the CLI start with on `dataset`."""
    return RETRAIN_START.get(dataset, DartsConfig.retrain_epochs)


def start_retrain_lr(dataset: str) -> float:
    """The retraining step the page and the CLI start with on `dataset`."""
    return RETRAIN_LR_START.get(dataset, DartsConfig.retrain_lr)


@dataclass(frozen=True)
class DartsConfig:
    technique: ClassVar[str] = "darts"
    family: ClassVar[str] = "search"

    dataset: str = "fashion-mnist"
    epochs: int = 10  # search budget in epochs
    cells: int = 5  # cells in the search and the derived network (reduction cells at 1/3 and 2/3)
    nodes: int = 4  # intermediate nodes per cell
    channels: int = 8  # C: channels of the first cells (x2 after each reduction)
    order: int = 1  # 1 = first-order, 2 = second-order (unrolled) architecture gradient
    partial_channels: int = 1  # 1 = off; K = PC-DARTS: 1/K of the channels through the mixed ops
    cure: str = "none"  # none | early-stop (DARTS+: stop at > 2 skips) | cap-skips (P-DARTS: <= 2 skips)
    selection: str = "alpha"  # alpha (DARTS: strongest softmax) | perturbation (DARTS-PT: selection.py)
    retrain_epochs: int = 5
    search_subset: int = 5000  # training images of the search: half for weights, half for alphas
    batch_size: int = 64
    seed: int = 0
    lr: float = 0.05  # weights: SGD, momentum 0.9, cosine to 0 over the search
    weight_decay: float = 3e-4
    arch_lr: float = 3e-3  # alphas and betas: Adam, betas (0.5, 0.999), weight decay 1e-3 (DARTS: 3e-4)
    warmup_epochs: int = 0  # epochs that train the weights only before the alphas move (PC-DARTS: 15)
    # lambda: the alphas' loss adds lambda x the cells' expected op size (0..1, ops.op_costs): resource-aware
    # DARTS, cheaper ops for a smaller network; 0 = plain DARTS
    size_penalty: float = 0.0
    retrain_lr: float = 2e-3  # Adam with a cosine schedule
    retrain_subset: int = 0  # training images used by the retraining (0: the whole training split)
    retrain_batch_size: int = 128

    def validate(self) -> None:
        if self.epochs < 1 or self.cells < 1 or self.nodes < 1 or self.channels < 1:
            raise ValueError("epochs, cells, nodes and channels must be at least 1")
        if self.order not in (1, 2):
            raise ValueError("order is 1 (first-order) or 2 (second-order)")
        if self.cure not in CURES:
            raise ValueError(f"cure is one of {', '.join(CURES)}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"selection is one of {', '.join(SELECTIONS)}")
        if self.partial_channels < 1 or self.channels % self.partial_channels:
            raise ValueError(
                f"partial channels K={self.partial_channels} must divide the channels ({self.channels})"
            )
        if self.search_subset < 4 or self.batch_size < 1 or self.retrain_epochs < 0:
            raise ValueError("the search needs at least 4 images, a batch of 1, and retrain epochs >= 0")
        train.check_lr(self.lr, "weights' learning rate")
        train.check_epochs(self.epochs)
        train.check_epochs(self.retrain_epochs, "retrain epochs")
        train.check_lr(self.arch_lr, "alphas' learning rate")
        if not 0 <= self.size_penalty <= MAX_SIZE_PENALTY:  # NaN fails both
            raise ValueError(f"the size penalty must lie in [0, {MAX_SIZE_PENALTY:g}]")
        if self.warmup_epochs < 0 or self.retrain_subset < 0:
            raise ValueError("warmup epochs and the retraining subset cannot be negative")
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"the warm-up ({self.warmup_epochs} epochs) must be shorter than the search ({self.epochs}): "
                "α would never move"
            )
        train.check_lr(self.retrain_lr, "retraining learning rate")

    def cap(self) -> int | None:
        return MAX_SKIPS if self.cure == "cap-skips" else None


# The recorded 15-minute fashion-mnist search (bench/results/darts_target.md, `search_w4_s*_e15_batched`): what
# the page's "target search" link and the CLI's `--preset target` set; only the seed varies between searches.
TARGET = DartsConfig(
    dataset="fashion-mnist",
    epochs=10,
    cells=5,
    nodes=3,
    channels=8,
    partial_channels=4,
    cure="cap-skips",
    search_subset=10_000,
    arch_lr=3e-2,
    warmup_epochs=4,
    retrain_epochs=15,
    retrain_lr=start_retrain_lr("fashion-mnist"),
)


@dataclass
class EpochRecord:
    epoch: int  # 1-based
    alphas_normal: list[list[float]]  # softmax over OPS per edge, edges node by node
    alphas_reduce: list[list[float]]
    train_acc: float  # search accuracy on the weight half, 0..1
    val_acc: float  # on the alpha half, 0..1
    skips: int  # skip connections in the normal cell derived now, before any cap
    genotype: Genotype  # derived now, with the config's cure applied
    seconds: float  # wall time of this epoch
    stopped: bool  # the early-stop cure fired at this epoch
    # what derivation ranks: softmax(alpha) x the edge's normalised beta (equal to the alphas without
    # partial channels); any cure's genotype can be derived again from them (`derive`)
    ranked_normal: list[list[float]] = field(default_factory=list)
    ranked_reduce: list[list[float]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        """The epoch in one JSON-safe line (no alphas): what the CLI prints and the bench records."""
        return {
            "epoch": self.epoch,
            "train_acc": self.train_acc,
            "val_acc": self.val_acc,
            "skips": self.skips,
            "seconds": self.seconds,
            "stopped": self.stopped,
            "genotype": self.genotype.to_dict(),
        }


@dataclass
class SearchResult:
    config: DartsConfig
    records: list[EpochRecord]
    genotype: Genotype  # the final derived genotype (cure applied)
    device: str  # "cpu" or "cuda:0": where it ran
    stopped_at: int | None  # epoch at which the early-stop cure stopped it
    seconds: float
    # perturbation selection: {"normal": edges x ops, "reduce": ...}, the validation loss's rise when the
    # op is struck out (-inf for "none"); None with alpha selection
    selection_scores: dict[str, list[list[float]]] | None = None
    selection_seconds: float = 0.0

    @property
    def genotype_epoch(self) -> int:
        """The epoch whose supernet the genotype comes from: the one before an early stop (alpha selection)."""
        last = len(self.records)
        stepped_back = self.stopped_at and last > 1 and self.config.selection == "alpha"
        return last - 1 if stepped_back else last


def pick_device(device: str | torch.device | None) -> torch.device:
    """The device to run on: the one asked for, else CUDA when present, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    return f"cuda:{device.index or 0}" if device.type == "cuda" else device.type
