"""Untrusted model uploads: a state_dict (.pt/.pth) or .safetensors for a zoo architecture.

Nothing is unpickled beyond `torch.load(weights_only=True)`, which refuses any pickle that
would build arbitrary objects or run code. Accepted weights are stored under their content
hash so a link (`?weights=<hash>`) reopens them.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import re
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import load_file, save_file
from torch import nn

from compression import models, train
from compression.data import DATASETS

MAX_BYTES = 200 * 1024 * 1024  # 200 MB: well above any zoo model (ResNet-18 is 45 MB)
SUFFIXES = (".pt", ".pth", ".safetensors")
MAX_ABS_WEIGHT = 1e6  # trained weights and BatchNorm statistics are far smaller; beyond this, overflow awaits


class UploadError(ValueError):
    """An upload that can't be used; the message says exactly why."""


def _mb(n: int) -> str:
    return f"{n / 2**20:,.1f} MB"


def read_at_most(path: Path, limit: int) -> bytes:
    """A file's bytes, reading at most limit + 1 (the caller refuses more): /dev/zero or a huge file given
    as a path would otherwise be read whole into memory before any size check. OSError passes through."""
    with path.open("rb") as f:
        return f.read(limit + 1)


def check_inflated_size(name: str, blob: bytes, limit: int) -> None:
    """Refuse a torch.save zip whose entries declare more bytes than `limit`, before anything is
    inflated: a few MB of zeros can deflate to gigabytes (a deflate bomb)."""
    if not zipfile.is_zipfile(io.BytesIO(blob)):
        return  # legacy torch format: an uncompressed pickle, as large as the upload itself
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadError(f"'{name}' is not a readable PyTorch file (a damaged zip archive: {exc}).") from exc
    if declared > limit:
        raise UploadError(
            f"'{name}' was refused before unpacking: its archive declares {_mb(declared)} of data once "
            f"inflated, more than the {_mb(limit)} this architecture's weights can need."
        )


def check_finite(name: str, state: dict[str, torch.Tensor]) -> None:
    """Refuse NaN, infinite or absurdly large values: every page would fail on them later."""
    for key, t in state.items():
        if not t.is_floating_point() or t.numel() == 0:
            continue
        bad = ~torch.isfinite(t)
        if bool(bad.any()):
            raise UploadError(f"'{name}': '{key}' holds {int(bad.sum()):,} NaN or infinite value(s).")
        peak = float(t.abs().max())
        if peak > MAX_ABS_WEIGHT:
            raise UploadError(
                f"'{name}': '{key}' holds a value of magnitude {peak:.3g}, beyond the {MAX_ABS_WEIGHT:.0e} "
                "that trained weights ever reach; it would overflow quantization and charts."
            )


