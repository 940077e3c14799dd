"""Quantization-aware training: fine-tune with the quantizer in the forward pass.

Linear, log, binary, ternary and XNOR: the float weights are kept as "shadow" weights; the
forward pass uses their quantized values and the straight-through estimator passes the
gradient to the float weights unchanged (w_hat = w + (q(w) - w).detach()). At the end the
trained float weights are quantized once more, exactly.

k-means (Deep Compression, Han et al. 2016): each weight's cluster is fixed and the forward
pass uses centroids[assignment]; the gradient of a centroid is the sum of the gradients of
the weights that share it (the backward of the gather), so training moves the shared values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn
from torch.nn.utils import parametrize

from compression import techniques, train
from compression.data import Dataset
from compression.quantization import core, model_ops, schemes
from compression.train import Progress, StopFlag

QAT_SCHEMES = ("linear", "kmeans", "log", "binary", "ternary", "xnor")


@dataclass(frozen=True)
class QAT:
    """Fine-tune with fake quantization (STE) or trained k-means centroids; a background job."""

    technique: ClassVar[str] = "quant-qat"
    family: ClassVar[str] = "quantization"
    scheme: str = "kmeans"  # linear | kmeans | log | binary | ternary | xnor
    bits: int = 4  # linear / kmeans / log
    granularity: str = "per-channel"  # linear and binary
    symmetric: bool = True  # linear
    activations: bool = False  # linear: fake-quantize layer inputs during training too
    act_bits: int = 8
    kmeans_init: str = "linear"  # kmeans: centroid initialisation
    epochs: int = 2
    lr: float = 1e-4  # small: fine-tuning a trained model
    optimizer: str = "adam"
    batch_size: int = 128

    def __post_init__(self) -> None:
        if self.scheme not in QAT_SCHEMES:
            raise ValueError(f"scheme must be one of {QAT_SCHEMES}")
        if not 1 <= self.bits <= 16:
            raise ValueError("bits must be 1..16")
        if not 0 <= self.epochs <= 1000:
            raise ValueError("epochs must be 0..1000")
        if not 0 < self.lr < 10:
            raise ValueError("lr must be in (0, 10)")


class _STE(nn.Module):
    """Parametrization: forward with quantized values, gradient straight through to the float weight."""

    def __init__(self, quantize: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.quantize = quantize

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            q = self.quantize(w)
        return w + (q - w).detach()


class _SharedWeights(nn.Module):
    """Parametrization: the weight is centroids[assignment]; only the centroids train."""

    def __init__(self, codebook: torch.Tensor, codes: torch.Tensor) -> None:
        super().__init__()
        self.centroids = nn.Parameter(codebook.clone())
        self.register_buffer("codes", codes.clone())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return self.centroids[self.codes]


def ptq_config(config: QAT) -> object:
    """The post-training config that gives the same quantized values as the QAT forward pass."""
    if config.scheme == "linear":
        return schemes.LinearQuant(
            bits=config.bits,
            symmetric=config.symmetric,
            granularity=config.granularity,
            activations=config.activations,
            act_bits=config.act_bits,
        )
    if config.scheme == "kmeans":
        return schemes.KMeansQuant(bits=min(8, config.bits), init=config.kmeans_init)
    if config.scheme == "log":
        return schemes.LogQuant(bits=min(8, config.bits))
    if config.scheme == "binary":
        return schemes.BinaryQuant(granularity=config.granularity)
    if config.scheme == "ternary":
        return schemes.TernaryQuant()
    return schemes.XNORQuant()


def _weight_fn(config: QAT, name: str, ends: set[str]) -> Callable[[torch.Tensor], torch.Tensor] | None:
    per_ch = config.granularity == "per-channel"
    if config.scheme == "linear":
        return lambda w: core.quantize_linear(w, config.bits, config.symmetric, per_ch).values
    if config.scheme == "log":
        return lambda w: core.quantize_log(w, min(8, config.bits)).values
    if config.scheme == "binary":
        return lambda w: core.quantize_binary(w, per_ch).values
    if config.scheme == "ternary":
        return lambda w: core.quantize_ternary(w, False).values
    if config.scheme == "xnor":
        return None if name in ends else (lambda w: core.quantize_binary(w, True).values)
    raise ValueError(config.scheme)


@techniques.register(QAT, slow=True)
def apply_qat(
    model: nn.Module,
    config: QAT,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    report = progress or (lambda f, m: None)
    report(0.0, "quantizing before training")
    names = model_ops.layer_names(model)
    ptq = ptq_config(config)
    if config.scheme == "kmeans":
        start = techniques.apply(model, ptq, data)  # clusters fixed from here on
        recs = model_ops.records(start)
        targets = list(model_ops.layers(start))  # before parametrizing: weights stop being Parameters
        for name, module in targets:
            q = recs[name]
            assert q.codebook is not None
            parametrize.register_parametrization(module, "weight", _SharedWeights(q.codebook, q.codes))
        work = start
    else:
        work = train.clone(model)
        keep = isinstance(ptq, schemes.XNORQuant) and ptq.keep_ends  # train what the final PTQ keeps float
        ends = {names[0], names[-1]} if keep and len(names) > 2 else set()
        targets = list(model_ops.layers(work))
        for name, module in targets:
            fn = _weight_fn(config, name, ends)
            if fn is not None:
                parametrize.register_parametrization(module, "weight", _STE(fn))
        if config.scheme == "linear" and config.activations:
            model_ops.quantize_activations(work, data, config.act_bits)
            for hook in model_ops.act_hooks(work).values():
                hook.ste = True
        elif config.scheme == "xnor":
            model_ops.binarize_activations(work, ste=True)
    train.fit(
        work,
        data,
        epochs=config.epochs,
        optimizer=config.optimizer,
        lr=config.lr,
        batch_size=config.batch_size,
        progress=progress,
        should_stop=should_stop,
        progress_span=(0.05, 0.95),
    )
    report(0.96, "quantizing the trained weights")
    if config.scheme == "kmeans":
        return _finish_kmeans(work, targets, config)
    for _, module in targets:
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(
                module, "weight", leave_parametrized=False
            )  # keep float shadows
    model_ops.remove_activation_hooks(work)
    out = techniques.apply(work, ptq, data)
    report(1.0, "done")
    return out


def _finish_kmeans(work: nn.Module, targets: list[tuple[str, nn.Module]], config: QAT) -> nn.Module:
    """Replace each parametrization by plain weights equal to the trained, sorted codebook."""
    final: dict[str, core.QTensor] = {}
    for name, module in targets:
        if not parametrize.is_parametrized(module, "weight"):
            continue
        shared = module.parametrizations.weight[0]
        centroids = shared.centroids.detach().clone()
        order = torch.argsort(centroids)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order))
        final[name] = core.QTensor("codebook", config.bits, rank[shared.codes], codebook=centroids[order])
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    work._cla_quant = {}  # type: ignore[assignment]
    return model_ops.quantize_weights(work, lambda n, w: final.get(n))
