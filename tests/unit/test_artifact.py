"""The compact artifact: exact round trips for every encoding, and bytes that follow the compression."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from safetensors.torch import save_file

from compression import artifact, metrics, models


def _round_trip(t: torch.Tensor) -> tuple[torch.Tensor, dict[str, object]]:
    out: dict[str, np.ndarray] = {}
    spec = artifact.encode_tensor("w", t, out)
    return artifact.decode_tensor("w", spec, out), spec


def _sparse(n: int, density: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.randn(n, generator=g)
    t[torch.rand(n, generator=g) >= density] = 0
    return t


def test_dense_round_trip_is_exact() -> None:
    t = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    back, spec = _round_trip(t)
    assert spec["layout"] == "dense" and spec["values"] == "dense"
    assert back.dtype == t.dtype and torch.equal(back, t)


@pytest.mark.parametrize("density", [0.3, 0.1, 0.01])
def test_pruned_round_trip_is_exact(density: float) -> None:
    t = _sparse(5000, density, 1).reshape(50, 100)
    back, spec = _round_trip(t)
    assert spec["layout"] in ("bitmask", "gaps")
    assert torch.equal(back, t)


def test_codebook_round_trip_is_exact() -> None:
    levels = torch.tensor([-0.75, -0.25, 0.25, 0.75])
    t = levels[torch.randint(0, 4, (40, 40), generator=torch.Generator().manual_seed(2))]
    back, spec = _round_trip(t)
    assert spec["values"] == "codebook" and spec["bits"] == 2
    assert torch.equal(back, t)


def test_pruned_and_quantized_round_trip_is_exact() -> None:
    t = _sparse(4000, 0.2, 3)
    t = torch.where(t > 0, torch.tensor(0.5), torch.where(t < 0, torch.tensor(-0.5), t))
    back, spec = _round_trip(t)
    assert spec["layout"] != "dense" and spec["values"] == "codebook"
    assert torch.equal(back, t)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.int64])
def test_other_dtypes_round_trip(dtype: torch.dtype) -> None:
    t = (torch.randn(300, generator=torch.Generator().manual_seed(4)) * 10).to(dtype)
    back, _ = _round_trip(t)
    assert back.dtype == dtype and torch.equal(back, t)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), bits=st.integers(1, 24))
def test_pack_unpack_bits_round_trip(data: st.DataObject, bits: int) -> None:
    codes = data.draw(hnp.arrays(np.int64, st.integers(0, 300), elements=st.integers(0, (1 << bits) - 1)))
    packed = artifact.pack_bits(codes, bits)
    assert packed.dtype == np.uint8
    assert packed.size == (codes.size * bits + 7) // 8  # no wasted bytes beyond the last partial one
    assert np.array_equal(artifact.unpack_bits(packed, bits, codes.size), codes)


@settings(max_examples=200, deadline=None)
@given(mask=hnp.arrays(np.bool_, st.integers(0, 600)), bits=st.integers(1, 8))
def test_gap_coding_round_trip(mask: np.ndarray, bits: int) -> None:
    gaps, filler = artifact._gap_encode(mask, bits)
    assert len(gaps) == len(filler)
    assert int((~filler).sum()) == int(mask.sum())  # one real entry per non-zero
    assert gaps.size == 0 or int(gaps.max()) < (1 << bits)  # every gap fits in `bits`
    # Through the packed stream, as stored on disk.
    unpacked = artifact.unpack_bits(artifact.pack_bits(gaps, bits), bits, len(gaps))
    assert np.array_equal(artifact._gap_decode(unpacked, filler, mask.size), mask)


@settings(max_examples=60, deadline=None)
@given(
    values=hnp.arrays(
        np.float32,
        st.integers(64, 400),
        elements=st.sampled_from([0.0, 0.0, 0.0, 0.0, -1.5, 0.25, 3.0]) | st.floats(-4, 4, width=32),
    )
)
def test_encode_decode_any_float_tensor(values: np.ndarray) -> None:
    t = torch.from_numpy(values.copy())
    back, _ = _round_trip(t)
    assert torch.equal(back, t)


def _prune(model: torch.nn.Module, sparsity: float) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                k = int(p.numel() * sparsity)
                p.view(-1)[p.abs().view(-1).argsort()[:k]] = 0
    return model


def _quantize(model: torch.nn.Module, levels: int) -> torch.nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                lo, hi = float(p.min()), float(p.max())
                step = (hi - lo) / (levels - 1)
                p.copy_(torch.round((p - lo) / step) * step + lo)
    return model


def _model() -> torch.nn.Module:
    return models.build("lenet-300-100", (1, 28, 28), 10)


def test_artifact_bytes_shrink_with_sparsity() -> None:
    sizes = [metrics.artifact_bytes(_prune(_model(), s)) for s in (0.0, 0.6, 0.8, 0.95)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert sizes[-1] < 0.15 * sizes[0]


@pytest.mark.parametrize("sparsity", [0.3, 0.5])
def test_moderate_sparsity_already_shrinks_the_file(sparsity: float) -> None:
    dense = metrics.artifact_bytes(_model())
    # bitmask estimate: 1 bit per weight + 32 bits per surviving weight, i.e. well under dense.
    assert metrics.artifact_bytes(_prune(_model(), sparsity)) < (1 - sparsity / 2) * dense


def test_artifact_bytes_shrink_with_fewer_levels() -> None:
    sizes = [metrics.artifact_bytes(_quantize(_model(), k)) for k in (256, 16, 4, 2)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == 4
    assert sizes[-1] < 0.05 * metrics.dense_bytes(_model())  # ~1 bit per weight vs 32


def test_model_save_load_round_trip(tmp_path: Path) -> None:
    model = _quantize(_prune(models.build("lenet5", (1, 8, 8), 10), 0.7), 16)
    path = tmp_path / "m.cla"
    meta = {"model": "lenet5", "input_shape": [1, 8, 8], "num_classes": 10, "width": 1.0}
    artifact.save(model, path, meta)
    state, got_meta = artifact.read_state(path)
    assert got_meta == meta
    ref = model.state_dict()
    assert state.keys() == ref.keys() and all(torch.equal(state[k], ref[k]) for k in ref)
    loaded = artifact.load(path)
    x = torch.randn(4, 1, 8, 8)
    with torch.inference_mode():
        assert torch.equal(loaded(x), model(x))


def test_structurally_smaller_model_loads_back(tmp_path: Path) -> None:
    # A physically narrower network (as torch-pruning leaves it) saved under the full-width name.
    small = models.build("bn-cnn", (1, 8, 8), 10, width=0.5)
    path = tmp_path / "slim.cla"
    artifact.save(small, path, {"model": "bn-cnn", "input_shape": [1, 8, 8], "num_classes": 10, "width": 1.0})
    loaded = artifact.load(path)
    assert sum(p.numel() for p in loaded.parameters()) == sum(p.numel() for p in small.parameters())
    x = torch.randn(3, 1, 8, 8)
    with torch.inference_mode():
        assert torch.allclose(loaded(x), small(x))


def test_foreign_safetensors_is_not_an_artifact(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ValueError, match="not a Compression Lab artifact"):
        artifact.read_state(path)
