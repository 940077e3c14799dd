"""The compact model artifact: its bytes on disk are the measured size of a compressed model.

Each tensor is stored in whichever encoding is smallest for what it really holds:
- dense: raw values in their dtype;
- codebook: few distinct values (k-means, linear or log quantization) stored once as a
  float32 codebook, with every weight a bit-packed code of ceil(log2 k) bits;
- sparse: mostly zeros (pruning) stored as a bitmask or as relative indices (Deep
  Compression's gap coding), with the non-zero values dense or as codebook codes;
- Huffman (when the model asks for it, `wants_huffman`): codes and gaps canonical-Huffman coded
  (compression.encoding.huffman), each only where smaller than its bit-packed form.
The container is a safetensors file (uint8 buffers plus a JSON header), so loading it never
unpickles anything. Loading rebuilds the zoo model and adopts the stored tensor shapes, so
structurally pruned (physically smaller) models load back too.

Written by hand because no library we use stores bit-packed codebooks plus sparse indices
(safetensors, torch.save and torchao store whole bytes per value).
"""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file
from torch import nn

from compression.encoding import huffman as huffman_code

FORMAT = "compression-lab/1"


# ---------------------------------------------------------------- bit packing


def pack_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Pack unsigned integer codes (< 2**bits) into a uint8 stream, `bits` bits each."""
    if bits == 0 or codes.size == 0:
        return np.zeros(0, dtype=np.uint8)
    as_bytes = codes.astype(">u4").view(np.uint8).reshape(-1, 4)
    bit_rows = np.unpackbits(as_bytes, axis=1)[:, 32 - bits :]
    return np.packbits(bit_rows.reshape(-1))


def unpack_bits(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    if bits == 0 or count == 0:
        return np.zeros(count, dtype=np.int64)
    bit_rows = np.unpackbits(packed)[: count * bits].reshape(count, bits)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.int64)
    return bit_rows.astype(np.int64) @ weights


def _bits_for(levels: int) -> int:
    return max(1, math.ceil(math.log2(levels))) if levels > 1 else 0


# ---------------------------------------------------------------- one tensor


def _encode_values(
    values: np.ndarray, prefix: str, out: dict[str, np.ndarray], huffman: bool = False
) -> dict[str, object]:
    """Values as dense float or as codebook + packed codes, whichever is smaller (with `huffman`,
    the codes may be canonical-Huffman coded instead of bit-packed, when that is smaller)."""
    uniq = np.unique(values) if values.size else values
    dense_size = values.nbytes
    if 0 < uniq.size <= 256:
        bits = _bits_for(uniq.size)
        code_size = uniq.size * 4 + math.ceil(values.size * bits / 8)
        if code_size < dense_size:
            codes = np.searchsorted(uniq, values)
            book, book16 = _narrow(uniq.astype(np.float32) if values.dtype != np.float16 else uniq, huffman)
            out[prefix + ".codebook"] = book
            spec: dict[str, object] = {
                "values": "codebook",
                "bits": bits,
                **({"book16": True} if book16 else {}),
            }
            packed = pack_bits(codes, bits)
            if huffman and uniq.size > 1:
                blob = huffman_code.encode(codes, int(uniq.size))
                if blob.nbytes < packed.nbytes:
                    out[prefix + ".hcodes"] = blob
                    return {**spec, "huffman": True}
            out[prefix + ".codes"] = packed
            return spec
    stored, f16 = _narrow(values, huffman)
    out[prefix + ".values"] = stored
    return {"values": "dense", **({"f16": True} if f16 else {})}


def _narrow(values: np.ndarray, enabled: bool) -> tuple[np.ndarray, bool]:
    """float32 values that float16 holds exactly, as float16 (lossless: 2 bytes instead of 4). Only in
    entropy-coded files, where sharing rounds its shared values and biases to half precision."""
    if not enabled or values.dtype != np.float32 or values.size == 0:
        return values, False
    half = values.astype(np.float16)
    if np.array_equal(half.astype(np.float32), values):  # NaN never equals: stays float32
        return half, True
    return values, False


def _decode_values(
    spec: dict[str, object], prefix: str, tensors: dict[str, np.ndarray], count: int
) -> np.ndarray:
    if spec["values"] == "codebook":
        book = tensors[prefix + ".codebook"]
        book = book.astype(np.float32) if spec.get("book16") else book
        if spec.get("huffman"):
            return book[huffman_code.decode(tensors[prefix + ".hcodes"], int(book.size), count)]
        codes = unpack_bits(tensors[prefix + ".codes"], int(spec["bits"]), count)  # type: ignore[arg-type]
        return book[codes]
    values = tensors[prefix + ".values"]
    return values.astype(np.float32) if spec.get("f16") else values


def limit_of(bits: int) -> int:
    """The longest gap a `bits`-bit relative index holds."""
    return (1 << bits) - 1


def _gap_encode(flat_nonzero: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative indices with `bits`-bit gaps; a gap too long inserts fillers (explicit zeros).

    Each entry stores the number of zeros skipped before it. A filler entry skips `limit` zeros
    and stands on one more zero position, so it covers limit + 1 positions (Deep Compression).
    """
    limit = (1 << bits) - 1
    positions = np.nonzero(flat_nonzero)[0]
    if positions.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    gaps = np.diff(np.concatenate([[-1], positions])) - 1  # zeros skipped before each entry
    fillers = gaps // (limit + 1)
    counts = fillers + 1
    ends = np.cumsum(counts) - 1  # the real entry closes each group
    out = np.full(int(counts.sum()), limit, dtype=np.int64)
    out[ends] = gaps - fillers * (limit + 1)
    is_filler = np.ones(out.size, dtype=bool)
    is_filler[ends] = False
    return out, is_filler


