"""Post-training quantization schemes: one frozen config and one registered handler each.

All are fast (no training) so the page recomputes them on every slider move. Each handler
starts from a deep copy and never mutates its input model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from compression import techniques, train
from compression.data import Dataset
from compression.quantization import core, model_ops
from compression.train import Progress, StopFlag

GRANULARITIES = ("per-channel", "per-tensor")
FLOAT_BITS = 32  # a per-layer override of 32 bits keeps that layer in float

LayerBits = tuple[tuple[str, int], ...]


def _check_bits(bits: int, lo: int = 1, hi: int = 16) -> None:
    if not lo <= bits <= hi and bits != FLOAT_BITS:
        raise ValueError(f"bits must be {lo}..{hi} (or {FLOAT_BITS} to keep a layer float), got {bits}")


@dataclass(frozen=True)
class LinearQuant:
    """Uniform quantization: q = clamp(round(w/s) + z), weights and optionally activations."""

    technique: ClassVar[str] = "quant-linear"
    family: ClassVar[str] = "quantization"
    bits: int = 8  # 1..8 or 16
    symmetric: bool = True  # symmetric: z fixed at the middle, zero exact; asymmetric fits [min, max]
    granularity: str = "per-channel"  # per-channel: one scale per output channel; per-tensor: one scale
    weights: bool = True  # quantize the conv/linear weights
    activations: bool = False  # also fake-quantize every layer's input (calibrated on a training batch)
    act_bits: int = 8
    calibration: str = "minmax"  # minmax | percentile | mse: how the clipping range is chosen
    percentile: float = 99.99  # for calibration == "percentile"
    layer_bits: LayerBits = ()  # per-layer overrides (layer, bits); 32 keeps that layer float

    def __post_init__(self) -> None:
        _check_bits(self.bits)
        _check_bits(self.act_bits, 2, 16)
        for _, b in self.layer_bits:
            _check_bits(int(b))
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")
        if self.calibration not in core.RANGE_METHODS:
            raise ValueError(f"calibration must be one of {core.RANGE_METHODS}")


def linear_quantizer(cfg: LinearQuant) -> model_ops.TensorQuantizer:
    bits_of = model_ops.per_layer_bits(cfg.layer_bits, cfg.bits)

    def q(name: str, w: torch.Tensor) -> core.QTensor | None:
        b = bits_of(name)
        if b == FLOAT_BITS:
            return None
        per_ch = cfg.granularity == "per-channel"
        return core.quantize_linear(w, b, cfg.symmetric, per_ch, cfg.calibration, cfg.percentile)

    return q


@techniques.register(LinearQuant)
def apply_linear(
    model: nn.Module,
    config: LinearQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    out = (
        model_ops.quantize_weights(model, linear_quantizer(config)) if config.weights else train.clone(model)
    )
    if config.activations:
        model_ops.quantize_activations(out, data, config.act_bits, config.calibration, config.percentile)
    return out


@dataclass(frozen=True)
class KMeansQuant:
    """Deep Compression weight sharing: each layer's weights become 2^bits shared centroids."""

    technique: ClassVar[str] = "quant-kmeans"
    family: ClassVar[str] = "quantization"
    bits: int = 4  # 2^bits clusters per layer
    init: str = "linear"  # linear | density | random centroid initialisation
    seed: int = 0
    layer_bits: LayerBits = ()

    def __post_init__(self) -> None:
        _check_bits(self.bits, 1, 8)
        if self.init not in core.KMEANS_INITS:
            raise ValueError(f"init must be one of {core.KMEANS_INITS}")


def kmeans_quantizer(cfg: KMeansQuant) -> model_ops.TensorQuantizer:
    bits_of = model_ops.per_layer_bits(cfg.layer_bits, cfg.bits)

    def q(name: str, w: torch.Tensor) -> core.QTensor | None:
        b = bits_of(name)
        return None if b == FLOAT_BITS else core.quantize_kmeans(w, b, cfg.init, cfg.seed)

    return q


