"""Canonical Huffman codec (property tests) and Huffman-coded artifacts that load back exactly."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compression import artifact, data, metrics, model_file, models, techniques
from compression.encoding import huffman
from compression.encoding.sharing import HuffmanCode, SparseSharing
from compression.pruning import MagnitudePrune

torch.set_num_threads(1)
FAST = settings(max_examples=60, deadline=None)


@st.composite
def streams(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    alphabet = draw(st.integers(1, 300))
    weights = draw(st.lists(st.integers(0, 50), min_size=alphabet, max_size=alphabet))
    n = draw(st.integers(0, 3000))
    p = np.asarray(weights, dtype=float) + 1e-3
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    return rng.choice(alphabet, size=n, p=p / p.sum()), alphabet


@FAST
@given(streams())
def test_round_trip_is_exact(stream: tuple[np.ndarray, int]) -> None:
    symbols, alphabet = stream
    blob = huffman.encode(symbols, alphabet)
    assert blob.dtype == np.uint8
    assert np.array_equal(huffman.decode(blob, alphabet, symbols.size), symbols)


@FAST
@given(streams())
def test_lengths_form_a_prefix_code_within_one_bit_of_the_entropy(stream: tuple[np.ndarray, int]) -> None:
    symbols, alphabet = stream
    counts = np.bincount(symbols, minlength=alphabet)
    lengths = huffman.code_lengths(counts)
    used = counts > 0
    assert (lengths[used] >= 1).all() and (lengths[~used] == 0).all() and lengths.max(initial=0) <= 15
    assert float((2.0 ** -lengths[used]).sum()) <= 1.0 + 1e-12  # Kraft: a prefix code exists
    codes = huffman.canonical_codes(lengths)
    words = {format(int(codes[s]), f"0{int(lengths[s])}b") for s in np.flatnonzero(used)}
    assert all(not b.startswith(a) for a in words for b in words if a != b)  # prefix-free
    if used.sum() > 1:
        p = counts[used] / counts.sum()
        entropy = float(-(p * np.log2(p)).sum())
        assert float((counts * lengths).sum()) / counts.sum() <= entropy + 1 + 1e-9


@given(st.integers(1, 40), st.integers(0, 5000))
@settings(max_examples=30, deadline=None)
def test_single_symbol_streams(alphabet: int, n: int) -> None:
    symbols = np.full(n, alphabet - 1)
    blob = huffman.encode(symbols, alphabet)
    assert np.array_equal(huffman.decode(blob, alphabet, n), symbols)
    assert blob.nbytes == huffman.table_bytes(alphabet) + -(-n // 8)  # one bit each


def test_empty_stream_and_out_of_range_symbols() -> None:
    blob = huffman.encode(np.zeros(0, dtype=np.int64), 7)
    assert blob.nbytes == huffman.table_bytes(7)
    assert huffman.decode(blob, 7, 0).size == 0
    with pytest.raises(ValueError):
        huffman.encode(np.array([7]), 7)


def test_skewed_counts_are_length_limited() -> None:
    fib = [1, 1]
    while len(fib) < 40:
        fib.append(fib[-1] + fib[-2])
    lengths = huffman.code_lengths(np.array(fib))  # unlimited, the rarest code would be 39 bits
    assert lengths.max() <= 15 and float((2.0**-lengths).sum()) <= 1.0
    symbols = np.repeat(np.arange(40), np.minimum(fib, 3000))
    assert np.array_equal(huffman.decode(huffman.encode(symbols, 40), 40, symbols.size), symbols)


def test_encode_tensor_uses_huffman_only_when_smaller() -> None:
    rng = np.random.default_rng(0)
    skewed = torch.from_numpy(
        rng.choice(np.linspace(-1, 1, 16), size=4000, p=_geometric(16)).astype(np.float32)
    )
    uniform = torch.from_numpy(rng.choice(np.linspace(-1, 1, 16), size=4000).astype(np.float32))
    for t, expect in ((skewed, True), (uniform, False)):
        plain: dict[str, np.ndarray] = {}
        coded: dict[str, np.ndarray] = {}
        spec_plain = artifact.encode_tensor("w", t, plain)
        spec = artifact.encode_tensor("w", t, coded, huffman=True)
        assert bool(spec.get("huffman")) is expect
        assert sum(a.nbytes for a in coded.values()) <= sum(a.nbytes for a in plain.values())
        for s, arrays in ((spec_plain, plain), (spec, coded)):
            assert torch.equal(artifact.decode_tensor("w", s, arrays), t)


def test_sparse_gaps_huffman_round_trip_with_fillers() -> None:
    t = torch.zeros(5000)
    t[[0, 3, 700, 701, 4999]] = torch.tensor([0.5, -0.25, 0.5, 0.5, -0.25])  # gaps far beyond 8 bits
    t[1000:1200:7] = 0.75
    out: dict[str, np.ndarray] = {}
    spec = artifact.encode_tensor("w", t, out, huffman=True)
    assert spec["layout"] == "gaps" and spec.get("huffman_gaps")
    assert torch.equal(artifact.decode_tensor("w", spec, out), t)


def _geometric(k: int) -> np.ndarray:
    p = 0.5 ** np.arange(1, k + 1)
    return p / p.sum()


@functools.cache
def digits() -> data.Dataset:
    return data.load("digits")


def test_deep_compressed_model_file_loads_to_identical_weights_and_accuracy() -> None:
    ds = digits()
    base = models.build("lenet-300-100", ds.input_shape, ds.num_classes)
    shared = techniques.apply_recipe(
        base, [MagnitudePrune(amount=0.9, scope="global"), SparseSharing(bits=4)], ds
    )
    coded = techniques.apply(shared, HuffmanCode(), ds)
    w = shared.fc1.weight
    assert float((w == 0).float().mean()) > 0.5 and torch.unique(w[w != 0]).numel() <= 16
    assert torch.equal(coded.fc1.weight, w)  # Huffman changes the file, not the weights
    with tempfile.TemporaryDirectory() as tmp:
        plain_path, coded_path = Path(tmp) / "plain.cla", Path(tmp) / "coded.cla"
        model_file.save(shared, plain_path)
        model_file.save(coded, coded_path)
        assert coded_path.stat().st_size < plain_path.stat().st_size
        back = model_file.load(coded_path)
        again = Path(tmp) / "again.cla"
        model_file.save(back, again)  # a reloaded model keeps its Huffman-coded file
        assert abs(again.stat().st_size - coded_path.stat().st_size) <= 0.01 * coded_path.stat().st_size
    for k, v in coded.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert metrics.evaluate(back, ds.x_test, ds.y_test) == metrics.evaluate(coded, ds.x_test, ds.y_test)


def test_half_precision_shared_values_and_biases_are_stored_in_two_bytes_exactly() -> None:
    ds = digits()
    base = models.build("lenet5", ds.input_shape, ds.num_classes)
    recipe = [MagnitudePrune(amount=0.8, scope="global"), SparseSharing(bits=4, half=True), HuffmanCode()]
    half = techniques.apply_recipe(base, recipe, ds)
    full = techniques.apply_recipe(base, [*recipe[:1], SparseSharing(bits=4), HuffmanCode()], ds)
    for m in half.modules():
        if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
            assert torch.equal(m.bias, m.bias.half().float())
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "half.cla", Path(tmp) / "full.cla"
        model_file.save(half, a)
        model_file.save(full, b)
        assert a.stat().st_size < b.stat().st_size
        back = model_file.load(a)
    for k, v in half.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    rng = np.random.default_rng(0)  # float32 values float16 cannot hold stay float32, exactly
    t = torch.from_numpy(rng.normal(size=100).astype(np.float32))
    out: dict[str, np.ndarray] = {}
    spec = artifact.encode_tensor("w", t, out, huffman=True)
    assert not spec.get("f16") and torch.equal(artifact.decode_tensor("w", spec, out), t)


def test_quantized_files_huffman_code_their_per_channel_codes() -> None:
    from compression.quantization import catalog

    ds = digits()
    base = models.build("lenet-300-100", ds.input_shape, ds.num_classes)
    quant = techniques.apply(base, catalog.make_config("linear", 4), ds)
    coded = techniques.apply(quant, HuffmanCode(), ds)
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "plain.cla", Path(tmp) / "coded.cla"
        model_file.save(quant, a)
        model_file.save(coded, b)
        assert b.stat().st_size < a.stat().st_size  # 4-bit codes bunch around zero: Huffman pays
        back = model_file.load(b)
        again = Path(tmp) / "again.cla"
        model_file.save(back, again)
        assert again.stat().st_size == b.stat().st_size
    for k, v in coded.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