def _gap_decode(gaps: np.ndarray, is_filler: np.ndarray, size: int) -> np.ndarray:
    steps = gaps + 1
    positions = np.cumsum(steps) - 1
    mask = np.zeros(size, dtype=bool)
    mask[positions[~is_filler]] = True
    return mask


def encode_tensor(
    name: str, t: torch.Tensor, out: dict[str, np.ndarray], huffman: bool = False
) -> dict[str, object]:
    """Store `t` in `out` in its smallest layout; returns the layout spec for the header.

    huffman: also try canonical Huffman coding of the codebook codes and of the relative-index
    gaps (a filler becomes one more gap symbol, so no filler bitmask), kept only where smaller.
    """
    arr = t.detach().cpu().contiguous()
    dtype = str(arr.dtype).replace("torch.", "")
    if arr.dtype == torch.bfloat16:
        arr = arr.float()
    a = arr.numpy().reshape(-1)
    spec: dict[str, object] = {"shape": list(t.shape), "dtype": dtype}
    if not np.issubdtype(a.dtype, np.floating) or a.size < 64:
        stored, f16 = _narrow(a, huffman)
        out[name + ".values"] = stored
        return {**spec, "layout": "dense", "values": "dense", **({"f16": True} if f16 else {})}
    nonzero = a != 0
    density = nonzero.mean()
    candidates: list[tuple[int, dict[str, object], dict[str, np.ndarray]]] = []
    dense_out: dict[str, np.ndarray] = {}
    dense_spec = {**spec, "layout": "dense", **_encode_values(a, name, dense_out, huffman)}
    candidates.append((sum(v.nbytes for v in dense_out.values()), dense_spec, dense_out))
    if density < 0.97:  # a bitmask (1 bit per weight) already pays off below ~97% density
        nz_vals = a[nonzero]
        mask_out: dict[str, np.ndarray] = {name + ".mask": np.packbits(nonzero)}
        mask_spec = {**spec, "layout": "bitmask", **_encode_values(nz_vals, name, mask_out, huffman)}
        candidates.append((sum(v.nbytes for v in mask_out.values()), mask_spec, mask_out))
        for bits in (3, 4, 5, 6, 7, 8) if huffman else (3, 4, 5, 8):
            gaps, filler = _gap_encode(nonzero, bits)
            vals = np.zeros(len(gaps), dtype=a.dtype)
            vals[~filler] = nz_vals
            gap_out = {name + ".gaps": pack_bits(gaps, bits), name + ".fill": np.packbits(filler)}
            gap_spec = {**spec, "layout": "gaps", "gap_bits": bits, "entries": len(gaps)}
            gap_spec.update(_encode_values(vals, name, gap_out))
            candidates.append((sum(v.nbytes for v in gap_out.values()), gap_spec, gap_out))
            if huffman:  # Deep Compression: Huffman-coded gaps, a filler is the symbol 2^bits
                symbols = np.where(filler, limit_of(bits) + 1, gaps)
                h_out = {name + ".hgaps": huffman_code.encode(symbols, limit_of(bits) + 2)}
                h_spec = {
                    **spec,
                    "layout": "gaps",
                    "gap_bits": bits,
                    "entries": len(gaps),
                    "huffman_gaps": True,
                }
                h_spec.update(_encode_values(nz_vals, name, h_out, huffman))
                candidates.append((sum(v.nbytes for v in h_out.values()), h_spec, h_out))
    _, best_spec, best_out = min(candidates, key=lambda c: c[0])
    out.update(best_out)
    return best_spec


