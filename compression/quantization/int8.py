"""Real INT8 post-training quantization that runs on quantized CPU kernels.

dynamic: Linear layers get int8 weights; activations are quantized on the fly per batch
(torch.ao.quantization.quantize_dynamic). static: weights and activations are int8 with
activation ranges calibrated on a training batch; conv+BN+ReLU (and linear+ReLU) are fused
into single quantized kernels first. Static uses torch.ao's FX graph mode, which traces the
model, fuses and handles residual additions of any zoo model without hand-written stubs.

torch.ao.quantization is deprecated in favour of torchao, but on this CPU it is the faster of
the two (bench/quantization.py measures both side by side; see bench/results/quantization.md),
so it is the default backend; torchao's int8 dynamic config is offered for comparison.

The quantized engine and the activations' range follow the CPU (`choose_engine`): without
AVX-512 VNNI, x86 INT8 kernels need 7-bit activations (`reduce_range`); with VNNI or AMX they
take the full 8 bits, which rounds activations twice as finely. The choice is recorded on the
model (`_cla_int8`) so that a page and a run can say which kernels they measured.
"""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from compression import latency, models, techniques, train
from compression.data import Dataset
from compression.train import Progress, StopFlag

# torch.ao's notices on every quantize and load (its deprecation, reduce_range's, quantized-tensor
# creation, TypedStorage in its state dicts), filtered once for the process: `warnings.catch_warnings()`
# per call swaps the process-wide filter list and is not thread-safe before Python 3.14 (two server
# sessions could leave "ignore everything" behind)
for _notice in (
    "torch.ao.quantization is deprecated",
    "Please use quant_min and quant_max",
    "torch.quantize_per_tensor, torch.quantize_per_channel",
    "TypedStorage is deprecated",
):
    warnings.filterwarnings("ignore", message=re.escape(_notice))

MODES = ("dynamic", "static")
BACKENDS = ("torch.ao", "torchao")
ENGINE = "x86"  # fbgemm (Linear) + oneDNN (conv, on VNNI CPUs) kernels on x86 CPUs


@dataclass(frozen=True)
class EngineChoice:
    engine: str  # torch.backends.quantized.engine the model is converted and run with
    reduce_range: bool  # 7-bit activations: needed by x86 INT8 kernels without VNNI
    why: str


def choose_engine(
    cpu: latency.CPU, supported: Sequence[str] = ("x86", "fbgemm", "onednn", "qnnpack")
) -> EngineChoice:
    """The quantized engine and activation range for this CPU.

    Without VNNI, fbgemm's AVX2 kernels multiply u8 activations by s8 weights with vpmaddubsw,
    which adds each pair of products into a saturating int16: 7-bit activations keep that sum
    from overflowing (torch.ao's x86 default). AVX-512 VNNI's vpdpbusd and AMX tiles accumulate
    straight into int32, so full 8-bit activations are exact there (oneDNN's default). ARM uses
    qnnpack, which takes full 8-bit activations too.
    """
    if "x86" in supported:
        if cpu.vnni:
            return EngineChoice("x86", False, "int8 dot products (AVX-512 VNNI/AMX): full 8-bit activations")
        return EngineChoice("x86", True, "no VNNI: 7-bit activations avoid int16 saturation in AVX2 kernels")
    if "qnnpack" in supported:
        return EngineChoice("qnnpack", False, "ARM (qnnpack): full 8-bit activations")
    return EngineChoice(
        supported[0] if supported else ENGINE, True, "unknown CPU: the safe 7-bit activations"
    )


def _engines() -> tuple[str, ...]:
    return tuple(torch.backends.quantized.supported_engines)


def engine_choice() -> EngineChoice:
    """`choose_engine` for the processor this process runs on."""
    return choose_engine(latency.cpu_info(), _engines())


def qconfig_mapping(choice: EngineChoice) -> torch.ao.quantization.QConfigMapping:
    """torch.ao's default static mapping for the engine, activations observed at the chosen range."""
    from torch.ao.quantization import HistogramObserver, get_default_qconfig_mapping

    mapping = get_default_qconfig_mapping(choice.engine)
    default = mapping.global_qconfig.activation
    if choice.engine in ("x86", "fbgemm") and not choice.reduce_range:
        full = HistogramObserver.with_args(reduce_range=False)
        mapping.set_global(mapping.global_qconfig._replace(activation=full))
        for key, qc in list(mapping.object_type_qconfigs.items()):
            if qc is not None and qc.activation is default:  # the transposed-conv and LayerNorm entries
                mapping.set_object_type(key, qc._replace(activation=full))
    return mapping


@dataclass(frozen=True)
class Int8PTQ:
    """Real INT8: dynamic (Linear layers) or static with calibration and conv+BN+ReLU fusion."""

    technique: ClassVar[str] = "quant-int8"
    family: ClassVar[str] = "quantization"
    mode: str = "static"  # static: int8 activations too, calibrated; dynamic: Linear only, ranges per batch
    backend: str = "torch.ao"  # torch.ao (measured faster here) | torchao (dynamic only)
    calib_size: int = 512  # training images for static calibration

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}")
        if self.backend == "torchao" and self.mode != "dynamic":
            raise ValueError("the torchao backend is offered for dynamic quantization only")
        if not 1 <= self.calib_size <= 100_000:
            raise ValueError("calib_size must be 1..100000")


