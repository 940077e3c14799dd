"""Honest storage and measurement of quantized models.

The shared artifact (compression.artifact) stores a tensor with few distinct values as a
codebook plus bit-packed codes. A per-channel grid has a different scale per output channel,
so the tensor as a whole holds up to channels x 2^bits values and a single codebook no longer
pays. This writer stores such layers as what they are, codes of `bits` bits plus one scale and
zero point per channel, and every other tensor through `artifact.encode_tensor` (codebook,
sparse or dense, whichever is smallest). Codes are bit-packed, or base-3 packed for a ternary
grid (5 codes a byte), and a layer whose weights mostly sit on the zero code keeps a bitmask and
the other codes only. Loading recomputes (code - zero) x scale, the same formula the quantizer
used, so the weights come back bit for bit.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
from torch import nn

from compression import artifact, latency, metrics, models
from compression.data import Dataset
from compression.quantization import core, model_ops

FORMAT = "compression-lab/quant-1"


def _meta(model: nn.Module, meta: dict[str, object] | None) -> dict[str, object]:
    out = dict(meta or getattr(model, "_cla_meta", {}) or {})
    acts = model_ops.act_hooks(model)
    if acts:
        out["activations"] = {name: hook.describe() for name, hook in acts.items()}
    if getattr(model, "_cla_float", None):
        out["float_dtype"] = model._cla_float  # type: ignore[attr-defined]
    if artifact.wants_huffman(model, meta):  # so that the reloaded model writes the same file
        out["huffman"] = True
    return out


def radix_per_byte(levels: int) -> int:
    """How many codes of `levels` values fit one byte as base-`levels` digits (3 levels: 5, 3^5 = 243)."""
    k = 0
    while levels ** (k + 1) <= 256:
        k += 1
    return k


def pack_radix(codes: np.ndarray, levels: int) -> np.ndarray:
    """Codes 0..levels-1 as base-`levels` digits, radix_per_byte(levels) to a byte (ternary: 1.6 bits)."""
    k = radix_per_byte(levels)
    padded = np.zeros(-(-codes.size // k) * k, dtype=np.int64)
    padded[: codes.size] = codes
    powers = levels ** np.arange(k, dtype=np.int64)
    return (padded.reshape(-1, k) @ powers).astype(np.uint8)


def unpack_radix(packed: np.ndarray, levels: int, count: int) -> np.ndarray:
    k = radix_per_byte(levels)
    v = packed.astype(np.int64)
    digits = np.empty((v.size, k), dtype=np.int64)
    for j in range(k):
        v, digits[:, j] = np.divmod(v, levels)
    return digits.reshape(-1)[:count]


def _pack_codes(codes: np.ndarray, levels: int, bits: int) -> tuple[np.ndarray, dict[str, object]]:
    """Codes at `bits` each, or as base-`levels` digits when that is fewer bytes (3 or 5-6 levels)."""
    per_byte = radix_per_byte(levels)
    if per_byte >= 2 and -(-codes.size // per_byte) < -(-codes.size * bits // 8):
        return pack_radix(codes, levels), {"pack": "radix", "levels": levels}
    return artifact.pack_bits(codes, bits), {}


def _store_codes(name: str, q: core.QTensor, out: dict[str, np.ndarray]) -> dict[str, object]:
    """A layer's codes, dense or (when smaller) as a bitmask of the weights off the zero code plus
    their codes only, renumbered without the zero code (ternary: 1 bit each). At low bit widths
    most weights round to zero (3-bit LeNet-300-100's fc1: ~60%)."""
    assert q.zero is not None
    codes = q.codes.flatten().numpy()
    dense, packing = _pack_codes(codes, q.qmax + 1, q.bits)
    zero = q.zero.expand(q.codes.shape).flatten().numpy()
    keep = codes != zero  # never false off-grid (binary's zero point is 0.5)
    if not keep.all() and q.qmax >= 2:
        mask = np.packbits(keep)
        kept = codes[keep] - (codes[keep] > zero[keep])  # skip the zero code: qmax levels remain
        packed, kept_packing = _pack_codes(kept, q.qmax, core.bits_needed(q.qmax))
        if mask.nbytes + packed.nbytes < dense.nbytes:
            out[name + ".codes"], out[name + ".mask"] = packed, mask
            return {**kept_packing, "sparse": True, "kept_bits": core.bits_needed(q.qmax)}
    out[name + ".codes"] = dense
    return packing


def _huffman_codes(
    name: str, q: core.QTensor, out: dict[str, np.ndarray], packing: dict[str, object]
) -> dict[str, object]:
    """Every code canonical-Huffman coded (compression.encoding.huffman), when smaller than `packing`."""
    from compression.encoding import huffman

    blob = huffman.encode(q.codes.flatten().numpy(), q.qmax + 1)
    stored = out[name + ".codes"].nbytes + (out[name + ".mask"].nbytes if name + ".mask" in out else 0)
    if blob.nbytes >= stored:
        return packing
    out.pop(name + ".codes")
    out.pop(name + ".mask", None)
    out[name + ".hcodes"] = blob
    return {"huffman": True}


def save(model: nn.Module, path: Path, meta: dict[str, object] | None = None) -> None:
    """Write a fake-quantized (or any float) model; per-channel grids as codes + scales."""
    affine = {f"{n}.weight": q for n, q in model_ops.verified_records(model).items() if q.kind == "affine"}
    tensors: dict[str, np.ndarray] = {}
    layout: dict[str, object] = {}
    # the `huffman` technique: codes canonical-Huffman coded where smaller
    huff = artifact.wants_huffman(model, meta)
    for name, t in model.state_dict().items():
        if not isinstance(t, torch.Tensor) or t.is_quantized:
            continue
        q = affine.get(name)
        if t.dtype == torch.bfloat16:  # the shared encoder widens bf16 to float32; keep its 2 bytes
            tensors[name + ".bits"] = t.detach().contiguous().view(torch.int16).numpy()
            layout[name] = {"layout": "bf16", "shape": list(t.shape), "dtype": "bfloat16"}
            continue
        if q is None:
            layout[name] = artifact.encode_tensor(name, t, tensors, huff)
            continue
        assert q.scale is not None and q.zero is not None
        packing = _store_codes(name, q, tensors)
        if huff:
            packing = _huffman_codes(name, q, tensors, packing)
        tensors[name + ".scale"] = q.scale.flatten().numpy().astype(np.float32)
        zero = q.zero.flatten().numpy().astype(np.float32)
        uniform = bool((zero == zero[0]).all())  # symmetric grids, binary, ternary: one zero point
        tensors[name + ".zero"] = zero[:1] if uniform else zero
        layout[name] = {
            "layout": "affine",
            "shape": list(t.shape),
            "dtype": str(t.dtype).replace("torch.", ""),
            "bits": q.bits,
            "qmax": q.qmax,
            "bshape": list(q.scale.shape),
            **packing,
        }
    header = {"format": FORMAT, "tensors": layout, "meta": _meta(model, meta)}
    save_file(tensors, str(path), metadata={"cla": json.dumps(header, separators=(",", ":"))})


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """The state dict and metadata of a file `save` wrote."""
    state, meta, _ = _read(path)
    return state, meta


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, object], dict[str, core.QTensor]]:
    """State dict, metadata and the affine records (layer -> codes and grid) of a file `save` wrote."""
    with safe_open(str(path), framework="np") as fh:
        header = json.loads((fh.metadata() or {}).get("cla", "{}"))
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Compression Lab quantized artifact")
    raw = load_file(str(path))
    state: dict[str, torch.Tensor] = {}
    records: dict[str, core.QTensor] = {}
    for name, spec in header["tensors"].items():
        if spec["layout"] == "bf16":
            state[name] = (
                torch.from_numpy(raw[name + ".bits"].copy()).view(torch.bfloat16).reshape(spec["shape"])
            )
            continue
        if spec["layout"] != "affine":
            state[name] = artifact.decode_tensor(name, spec, raw)
            continue
        shape = [int(s) for s in spec["shape"]]
        count = int(np.prod(shape))
        scale = torch.from_numpy(raw[name + ".scale"].copy()).reshape(spec["bshape"])
        zero = torch.from_numpy(raw[name + ".zero"].copy()).expand(scale.numel()).reshape(spec["bshape"])
        keep = np.unpackbits(raw[name + ".mask"])[:count].astype(bool) if spec.get("sparse") else None
        n_codes = count if keep is None else int(keep.sum())
        if spec.get("huffman"):
            from compression.encoding import huffman

            flat = huffman.decode(raw[name + ".hcodes"], int(spec["qmax"]) + 1, count)
        elif spec.get("pack") == "radix":
            flat = unpack_radix(raw[name + ".codes"], int(spec["levels"]), n_codes)
        else:
            flat = artifact.unpack_bits(
                raw[name + ".codes"], int(spec.get("kept_bits", spec["bits"])), n_codes
            )
        if keep is not None:  # the weights off the mask sit on the zero code; the others skip it
            full = zero.expand(shape).flatten().numpy().astype(np.int64)
            full[keep] = flat + (flat >= full[keep])
            flat = full
        codes = torch.from_numpy(flat).reshape(shape)
        state[name] = core.dequantize_affine(codes, zero, scale).to(getattr(torch, spec["dtype"]))
        qmax = int(spec.get("qmax", (1 << int(spec["bits"])) - 1))
        records[name.removesuffix(".weight")] = core.QTensor(
            "affine", int(spec["bits"]), codes, scale=scale, zero=zero, qmax=qmax
        )
    return state, header.get("meta", {}), records