def decode_tensor(name: str, spec: dict[str, object], tensors: dict[str, np.ndarray]) -> torch.Tensor:
    shape = [int(s) for s in spec["shape"]]  # type: ignore[union-attr]
    size = int(np.prod(shape)) if shape else 1
    layout = spec["layout"]
    if layout == "dense":
        flat = _decode_values(spec, name, tensors, size)
    elif layout == "bitmask":
        mask = np.unpackbits(tensors[name + ".mask"])[:size].astype(bool)
        flat = np.zeros(size, dtype=np.float32)
        flat[mask] = _decode_values(spec, name, tensors, int(mask.sum()))
    elif spec.get("huffman_gaps"):
        entries = int(spec["entries"])  # type: ignore[arg-type]
        limit = limit_of(int(spec["gap_bits"]))  # type: ignore[arg-type]
        symbols = huffman_code.decode(tensors[name + ".hgaps"], limit + 2, entries)
        filler = symbols == limit + 1
        mask = _gap_decode(np.where(filler, limit, symbols), filler, size)
        flat = np.zeros(size, dtype=np.float32)
        flat[mask] = _decode_values(spec, name, tensors, int((~filler).sum()))
    else:
        entries = int(spec["entries"])  # type: ignore[arg-type]
        gaps = unpack_bits(tensors[name + ".gaps"], int(spec["gap_bits"]), entries)  # type: ignore[arg-type]
        filler = np.unpackbits(tensors[name + ".fill"])[:entries].astype(bool)
        vals = _decode_values(spec, name, tensors, entries)
        mask = _gap_decode(gaps, filler, size)
        flat = np.zeros(size, dtype=np.float32)
        flat[mask] = vals[~filler]
    t = torch.from_numpy(np.ascontiguousarray(flat)).reshape(shape)
    return t.to(getattr(torch, str(spec["dtype"])))


# ---------------------------------------------------------------- whole models


def wants_huffman(model: nn.Module, meta: dict[str, object] | None = None) -> bool:
    """Whether the model's file Huffman-codes its codes and gaps (set by the `huffman` technique)."""
    return bool((meta or {}).get("huffman") or (getattr(model, "_cla_meta", None) or {}).get("huffman"))


def save(
    model: nn.Module, path: Path, meta: dict[str, object] | None = None, *, packed: bool | None = None
) -> None:
    """Write the compact artifact of a float model (masked, fake-quantized or pruned).

    packed (default: when Huffman-coded): one uint8 payload and a deflated layout header instead
    of one safetensors entry per array, the container of an entropy-coded file where a few KB
    matter. Plain files keep one entry per array (other tools read them array by array)."""
    tensors: dict[str, np.ndarray] = {}
    layout: dict[str, object] = {}
    huffman = wants_huffman(model, meta)
    for name, t in model.state_dict().items():
        if isinstance(t, torch.Tensor) and not t.is_quantized:
            layout[name] = encode_tensor(name, t, tensors, huffman)
    meta = {**(getattr(model, "_cla_meta", None) or {}), **(meta or {})}
    if huffman:
        meta["huffman"] = True
    if not (huffman if packed is None else packed):
        save_file(
            tensors,
            str(path),
            metadata={"cla": json.dumps({"format": FORMAT, "tensors": layout, "meta": meta})},
        )
        return
    payload, parts = pack_arrays(tensors)
    body = json.dumps({"tensors": layout, "meta": meta, "parts": parts}, separators=(",", ":"))
    deflated = np.frombuffer(zlib.compress(body.encode(), 9), dtype=np.uint8)  # the layout leads the payload
    header = {"format": FORMAT, "zlen": int(deflated.size)}
    payload = np.concatenate([deflated, payload])
    save_file({"payload": payload}, str(path), metadata={"cla": json.dumps(header, separators=(",", ":"))})


