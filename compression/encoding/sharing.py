"""Deep Compression's weight sharing and Huffman stages as registry techniques.

`SparseSharing` clusters only the non-zero weights of each layer with 1-D k-means (the
quantization package's `kmeans_codebook`, linear start as in Han et al.), so a pruned layer keeps
its exact zeros and its survivors take 2^bits shared values; centroid fine-tuning then trains
the shared values (the gradient of a centroid is the sum of its weights' gradients, the backward
of a gather) while zeros stay zero and assignments stay fixed. The lab's `quant-kmeans` clusters
every weight, zeros included, which would undo the pruning; this is the pipeline's variant.

With `half`, the shared values and the biases are rounded to float16 values at the end (a
Huffman-coded file stores float32 values that float16 holds exactly in 2 bytes).

`HuffmanCode` changes no weight: it marks the model so that its file Huffman-codes codebook
codes and relative-index gaps (compression.artifact, where smaller), the last bar of the waterfall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from compression import techniques, train
from compression.data import Dataset
from compression.quantization import core as qcore


@dataclass(frozen=True)
class SparseSharing:
    """k-means weight sharing of the non-zero weights (zeros kept), then centroid fine-tuning."""

    technique: ClassVar[str] = "sparse-sharing"
    family: ClassVar[str] = "quantization"
    bits: int = 5  # 2^bits shared values per layer (Han et al.: 5 for fc, 8 for conv)
    conv_bits: int | None = None  # convolutions' bits when they differ (None: `bits`)
    layer_bits: tuple[tuple[str, int], ...] = ()  # per-layer overrides
    init: str = "linear"  # k-means start: linear (Deep Compression's best) | density | random | optimal
    finetune_epochs: int = 0  # centroid fine-tuning epochs (assignments fixed, zeros kept)
    lr: float = 1e-4  # Adam on the shared values and the biases
    half: bool = (
        False  # round shared values and biases to float16 values (a Huffman-coded file keeps 2 bytes each)
    )
    seed: int = 0

    def __post_init__(self) -> None:
        for b in (self.bits, self.conv_bits or self.bits, *(b for _, b in self.layer_bits)):
            if not 1 <= int(b) <= 8:
                raise ValueError("bits must be 1..8")
        if self.init not in qcore.KMEANS_INITS:
            raise ValueError(f"init must be one of {', '.join(qcore.KMEANS_INITS)}")
        if self.finetune_epochs < 0 or not 0 < self.lr < 10:
            raise ValueError("finetune_epochs must be >= 0 and lr in (0, 10)")

    def bits_for(self, name: str, module: nn.Module) -> int:
        overrides = dict(self.layer_bits)
        if name in overrides:
            return int(overrides[name])
        return int(self.conv_bits or self.bits) if isinstance(module, nn.Conv2d) else int(self.bits)


class _Shared(nn.Module):
    """Parametrization: weight = centroids[codes] where kept, exactly 0 elsewhere."""

    def __init__(self, centroids: torch.Tensor, codes: torch.Tensor, keep: torch.Tensor) -> None:
        super().__init__()
        self.centroids = nn.Parameter(centroids.clone())
        self.register_buffer("codes", codes)
        self.register_buffer("keep", keep)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return torch.where(self.keep, self.centroids[self.codes], torch.zeros((), dtype=w.dtype))


def _targets(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear | nn.Conv2d)]


@techniques.register(SparseSharing, slow=False)
def apply_sparse_sharing(
    model: nn.Module,
    config: SparseSharing,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    out = train.clone(model).eval()
    targets = _targets(out)
    for i, (name, m) in enumerate(targets):
        w = m.weight.detach()
        keep = w != 0
        if not bool(keep.any()):
            continue
        nz = w[keep]
        book = qcore.kmeans_codebook(nz, config.bits_for(name, m), config.init, config.seed).to(w.dtype)
        codes = torch.zeros(w.shape, dtype=torch.int64)
        codes[keep] = qcore.assign_nearest(nz, book)
        parametrize.register_parametrization(m, "weight", _Shared(book, codes, keep))
        if progress:
            progress(0.1 * (i + 1) / len(targets), f"clustered {name}")
    if config.finetune_epochs > 0:
        train.fit(
            out,
            data,
            epochs=config.finetune_epochs,
            optimizer="adam",
            lr=config.lr,
            seed=config.seed,
            progress=progress,
            should_stop=should_stop,
            progress_span=(0.1, 1.0),
        )
    for _, m in targets:
        if parametrize.is_parametrized(m, "weight"):
            if config.half:
                shared = m.parametrizations.weight[0].centroids
                shared.data = shared.data.half().float()
            parametrize.remove_parametrizations(m, "weight", leave_parametrized=True)
        if config.half and m.bias is not None:
            m.bias.data = m.bias.data.half().float()
    if progress:
        progress(1.0, "weights shared")
    return out.eval()


@dataclass(frozen=True)
class HuffmanCode:
    """Huffman-code the model's file: codebook codes and sparse-index gaps (weights unchanged)."""

    technique: ClassVar[str] = "huffman"
    family: ClassVar[str] = "encoding"


@techniques.register(HuffmanCode, slow=False)
def apply_huffman(
    model: nn.Module,
    config: HuffmanCode,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    out = train.clone(model).eval()
    out._cla_meta = {**(getattr(model, "_cla_meta", None) or {}), "huffman": True}  # type: ignore[assignment]
    if progress:
        progress(1.0, "file Huffman-coded")
    return out
