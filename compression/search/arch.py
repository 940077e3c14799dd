"""The architecture space: a LeNet-5 / BN-CNN-like family searched by depth, channels, kernels,
a width multiplier and the hidden fully connected width.

A point: `depth` conv blocks (1..max_depth; each conv k x k, BatchNorm, ReLU, then a 2x2 max-pool
while the map is at least 4 pixels wide), channels per block on a grid, kernel 3 or 5, a width
multiplier on every block's channels and on the hidden fully connected layer (0 = none), then the
classifier. Every block's choices are always sampled (a fixed-length encoding that every sampler
handles, simulated annealing and REINFORCE included); the depth says how many are used, so the
architecture's name keeps only those (two points may name one architecture).

Each trial is a proxy: the architecture trained from scratch for `proxy_epochs` epoch(s) on the
first `train_images` training images, then scored on validation images; a chosen trial is trained
on the full training split for `full_epochs` epochs when it is recorded as a run. The name
("archnet:c12k5-c24k3-fc48") is the whole architecture: it goes into the model file's metadata, and
`models.build` rebuilds the network from it through `build_named` (no pickled code).
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from torch import nn

from compression import data, train
from compression.train import Progress, StopFlag

FAMILY = "archnet"
POOL_MIN = 4  # a block max-pools 2x2 while its input map is at least this wide
HEAD_MAP = 4  # the last map is average-pooled to at most 4 x 4 before the fully connected layers
PROXY_LR = 3e-3  # Adam, constant: a short proxy run needs a brisk, schedule-free step
PROXY = {"digits": (1000, 2)}  # dataset -> (training images, epochs) of a trial; others: (3000, 1)
_NAME = re.compile(rf"^{FAMILY}:((?:c\d+k\d+-)+)fc(\d+)$")


@dataclass(frozen=True)
class Arch:
    """One architecture: (channels, kernel) per conv block after the width multiplier, and the
    hidden fully connected width (0: the classifier reads the pooled map directly)."""

    blocks: tuple[tuple[int, int], ...]
    fc: int

    @property
    def name(self) -> str:
        return f"{FAMILY}:" + "".join(f"c{c}k{k}-" for c, k in self.blocks) + f"fc{self.fc}"

    @classmethod
    def parse(cls, name: str) -> Arch:
        m = _NAME.match(name)
        if m is None:
            raise KeyError(f"'{name}' is not an {FAMILY} name (like {FAMILY}:c8k5-c16k3-fc32)")
        blocks = tuple((int(c), int(k)) for c, k in re.findall(r"c(\d+)k(\d+)", m.group(1)))
        return cls(blocks, int(m.group(2)))


class ArchNet(nn.Module):
    """conv-BN-ReLU(-maxpool) blocks, an average pool to at most 4 x 4, then [fc, ReLU,] classifier."""

    def __init__(self, input_shape: tuple[int, int, int], num_classes: int, arch: Arch) -> None:
        super().__init__()
        cin, size, _ = input_shape
        layers: list[nn.Module] = []
        for cout, k in arch.blocks:
            layers += [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            if size >= POOL_MIN:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            cin = cout
        layers.append(nn.AdaptiveAvgPool2d(min(size, HEAD_MAP)))
        self.features = nn.Sequential(*layers)
        flat = cin * min(size, HEAD_MAP) ** 2
        head: list[nn.Module] = [nn.Flatten()]
        if arch.fc:
            head += [nn.Linear(flat, arch.fc), nn.ReLU(), nn.Linear(arch.fc, num_classes)]
        else:
            head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_named(name: str, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The network an `archnet:` name describes (models.build calls this for the family)."""
    return ArchNet(input_shape, num_classes, Arch.parse(name))


