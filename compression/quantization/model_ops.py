"""Apply tensor quantizers to a model: which layers, the per-layer record, activation hooks.

A fake-quantized model is a plain float model whose conv/linear weights hold exactly the
quantized values, so `metrics.measure` and `artifact.save` see the few distinct levels. The
codes behind each layer are kept in `model._cla_quant` (layer name -> QTensor) so that the
storage writer can save per-channel grids compactly; the record is verified against the
weights before use, so a later technique that changes a weight simply invalidates it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from compression import train
from compression.data import Dataset
from compression.quantization import core

QUANTIZABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)
CALIB_SIZE = 512  # training images used to calibrate activation ranges

TensorQuantizer = Callable[[str, torch.Tensor], core.QTensor | None]  # None: leave the layer float


def layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The layers whose weights quantization touches: convolutions and fully connected layers."""
    for name, module in model.named_modules():
        if isinstance(module, QUANTIZABLE) and isinstance(getattr(module, "weight", None), nn.Parameter):
            yield name, module


def layer_names(model: nn.Module) -> list[str]:
    return [n for n, _ in layers(model)]


def default_layer(names: list[str]) -> str:
    """The layer the quantization lab draws unless told: the second (the first is often tiny)."""
    return names[min(len(names) - 1, 1)]


def records(model: nn.Module) -> dict[str, core.QTensor]:
    return getattr(model, "_cla_quant", {})


def quantize_weights(model: nn.Module, quantizer: TensorQuantizer) -> nn.Module:
    """A copy of `model` whose layer weights are replaced by their quantized values."""
    out = train.clone(model)
    recs: dict[str, core.QTensor] = dict(records(out))
    for name, module in layers(out):
        q = quantizer(name, module.weight.detach())
        if q is None:
            continue
        with torch.no_grad():
            module.weight.copy_(q.values.to(module.weight.dtype))
        recs[name] = q
    out._cla_quant = recs  # type: ignore[assignment]
    return out


def verified_records(model: nn.Module) -> dict[str, core.QTensor]:
    """The records whose values still equal the layer's weights exactly."""
    mods = dict(model.named_modules())
    ok: dict[str, core.QTensor] = {}
    for name, q in records(model).items():
        w = getattr(mods.get(name), "weight", None)
        if isinstance(w, torch.Tensor) and w.shape == q.codes.shape and torch.equal(w.detach(), q.values):
            ok[name] = q
    return ok


def per_layer_bits(layer_bits: tuple[tuple[str, int], ...], default: int) -> Callable[[str], int]:
    """bits for a layer: an override from (layer, bits) pairs, else the default; 32 = keep float."""
    table = {str(k): int(v) for k, v in layer_bits}
    return lambda name: table.get(name, default)


# ---------------------------------------------------------------- activations


class ActQuant:
    """Forward pre-hook that fake-quantizes a layer's input (a picklable object, copied with the model).

    mode "affine": calibrated per-tensor grid of `bits`; mode "binary": XNOR-Net's
    sign(x) x mean|x| per sample. ste=True passes gradients straight through (QAT).
    """

    def __init__(
        self, mode: str, bits: int = 8, scale: float = 1.0, zero: float = 0.0, ste: bool = False
    ) -> None:
        self.mode, self.bits, self.scale, self.zero, self.ste = mode, bits, scale, zero, ste
        self.qmax = (1 << bits) - 1

    def quant(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "binary":
            beta = x.detach().abs().flatten(1).mean(dim=1).reshape(-1, *([1] * (x.dim() - 1)))
            return torch.sign(x) * beta
        return core.fake_quant_affine(x, self.scale, self.zero, self.qmax)

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = args[0]
        q = self.quant(x)
        if self.ste:
            q = x + (q - x).detach()  # straight-through estimator: identity gradient
        return (q, *args[1:])

    def describe(self) -> dict[str, float | int | str]:
        return {"mode": self.mode, "bits": self.bits, "scale": self.scale, "zero": self.zero}


def act_hooks(model: nn.Module) -> dict[str, ActQuant]:
    return getattr(model, "_cla_act", {})


def calibrate_inputs(model: nn.Module, names: list[str], x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Run a calibration batch and capture the input of each named layer."""
    mods = dict(model.named_modules())
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name in names:

        def grab(module: nn.Module, args: tuple[torch.Tensor, ...], name: str = name) -> None:
            seen[name] = args[0].detach()

        handles.append(mods[name].register_forward_pre_hook(grab))
    try:
        with torch.inference_mode():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    return seen


def quantize_activations(
    model: nn.Module,
    ds: Dataset,
    bits: int,
    method: str = "minmax",
    percentile: float = 99.99,
    skip: tuple[str, ...] = (),
) -> nn.Module:
    """Attach calibrated fake-quant hooks to the input of every layer (in place on `model`, a copy)."""
    names = [n for n in layer_names(model) if n not in skip]
    seen = calibrate_inputs(model, names, ds.x_train[:CALIB_SIZE])
    mods = dict(model.named_modules())
    hooks: dict[str, ActQuant] = dict(act_hooks(model))
    for name in names:
        lo, hi = core.activation_range(seen[name], bits, method, percentile)
        s, z, _ = core.affine_params(lo, hi, bits)
        hooks[name] = ActQuant("affine", bits, s, z)
        mods[name].register_forward_pre_hook(hooks[name])
    model._cla_act = hooks  # type: ignore[assignment]
    return model


def binarize_activations(model: nn.Module, ste: bool = False) -> nn.Module:
    """XNOR-Net: binary inputs to every layer but the first and the last (kept precise, as in the paper)."""
    names = layer_names(model)[1:-1]
    mods = dict(model.named_modules())
    hooks: dict[str, ActQuant] = dict(act_hooks(model))
    for name in names:
        hooks[name] = ActQuant("binary", 1, ste=ste)
        mods[name].register_forward_pre_hook(hooks[name])
    model._cla_act = hooks  # type: ignore[assignment]
    return model


def remove_activation_hooks(model: nn.Module) -> None:
    for module in model.modules():
        for key, hook in list(module._forward_pre_hooks.items()):
            if isinstance(hook, ActQuant):
                del module._forward_pre_hooks[key]
    model._cla_act = {}  # type: ignore[assignment]