def pack_arrays(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, list[object]]]:
    """Every 1-D array end to end in one uint8 payload; the header keeps [dtype, length] per array
    in order. One safetensors entry instead of one per array: each costs ~70 header bytes, which on
    a 6 KB Deep-Compressed LeNet-5 was a quarter of the file (and the plain JSON layout a third)."""
    chunks = [np.ascontiguousarray(a).reshape(-1).view(np.uint8) for a in arrays.values()]
    parts = {k: [a.dtype.str, int(a.size)] for k, a in arrays.items()}
    payload = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
    return payload, parts


def unpack_arrays(payload: np.ndarray, parts: dict[str, list[object]]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    offset = 0
    for name, (dtype, size) in parts.items():
        dt = np.dtype(str(dtype))
        n = int(size) * dt.itemsize  # type: ignore[call-overload]
        out[name] = payload[offset : offset + n].view(dt).copy()
        offset += n
    return out


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
    """Read an artifact back into a state dict and its metadata."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as fh:
        header = json.loads((fh.metadata() or {}).get("cla", "{}"))
    if header.get("format") != FORMAT:
        raise ValueError(f"{path} is not a Compression Lab artifact")
    tensors = load_file(str(path))
    if (
        "zlen" in header
    ):  # packed: the deflated layout, then every array (on a 6 KB file the plain JSON was a third)
        payload, n = tensors["payload"], int(header.pop("zlen"))
        header |= json.loads(zlib.decompress(payload[:n].tobytes()))
        tensors = unpack_arrays(payload[n:], header["parts"])
    state = {name: decode_tensor(name, spec, tensors) for name, spec in header["tensors"].items()}
    return state, header.get("meta", {})


def adopt_shapes(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Resize the layers of a freshly built model to the shapes in `state` (structured pruning).

    torch-pruning physically removes channels; a rebuilt zoo model has the original widths,
    so each conv, linear and batch-norm layer takes the stored shape and its attributes follow.
    A factorised layer (low-rank: `name.0.weight`, ... in place of `name.weight`) is rebuilt first.
    """
    from compression.lowrank import restructure

    restructure(model, state)
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        for p_name, p in list(module.named_parameters(recurse=False)) + list(
            module.named_buffers(recurse=False)
        ):
            key = prefix + p_name
            if key in state and p is not None and tuple(p.shape) != tuple(state[key].shape):
                new = state[key].to(p.dtype)
                if isinstance(p, nn.Parameter):
                    setattr(module, p_name, nn.Parameter(new.clone()))
                else:
                    setattr(module, p_name, new.clone())
        if isinstance(module, nn.Conv2d):
            out_c, in_per_group = module.weight.shape[:2]
            if module.groups > 1 and module.groups == module.in_channels:  # depthwise
                module.groups = out_c
                module.in_channels = out_c
            else:
                module.in_channels = in_per_group * module.groups
            module.out_channels = out_c
        elif isinstance(module, nn.Linear):
            module.out_features, module.in_features = module.weight.shape
        elif isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d) and module.weight is not None:
            module.num_features = module.weight.shape[0]
    return model


def load(path: Path) -> nn.Module:
    """Rebuild a model from its artifact (metadata names the zoo architecture)."""
    from compression import models

    state, meta = read_state(path)
    if "darts" in meta:  # a searched network: its genotype rebuilds it (compression.search.darts)
        from compression.search.darts.network import from_meta

        model = from_meta(meta)
        model.load_state_dict(state)
        return model.eval()
    try:
        model = models.build(
            str(meta["model"]),
            tuple(int(v) for v in meta["input_shape"]),  # type: ignore[arg-type]
            int(meta["num_classes"]),  # type: ignore[arg-type]
            float(meta.get("width", 1.0)),  # type: ignore[arg-type]
        )
    except KeyError as exc:
        raise ValueError(f"{path}: the artifact does not name its architecture ({exc})") from exc
    adopt_shapes(model, state)
    model.load_state_dict(state)
    if meta.get("huffman"):  # saving it again writes the same (Huffman-coded) file
        model._cla_meta = {**model._cla_meta, "huffman": True}  # type: ignore[assignment]
    return model.eval()