def load(path: Path) -> nn.Module:
    """Rebuild the quantized model (zoo architecture, activation grids, half precision) from its file."""
    from compression.quantization import schemes

    state, meta, records = _read(path)
    try:
        model = models.build(
            str(meta["model"]),
            tuple(int(v) for v in meta["input_shape"]),  # type: ignore[union-attr]
            int(meta["num_classes"]),  # type: ignore[arg-type]
            float(meta.get("width", 1.0)),  # type: ignore[arg-type]
        )
    except KeyError as exc:
        raise ValueError(f"{path}: the artifact does not name its architecture ({exc})") from exc
    artifact.adopt_shapes(model, state)
    dtype = meta.get("float_dtype")
    if dtype:
        model.to(schemes.FLOAT_DTYPES[str(dtype)])
        model.register_forward_pre_hook(schemes._CastInput(schemes.FLOAT_DTYPES[str(dtype)]))
        model.register_forward_hook(schemes._cast_output)
        model._cla_float = dtype  # type: ignore[assignment]
    model.load_state_dict(state)
    mods = dict(model.named_modules())
    hooks: dict[str, model_ops.ActQuant] = {}
    for name, d in dict(meta.get("activations", {})).items():  # type: ignore[call-overload]
        hooks[name] = model_ops.ActQuant(str(d["mode"]), int(d["bits"]), float(d["scale"]), float(d["zero"]))
        mods[name].register_forward_pre_hook(hooks[name])
    model._cla_act = hooks  # type: ignore[assignment]
    model._cla_quant = records  # type: ignore[assignment]  # so that saving it again writes the same codes
    if meta.get("huffman"):
        model._cla_meta = {**model._cla_meta, "huffman": True}  # type: ignore[assignment]
    return model.eval()