def quantize(
    model: nn.Module, config: Int8PTQ, calib: torch.Tensor, choice: EngineChoice | None = None
) -> nn.Module:
    """The INT8 twin of a float model (the input is copied, never changed).

    choice: engine and activation range (default: `engine_choice()`, by this CPU)."""
    float_model = train.clone(model).eval()
    choice = choice or engine_choice()
    torch.backends.quantized.engine = choice.engine
    reduce_range = choice.reduce_range
    if config.backend == "torchao":
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

        quantize_(float_model, Int8DynamicActivationInt8WeightConfig())
        out = float_model
    elif config.mode == "dynamic":
        out = torch.ao.quantization.quantize_dynamic(float_model, {nn.Linear}, dtype=torch.qint8)
        reduce_range = True  # torch.ao's dynamic Linear passes reduce_range=True to its kernel itself
    else:
        from torch.ao.quantization.quantize_fx import convert_fx

        from compression.quantization.fx_trace import prepare_fx

        prepared = prepare_fx(float_model, qconfig_mapping(choice), (calib[:1],))  # fuses conv+bn+relu
        with torch.inference_mode():
            for i in range(0, len(calib), 256):
                prepared(calib[i : i + 256])
        out = convert_fx(prepared)
    engine = "torchao" if config.backend == "torchao" else choice.engine
    out._cla_int8 = {  # type: ignore[assignment]
        "mode": config.mode,
        "backend": config.backend,
        "engine": engine,
        "reduce_range": reduce_range and config.backend != "torchao",  # torchao: symmetric full-range int8
    }
    out._cla_meta = dict(getattr(model, "_cla_meta", {}) or {})  # type: ignore[assignment]  # FX drops it
    return out.eval()


@techniques.register(Int8PTQ)
def apply_int8(
    model: nn.Module,
    config: Int8PTQ,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    return quantize(model, config, data.x_train[: config.calib_size])


HEADER_KEY = "__cla__"  # a JSON string next to the state dict: architecture and INT8 mode
FORMAT = "compression-lab/int8-1"


def save(model: nn.Module, path: Path, meta: dict[str, object] | None = None) -> None:
    """The INT8 artifact: the quantized state dict (int8 weights, scales, zero points) via torch.save,
    plus a JSON string under HEADER_KEY (architecture, INT8 mode) so that the file rebuilds alone."""
    header = {
        "format": FORMAT,
        "int8": dict(getattr(model, "_cla_int8", {}) or {}),
        "meta": dict(meta or getattr(model, "_cla_meta", {}) or {}),
    }
    state = model.state_dict()  # keeps its _metadata: quantized modules load by their version
    state[HEADER_KEY] = json.dumps(header, separators=(",", ":"))  # type: ignore[assignment]
    buf = io.BytesIO()  # a buffer: the zip's record names do not follow the file's name, so size does not
    torch.save(state, buf)
    Path(path).write_bytes(buf.getvalue())


def read_state(path: Path) -> tuple[dict[str, object], dict[str, object]]:
    """The stored state dict and its header ({} for a bare state dict), never unpickling code."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict")
    raw = state.pop(HEADER_KEY, None)  # pop, not a copy: the dict's _metadata must survive
    return state, (json.loads(raw) if isinstance(raw, str) else {})


def load(
    path: Path,
    arch: str | None = None,
    input_shape: tuple[int, int, int] | None = None,
    num_classes: int | None = None,
    config: Int8PTQ | None = None,
) -> nn.Module:
    """Rebuild the INT8 model: quantize a fresh float model the same way, then load the stored state.

    Arguments left out come from the file's header (written by `save`)."""
    state, header = read_state(path)
    meta = dict(header.get("meta", {}))  # type: ignore[call-overload]
    mode = dict(header.get("int8", {}))  # type: ignore[call-overload]
    try:
        arch = arch or str(meta["model"])
        shape = input_shape or tuple(int(v) for v in meta["input_shape"])
        classes = num_classes or int(meta["num_classes"])
    except KeyError as exc:
        raise ValueError(f"{path}: the INT8 file does not name its architecture ({exc})") from exc
    if config is None:
        config = Int8PTQ(mode=str(mode.get("mode", "static")), backend=str(mode.get("backend", "torch.ao")))
    fresh = models.build(arch, shape, classes, float(meta.get("width", 1.0)))  # type: ignore[arg-type]
    engine = str(
        mode.get("engine", "")
    )  # rebuilt with the engine and activation range it was calibrated with
    recorded = EngineChoice(engine, bool(mode.get("reduce_range")), "recorded in the file")
    shell = quantize(fresh, config, torch.zeros(2, *shape), recorded if engine in _engines() else None)
    shell.load_state_dict(state)
    return shell.eval()