@techniques.register(KMeansQuant)
def apply_kmeans(
    model: nn.Module,
    config: KMeansQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    return model_ops.quantize_weights(model, kmeans_quantizer(config))


@dataclass(frozen=True)
class LogQuant:
    """Logarithmic (power-of-two) levels: multiplications become bit shifts."""

    technique: ClassVar[str] = "quant-log"
    family: ClassVar[str] = "quantization"
    bits: int = 4  # 1 sign bit + exponents
    layer_bits: LayerBits = ()

    def __post_init__(self) -> None:
        _check_bits(self.bits, 1, 8)


def log_quantizer(cfg: LogQuant) -> model_ops.TensorQuantizer:
    bits_of = model_ops.per_layer_bits(cfg.layer_bits, cfg.bits)

    def q(name: str, w: torch.Tensor) -> core.QTensor | None:
        b = bits_of(name)
        return None if b == FLOAT_BITS else core.quantize_log(w, b)

    return q


@techniques.register(LogQuant)
def apply_log(
    model: nn.Module,
    config: LogQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    return model_ops.quantize_weights(model, log_quantizer(config))


@dataclass(frozen=True)
class BinaryQuant:
    """Binary weights: sign(w) x alpha with alpha = mean |w| (BinaryConnect with XNOR-Net's scale)."""

    technique: ClassVar[str] = "quant-binary"
    family: ClassVar[str] = "quantization"
    granularity: str = "per-channel"  # one alpha per output channel, or one per layer
    skip: tuple[str, ...] = ()  # layers kept float (often the first and the last)

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")


@techniques.register(BinaryQuant)
def apply_binary(
    model: nn.Module,
    config: BinaryQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    per_ch = config.granularity == "per-channel"
    return model_ops.quantize_weights(
        model, lambda n, w: None if n in config.skip else core.quantize_binary(w, per_ch)
    )


@dataclass(frozen=True)
class TernaryQuant:
    """Ternary weight networks: {-alpha, 0, +alpha} with threshold 0.7 x mean |w|."""

    technique: ClassVar[str] = "quant-ternary"
    family: ClassVar[str] = "quantization"
    threshold: float = 0.7  # TWN's approximately optimal delta / mean|w|
    granularity: str = "per-tensor"  # TWN uses one alpha per layer
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")


@techniques.register(TernaryQuant)
def apply_ternary(
    model: nn.Module,
    config: TernaryQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    per_ch = config.granularity == "per-channel"
    return model_ops.quantize_weights(
        model, lambda n, w: None if n in config.skip else core.quantize_ternary(w, per_ch, config.threshold)
    )


@dataclass(frozen=True)
class XNORQuant:
    """XNOR-Net: binary weights (1 bit plus a scale per output channel) and binary activations.

    The image entering the first layer and the input of the last layer stay precise, as in
    XNOR-Net. The paper also keeps those two layers' weights float; on a fully connected net the
    first layer holds most of the weights (88% of LeNet-300-100's), which would leave the model
    at 28.5 bits per weight, so here every weight is binary unless keep_ends asks otherwise.
    """

    technique: ClassVar[str] = "quant-xnor"
    family: ClassVar[str] = "quantization"
    keep_ends: bool = False  # True: keep the first and last layer's weights float (the paper's choice)


@techniques.register(XNORQuant)
def apply_xnor(
    model: nn.Module,
    config: XNORQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    names = model_ops.layer_names(model)
    ends = {names[0], names[-1]} if config.keep_ends and len(names) > 2 else set()
    out = model_ops.quantize_weights(model, lambda n, w: None if n in ends else core.quantize_binary(w, True))
    return model_ops.binarize_activations(out)


FLOAT_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


class _CastInput:
    """Forward pre-hook on the root: inputs arrive as float32, the model runs in half precision."""

    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype

    def __call__(self, module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return tuple(a.to(self.dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args)


def _cast_output(module: nn.Module, args: object, out: torch.Tensor) -> torch.Tensor:
    return out.float()


@dataclass(frozen=True)
class FloatQuant:
    """Half precision: every parameter stored (and executed) as float16 or bfloat16."""

    technique: ClassVar[str] = "quant-float"
    family: ClassVar[str] = "quantization"
    dtype: str = (
        "float16"  # float16: 5-bit exponent, 10-bit mantissa; bfloat16: 8-bit exponent, 7-bit mantissa
    )

    def __post_init__(self) -> None:
        if self.dtype not in FLOAT_DTYPES:
            raise ValueError(f"dtype must be one of {tuple(FLOAT_DTYPES)}")


@techniques.register(FloatQuant)
def apply_float(
    model: nn.Module,
    config: FloatQuant,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    out = train.clone(model).to(FLOAT_DTYPES[config.dtype])
    out.register_forward_pre_hook(_CastInput(FLOAT_DTYPES[config.dtype]))
    out.register_forward_hook(_cast_output)
    out._cla_float = config.dtype  # type: ignore[assignment]
    return out


@dataclass(frozen=True)
class MixedPrecision:
    """Mixed precision: a per-layer bit-width map, or one searched on the validation split under a budget.

    With layer_bits empty, the map is searched (`analysis.allocate_bits`): it starts from the
    best uniform width that fits avg_bits (so it is never worse than uniform on validation) and
    only moves to maps that score better and keep the parameter-weighted mean width
    sum(n_l b_l) / sum(n_l) at most avg_bits, then spends what is left of the budget.
    """

    technique: ClassVar[str] = "quant-mixed"
    family: ClassVar[str] = "quantization"
    scheme: str = "linear"  # linear | kmeans | log: the quantizer used at each layer's width
    layer_bits: LayerBits = ()  # explicit map (layer, bits); empty: derive from avg_bits
    default_bits: int = 8  # layers not in the map
    avg_bits: float = 4.0  # size budget: mean bits per weight when the map is derived
    candidate_bits: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8)  # widths a layer may get
    granularity: str = "per-channel"
    symmetric: bool = True
    max_evals: int = 300  # validation evaluations the search may spend (bounds its time on deep models)

    def __post_init__(self) -> None:
        if self.scheme not in ("linear", "kmeans", "log"):
            raise ValueError("scheme must be linear, kmeans or log")
        _check_bits(self.default_bits)
        if not self.candidate_bits:
            raise ValueError("candidate_bits must name at least one width")
        for b in self.candidate_bits:
            _check_bits(int(b))
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {GRANULARITIES}")


def tensor_quantizer(cfg: object) -> model_ops.TensorQuantizer:
    """The per-tensor quantizer behind a bit-width scheme's config (linear, k-means or log)."""
    makers = {LinearQuant: linear_quantizer, KMeansQuant: kmeans_quantizer, LogQuant: log_quantizer}
    return makers[type(cfg)](cfg)  # type: ignore[index, operator]


def scheme_config(
    scheme: str,
    bits: int,
    layer_bits: LayerBits = (),
    granularity: str = "per-channel",
    symmetric: bool = True,
) -> object:
    """The PTQ config of a bit-width scheme at `bits` (used by sweeps and mixed precision)."""
    if scheme == "linear":
        return LinearQuant(bits=bits, layer_bits=layer_bits, granularity=granularity, symmetric=symmetric)
    capped = bits if bits == FLOAT_BITS else min(bits, 8)
    if scheme == "kmeans":
        return KMeansQuant(bits=capped, layer_bits=layer_bits)
    if scheme == "log":
        return LogQuant(bits=capped, layer_bits=layer_bits)
    raise ValueError(f"Unknown scheme '{scheme}'")


@techniques.register(MixedPrecision)
def apply_mixed(
    model: nn.Module,
    config: MixedPrecision,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    from compression.quantization import analysis

    layer_bits = config.layer_bits
    if not layer_bits:
        layer_bits = analysis.allocate_bits(model, data, config, progress=progress, should_stop=should_stop)
    cfg = scheme_config(config.scheme, config.default_bits, layer_bits, config.granularity, config.symmetric)
    out = techniques.apply(model, cfg, data)
    out._cla_layer_bits = dict(layer_bits)  # type: ignore[assignment]
    return out