# ---------------------------------------------------------------- measurement


def is_ternary(q: core.QTensor) -> bool:
    """Three levels with zero in the middle: TWN's {-a, 0, +a}, or 2-bit symmetric linear."""
    return q.qmax == 2 and q.zero is not None and bool((q.zero == 1).all())


def theoretical_bytes(model: nn.Module) -> tuple[int, float]:
    """Non-zero weights x their bits: quantized layers (grids and codebooks) count at the width of
    the codes they use (metrics' count of distinct values would see channels x 2^bits levels in a
    per-channel grid), real INT8 at 8 bits. A ternary grid {-a, 0, +a} (TWN, 2-bit symmetric) costs
    log2(3) bits for every weight, zeros included: its zero is one of three codes every weight
    chooses from (base-3 packing stores 5 codes a byte, 1.6 bits)."""
    recs = model_ops.verified_records(model)
    int8_layers = metrics.int8_layers(model)
    bits_total = 0.0
    weighted = 0.0
    n = 0
    for name, t in metrics.weight_tensors(model):
        layer, _, leaf = name.rpartition(".")
        q = recs.get(layer) if leaf == "weight" else None
        counted = int((t != 0).sum())
        if q is not None and q.kind == "affine" and is_ternary(q):
            b, counted = math.log2(3), t.numel()  # the zero is a level of the grid, not a pruned weight
        elif q is not None:  # affine grid or codebook: the codes the layer really uses
            b = float(min(q.bits, core.bits_needed(int(torch.unique(q.codes).numel()))))
        elif leaf == "weight" and layer in int8_layers:
            b = 8.0
        else:
            b = metrics.effective_bits(t)
        bits_total += counted * b
        weighted += t.numel() * b
        n += t.numel()
    return int(np.ceil(bits_total / 8)), (weighted / n if n else 0.0)


