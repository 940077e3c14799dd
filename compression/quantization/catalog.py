"""One menu of schemes for the page and the CLI: a scheme name plus knobs -> a technique config."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from compression import metrics, techniques, train
from compression.data import Dataset
from compression.quantization import int8, qat, schemes, storage
from compression.train import Progress, StopFlag


@dataclass(frozen=True)
class Scheme:
    title: str
    uses_bits: bool  # the bit-width slider matters
    uses_granularity: bool
    qat: bool  # can be fine-tuned with quantization-aware training
    note: str


SCHEMES: dict[str, Scheme] = {
    "linear": Scheme("Linear (uniform)", True, True, True, "q = clamp(round(w/s) + z): evenly spaced levels"),
    "kmeans": Scheme(
        "k-means sharing", True, False, True, "2^b centroids fitted to the weights (Deep Compression)"
    ),
    "log": Scheme(
        "Logarithmic (power of two)", True, False, True, "levels +-2^k: multiplications become shifts"
    ),
    "binary": Scheme("Binary", False, True, True, "sign(w) x mean|w|: 1 bit per weight"),
    "ternary": Scheme("Ternary (TWN)", False, False, True, "{-a, 0, +a}, threshold 0.7 x mean|w|"),
    "xnor": Scheme("XNOR (binary w + a)", False, False, True, "binary weights and binary activations"),
    "fp16": Scheme("FP16", False, False, False, "IEEE half precision, stored and executed"),
    "bf16": Scheme("BF16", False, False, False, "bfloat16: float32's range, 7-bit mantissa"),
    "mixed": Scheme(
        "Mixed precision", True, True, False, "bits per layer from a sensitivity scan under a budget"
    ),
    "int8-static": Scheme(
        "Real INT8, static", False, False, False, "int8 kernels, calibrated, conv+BN+ReLU fused"
    ),
    "int8-dynamic": Scheme(
        "Real INT8, dynamic", False, False, False, "int8 Linear kernels, activations per batch"
    ),
}


# digits: an epoch is 20 steps; 2-bit linear QAT on LeNet-5 reached 74.7 % in 2 epochs, 95.0 % in 10 (PTQ 46.9 %)
QAT_START = {"digits": 10}


def start_qat_epochs(dataset: str) -> int:
    """The QAT epochs the quantization page starts with on `dataset` (2 where not measured)."""
    return QAT_START.get(dataset, 2)


def make_config(
    scheme: str,
    bits: int = 8,
    *,
    granularity: str = "per-channel",
    symmetric: bool = True,
    weights: bool = True,
    activations: bool = False,
    act_bits: int = 8,
    calibration: str = "minmax",
    percentile: float = 99.99,
    kmeans_init: str = "linear",
    layer_bits: schemes.LayerBits = (),
    avg_bits: float = 4.0,
    qat_epochs: int = 0,
    qat_lr: float = 1e-4,
) -> object:
    """The technique config for a scheme; QAT wraps it when qat_epochs > 0."""
    if scheme not in SCHEMES:
        raise ValueError(f"Unknown scheme '{scheme}'. Known: {', '.join(SCHEMES)}")
    train.check_epochs(qat_epochs, "QAT epochs")
    if qat_epochs > 0:
        if not SCHEMES[scheme].qat:
            raise ValueError(f"Scheme '{scheme}' has no quantization-aware training")
        return qat.QAT(
            scheme=scheme,
            bits=bits,
            granularity=granularity,
            symmetric=symmetric,
            activations=activations,
            act_bits=act_bits,
            kmeans_init=kmeans_init,
            epochs=qat_epochs,
            lr=qat_lr,
        )
    if scheme == "linear":
        return schemes.LinearQuant(
            bits=bits,
            symmetric=symmetric,
            granularity=granularity,
            weights=weights,
            activations=activations,
            act_bits=act_bits,
            calibration=calibration,
            percentile=percentile,
            layer_bits=layer_bits,
        )
    if scheme == "kmeans":
        return schemes.KMeansQuant(bits=min(bits, 8), init=kmeans_init, layer_bits=layer_bits)
    if scheme == "log":
        return schemes.LogQuant(bits=min(bits, 8), layer_bits=layer_bits)
    if scheme == "binary":
        return schemes.BinaryQuant(granularity=granularity)
    if scheme == "ternary":
        return schemes.TernaryQuant()
    if scheme == "xnor":
        return schemes.XNORQuant()
    if scheme in ("fp16", "bf16"):
        return schemes.FloatQuant("float16" if scheme == "fp16" else "bfloat16")
    if scheme == "mixed":
        return schemes.MixedPrecision(
            layer_bits=layer_bits,
            default_bits=bits,
            avg_bits=avg_bits,
            granularity=granularity,
            symmetric=symmetric,
        )
    return int8.Int8PTQ(mode=scheme.removeprefix("int8-"))


def run(
    model: nn.Module,
    ds: Dataset,
    config: object,
    *,
    latency: bool = True,
    min_run_time: float = 0.3,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> tuple[nn.Module, metrics.Measurement]:
    """Apply a config and measure the result the honest way for its kind (simulated, half, INT8)."""
    out = techniques.apply(model, config, ds, progress=progress, should_stop=should_stop)
    return out, measure(out, ds, model, latency=latency, min_run_time=min_run_time)


def measure(
    out: nn.Module, ds: Dataset, float_model: nn.Module, *, latency: bool = True, min_run_time: float = 0.3
) -> metrics.Measurement:
    """Measure `out` against its float baseline (ratios and paired latency), the honest way for its kind."""
    int8_kw = {"macs_model": float_model} if storage.kind_of(out) == "int8" else {}
    return storage.measure(
        out,
        ds,
        baseline=float_model,
        latency=latency,
        min_run_time=min_run_time,
        **int8_kw,  # type: ignore[arg-type]
    )