def parse_state_dict(name: str, blob: bytes, max_inflated: int = MAX_BYTES) -> dict[str, torch.Tensor]:
    """Turn uploaded bytes into a state dict of tensors, safely, or raise UploadError.

    max_inflated: the most bytes a .pt archive may declare once unpacked (checked before unpacking)."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise UploadError(f"'{name}': expected a .pt, .pth or .safetensors file.")
    if len(blob) > MAX_BYTES:
        raise UploadError(
            f"'{name}' is {len(blob):,} bytes, more than the limit of {MAX_BYTES:,} bytes ({_mb(MAX_BYTES)})."
        )
    if not blob:
        raise UploadError(f"'{name}' is empty.")
    if suffix == ".safetensors":
        try:
            state = st_load(blob)
        except (SafetensorError, ValueError, OSError) as exc:
            raise UploadError(f"'{name}' is not a valid safetensors file ({exc}).") from exc
    else:
        check_inflated_size(name, blob, max_inflated)
        try:
            obj = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            blocked = re.search(r"(?:unsupported GLOBAL|Unsupported global: GLOBAL) ([\w.]+)", str(exc))
            if blocked:  # a pickle that wants to import something: exactly what weights_only blocks
                raise UploadError(
                    f"'{name}' was refused without running anything: it asks to import "
                    f"`{blocked.group(1)}`, which only arbitrary unpickling could do, and arbitrary "
                    "unpickling can run code. Save a state_dict (torch.save(model.state_dict(), path)) "
                    "or a .safetensors file instead."
                ) from exc
            raise UploadError(
                f"'{name}' is not a readable PyTorch file: its pickle is damaged or uses an operation that "
                "safe (weights-only) loading does not allow. Save a state_dict with torch.save(model."
                "state_dict(), path) or a .safetensors file."
            ) from exc
        except Exception as exc:  # noqa: BLE001 - torch raises many types on garbage; all mean "unreadable"
            raise UploadError(
                f"'{name}' is not a readable PyTorch file: it is truncated, damaged or not made by torch.save "
                f"({type(exc).__name__})."
            ) from exc
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]  # the common {"state_dict": ...} checkpoint layout
        if not isinstance(obj, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
        ):
            raise UploadError(
                f"'{name}' holds a {type(obj).__name__}, not a state_dict (tensors by parameter name)."
            )
        state = obj
    return {re.sub(r"^(module\.|_orig_mod\.)", "", k): v for k, v in state.items()}


def check_against(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise UploadError naming the first missing, unexpected or mismatching key."""
    expected = model.state_dict()
    for key, ref in expected.items():
        if key not in state:
            raise UploadError(f"Missing key '{key}' (expected shape {tuple(ref.shape)}).")
        if tuple(state[key].shape) != tuple(ref.shape):
            raise UploadError(
                f"Shape mismatch at '{key}': the file has {tuple(state[key].shape)}, "
                f"the architecture expects {tuple(ref.shape)}."
            )
    extra = [k for k in state if k not in expected]
    if extra:
        raise UploadError(f"Unexpected key '{extra[0]}' (and {len(extra) - 1} more): not this architecture.")


def uploads_dir() -> Path:
    return train.cache_dir() / "uploads"


def weights_for(model: nn.Module, name: str, blob: bytes) -> dict[str, torch.Tensor]:
    """The file's tensors as `model` holds them (its dtypes), every check passed; else UploadError."""
    expected = model.state_dict()
    need = sum(t.numel() * 8 for t in expected.values())  # even as float64
    state = parse_state_dict(name, blob, max_inflated=need + 2**20)  # + 1 MB of pickle and zip records
    check_against(model, state)
    for key, t in state.items():
        want = expected[key].dtype
        if t.is_complex() or t.dtype == torch.bool or t.is_floating_point() != want.is_floating_point:
            raise UploadError(f"'{name}': '{key}' holds {t.dtype} values where the architecture has {want}.")
    clean = {k: v.detach().to(expected[k].dtype).contiguous() for k, v in state.items()}
    check_finite(name, clean)  # as stored: a float64 or an int64 can overflow float32
    return clean


def accept(name: str, blob: bytes, dataset: str, model_name: str) -> str:
    """Validate an upload for (dataset, model) and store it; return its content hash."""
    spec = DATASETS[dataset]
    clean = weights_for(models.build(model_name, spec.input_shape, len(spec.classes)), name, blob)
    digest = hashlib.sha256(blob).hexdigest()[:16]
    folder = uploads_dir()
    folder.mkdir(parents=True, exist_ok=True)
    save_file(
        clean, str(folder / f"{digest}.safetensors"), metadata={"dataset": dataset, "model": model_name}
    )
    return digest


def load_stored(digest: str, dataset: str, model_name: str) -> nn.Module:
    """Rebuild a stored upload; errors (unknown hash, other architecture) raise UploadError."""
    if not re.fullmatch(r"[0-9a-f]{16}", digest):
        raise UploadError(f"'{digest}' is not an upload id.")
    path = uploads_dir() / f"{digest}.safetensors"
    if not path.exists():
        raise UploadError(f"no uploaded weights with id {digest} on this server.")
    spec = DATASETS[dataset]
    model = models.build(model_name, spec.input_shape, len(spec.classes))
    state = load_file(str(path))
    check_against(model, state)
    check_finite(digest, state)  # uploads stored before this check existed
    model.load_state_dict(state)
    return model.eval()