def measure(
    model: nn.Module,
    ds: Dataset,
    *,
    baseline: nn.Module | None = None,
    latency: bool = True,
    min_run_time: float = 0.3,
    macs_model: nn.Module | None = None,
    writer: metrics.ArtifactWriter | None = None,
) -> metrics.Measurement:
    """`metrics.measure` with per-channel-aware theoretical size; the file is written by
    `compression.model_file.save` (the one a recorded run keeps) unless `writer` says otherwise."""
    half = bool(getattr(model, "_cla_float", None))
    m = metrics.measure(
        model,
        ds,
        baseline=baseline,
        latency=latency,
        min_run_time=min_run_time,
        macs_model=macs_model,
        writer=writer,
        runs_dense=False if half else None,
    )
    theo, bits = theoretical_bytes(model)
    return dataclasses.replace(m, size_theoretical_bytes=theo, effective_bits=bits)


def kind_of(model: nn.Module) -> str:
    """ "int8" (real quantized kernels), "half" (float16/bfloat16 kernels) or "simulated" (fake quant)."""
    if metrics.is_quantized_model(model):
        return "int8"
    if getattr(model, "_cla_float", None):
        return "half"
    return "simulated"


def gap_notes(m: metrics.Measurement, model: nn.Module) -> list[str]:
    """metrics.explain_gaps, with the notes that differ for half precision and real INT8."""
    kind = kind_of(model)
    notes = metrics.explain_gaps(m)
    if kind == "half":
        notes = [n for n in notes if "INT8" not in n]
        dtype = getattr(model, "_cla_float", "half precision")
        notes.append(
            f"Weights are stored and executed in {dtype}: the file halves; CPU speed depends on "
            "whether this processor has native half-precision arithmetic (many convert to float32)."
        )
    if kind == "simulated" and model_ops.act_hooks(model):
        notes.append(
            "Activations are fake-quantized too: each layer's input is rounded to its grid and back to "
            "float, which adds work, so simulated latency can even rise."
        )
    if kind == "int8" and m.speedup_b1 is not None and m.speedup_b1 < 1:  # only when it is so, measured
        notes.append(
            f"At batch 1 INT8 is slower here ({m.speedup_b1:.2f}x, paired): quantizing the input and dequantizing "
            "the output are fixed costs that a single small image cannot amortise; at batch 256 "
            f"({m.speedup_b256 or 0:.2f}x) the INT8 matrix kernels' speed shows."
        )
    if kind == "int8" and m.latency_b1_ms is not None and not latency.cpu_info().vnni:
        notes.append(
            "This CPU has no AVX-512 VNNI or AMX (int8 dot-product) instructions: its INT8 matrix kernels are only "
            "modestly faster than float32 ones, and activations use 7 bits (reduce_range) to avoid overflow, so "
            "fully-connected models gain less than conv nets, whose INT8 kernels also fuse BatchNorm and ReLU."
        )
    return notes
