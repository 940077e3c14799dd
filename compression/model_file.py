"""One writer and one reader for every model file: the file a run keeps is the file that was measured.

`save` picks the format by what the model is, first match wins (FORMATS):
- int8: real INT8 modules (torch.ao): the quantized state dict plus a JSON header (`int8.save`);
- quant: quantization records, half precision or activation grids: codes + per-channel scales,
  bf16 as bf16, activation grids in the header (`quantization.storage.save`);
- compact: anything else (float, masked, structurally pruned): codebook / sparse (`artifact.save`).
`metrics.artifact_bytes` measures with `save` and `runs.record_run` keeps its file, so the two agree.
`load` reads any of them back without unpickling code (safetensors, or torch.load(weights_only=True)).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from compression import artifact, metrics

Meta = dict[str, object]


@dataclass(frozen=True)
class Format:
    name: str
    suffix: str  # file suffix a recorded run's file gets
    claims: Callable[[nn.Module], bool]  # is this the format for the model?
    save: Callable[[nn.Module, Path, Meta | None], None]
    read_state: Callable[[Path], tuple[dict[str, torch.Tensor], Meta]]
    load: Callable[[Path], nn.Module]


def _is_int8(model: nn.Module) -> bool:
    return metrics.is_quantized_model(model) or bool(getattr(model, "_cla_int8", None))


def _is_quant(model: nn.Module) -> bool:
    from compression.quantization import model_ops

    return bool(
        model_ops.verified_records(model)
        or model_ops.act_hooks(model)
        or getattr(model, "_cla_float", None)
        or any(t.dtype == torch.bfloat16 for t in model.state_dict().values() if isinstance(t, torch.Tensor))
    )


def _int8_save(model: nn.Module, path: Path, meta: Meta | None) -> None:
    from compression.quantization import int8

    int8.save(model, path, meta)


def _int8_read(path: Path) -> tuple[dict[str, torch.Tensor], Meta]:
    from compression.quantization import int8

    state, header = int8.read_state(path)
    return state, dict(header.get("meta", {}))  # type: ignore[arg-type, return-value]


def _int8_load(path: Path) -> nn.Module:
    from compression.quantization import int8

    return int8.load(path)


def _quant_save(model: nn.Module, path: Path, meta: Meta | None) -> None:
    from compression.quantization import storage

    storage.save(model, path, meta)


def _quant_read(path: Path) -> tuple[dict[str, torch.Tensor], Meta]:
    from compression.quantization import storage

    return storage.read_state(path)


def _quant_load(path: Path) -> nn.Module:
    from compression.quantization import storage

    return storage.load(path)


FORMATS: tuple[Format, ...] = (
    Format("int8", ".pt", _is_int8, _int8_save, _int8_read, _int8_load),
    Format("quant", ".cla", _is_quant, _quant_save, _quant_read, _quant_load),
    Format("compact", ".cla", lambda m: True, artifact.save, artifact.read_state, artifact.load),
)


def format_for(model: nn.Module) -> Format:
    """The format `save` writes this model in."""
    return next(f for f in FORMATS if f.claims(model))


def save(model: nn.Module, path: Path, meta: Meta | None = None) -> None:
    """Write the model's file in the format its kind needs (see FORMATS). `meta` names the
    architecture (model, input_shape, num_classes, width) so that `load` can rebuild it."""
    format_for(model).save(model, Path(path), meta)


def format_of(path: Path) -> Format:
    """The format of a file on disk: a safetensors header names its format, anything else is INT8."""
    from safetensors import SafetensorError, safe_open

    from compression.quantization import storage

    by_tag = {artifact.FORMAT: "compact", storage.FORMAT: "quant"}
    try:
        with safe_open(str(path), framework="np") as fh:
            tag = json.loads((fh.metadata() or {}).get("cla", "{}")).get("format")
    except (SafetensorError, OSError, ValueError):  # not safetensors: a torch.save zip (INT8)
        tag = None
    name = by_tag.get(str(tag), "int8")
    return next(f for f in FORMATS if f.name == name)


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], Meta]:
    """The stored tensors (as the model holds them) and the file's metadata, without a model."""
    return format_of(path).read_state(Path(path))


def load(path: Path) -> nn.Module:
    """Rebuild the model from any file `save` writes (the architecture comes from its metadata)."""
    return format_of(path).load(Path(path))