@dataclass(frozen=True)
class ArchSpace:
    kind: ClassVar[str] = "arch"
    title: ClassVar[str] = "architecture"
    technique: ClassVar[str] = "search-arch"
    costs: ClassVar[tuple[str, ...]] = (
        "size",
        "macs",
        "latency",
    )  # a new architecture really times differently

    max_depth: int = 3  # conv blocks: 1..max_depth
    channels_min: int = 4  # per-block channels on a grid channels_min..channels_max (step channels_min)
    channels_max: int = 32
    kernels: tuple[int, ...] = (3, 5)
    widths: tuple[float, ...] = (0.5, 0.75, 1.0)  # multiplier on every block's channels and the fc width
    fc_max: int = 128  # hidden fully connected width on a grid 0, 32, ..., fc_max (0: none)
    train_images: int = 3000  # the proxy: trained on the first N training images...
    proxy_epochs: int = 1  # ... for this many epochs, from scratch
    batch_size: int = 64
    full_epochs: int = 5  # a recorded trial: trained on the full training split for this many epochs

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= 4 or not 1 <= self.channels_min <= self.channels_max:
            raise ValueError("need 1 <= max_depth <= 4 and 1 <= channels_min <= channels_max")
        if not self.kernels or any(k % 2 == 0 or k < 1 for k in self.kernels):
            raise ValueError("kernels must be odd sizes")
        ws = sorted(self.widths)
        if (
            not ws
            or ws[0] <= 0
            or self.fc_max % 32
            or len({round(b - a, 6) for a, b in itertools.pairwise(ws)}) > 1
        ):
            raise ValueError("widths must be positive and evenly spaced, fc_max a multiple of 32")
        if self.train_images < 10 or self.proxy_epochs < 1 or self.full_epochs < 1:
            raise ValueError("train_images >= 10, proxy_epochs >= 1 and full_epochs >= 1")
        object.__setattr__(self, "kernels", tuple(int(k) for k in self.kernels))
        object.__setattr__(self, "widths", tuple(float(w) for w in self.widths))

    @classmethod
    def for_dataset(cls, dataset: str, **overrides: Any) -> ArchSpace:
        """The proxy sized for the dataset: a trial takes a few seconds at one thread."""
        images, epochs = PROXY.get(dataset, (3000, 1))
        return cls(**{"train_images": images, "proxy_epochs": epochs, **overrides})

    def distributions(self, layers: list[str] | None = None) -> dict[str, BaseDistribution]:
        """Ordered grids only (IntDistribution, stepped FloatDistribution): TPE and GP see the order,
        simulated annealing steps along them, REINFORCE indexes them. `layers` is not used."""
        step = self.channels_min
        space: dict[str, BaseDistribution] = {
            "depth": IntDistribution(1, self.max_depth),
            "width": _stepped(self.widths),
            "fc": IntDistribution(0, self.fc_max, step=32),
        }
        k_lo, k_hi = min(self.kernels), max(self.kernels)
        for i in range(1, self.max_depth + 1):
            space[f"ch:{i}"] = IntDistribution(step, self.channels_max // step * step, step=step)
            space[f"k:{i}"] = IntDistribution(k_lo, k_hi, step=2 if len(self.kernels) > 1 else 1)
        return space

    def arch(self, params: dict[str, Any]) -> Arch:
        width = float(params["width"])
        blocks = tuple(
            (max(1, round(int(params[f"ch:{i}"]) * width)), int(params[f"k:{i}"]))
            for i in range(1, int(params["depth"]) + 1)
        )
        return Arch(blocks, int(round(int(params["fc"]) * width)))

    def proxy_text(self, dataset: str | None = None) -> str:
        return f"trained {self.proxy_epochs} epoch(s) from scratch on {self.train_images:,} training images"

    def trial_model(self, ctx: Any, params: dict[str, Any]) -> nn.Module:
        """The proxy: the architecture trained briefly on a training subset."""
        model = self._new(ctx, params)
        subset = dataclasses.replace(
            ctx.ds, x_train=ctx.ds.x_train[: self.train_images], y_train=ctx.ds.y_train[: self.train_images]
        )
        return self._fit(model, subset, self.proxy_epochs)

    def build(
        self,
        ctx: Any,
        params: dict[str, Any],
        epochs: int = 0,
        progress: Progress | None = None,
        should_stop: StopFlag | None = None,
    ) -> tuple[nn.Module, list[object]]:
        """A chosen trial trained in full (`epochs` or full_epochs on the whole training split)."""
        epochs = epochs or self.full_epochs
        model = self._fit(self._new(ctx, params), ctx.ds, epochs, progress, should_stop)
        recipe = [{"technique": self.technique, "arch": self.arch(params).name, "epochs": epochs, **params}]
        return model, recipe

    def _new(self, ctx: Any, params: dict[str, Any]) -> nn.Module:
        from compression import models

        return models.build(self.arch(params).name, ctx.ds.input_shape, len(ctx.ds.classes))

    def _fit(
        self,
        model: nn.Module,
        ds: data.Dataset,
        epochs: int,
        progress: Progress | None = None,
        should_stop: StopFlag | None = None,
    ) -> nn.Module:
        return train.fit(
            model,
            ds,
            epochs=epochs,
            optimizer="adam",
            lr=PROXY_LR,
            batch_size=self.batch_size,
            progress=progress,
            should_stop=should_stop,
            schedule="cosine" if epochs > 1 else "constant",
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kind": self.kind}


def _stepped(values: tuple[float, ...]) -> FloatDistribution:
    """Evenly spaced values as a stepped float grid (the width multipliers)."""
    lo, hi = min(values), max(values)
    step = round((hi - lo) / (len(values) - 1), 6) if len(values) > 1 else 1.0
    return FloatDistribution(lo, hi, step=step)
