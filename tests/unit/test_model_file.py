"""One writer: for every registered technique, the file a run keeps is the file that was measured.

Each case applies a technique (fast settings) to a real model on digits, measures it the way its
page does, records it into a temporary SQLite store, and checks that the recorded file is as large
as the reported size, loads back through `model_file.load` to identical tensors and top-1, and
(binary, ternary, XNOR) is as small as its theory.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from torch import nn

from compression import data, metrics, model_file, models, runs, techniques, train
from compression.pruning import methods
from compression.quantization import catalog, core, int8, model_ops, qat, schemes, storage

warnings.filterwarnings("ignore", category=DeprecationWarning)
techniques._load_all()

ARCH = "lenet-300-100"
BN_ARCH = "bn-cnn"  # BatchNorm: slimming, conv+BN+ReLU fusion in static INT8


@dataclass(frozen=True)
class Case:
    id: str
    recipe: tuple[Any, ...]  # applied in order; the last step names the technique
    arch: str = ARCH


def _cases() -> list[Case]:
    out = [
        Case(
            f"prune-{m}",
            (methods.make_config(m, 0.5, sparsity_epochs=1),),
            BN_ARCH if m == "slimming" else ARCH,
        )
        for m in methods.METHODS
    ]
    out += [
        Case("prune-magnitude-global-0.9", (methods.make_config("magnitude", 0.9, scope="global"),)),
        Case("prune-random-channel", (methods.make_config("random", 0.5, granularity="channel"),)),
        Case("prune-l2-filter-bn-cnn", (methods.make_config("l2-filter", 0.5),), BN_ARCH),
    ]
    mixed = catalog.make_config("mixed", 4, layer_bits=(("fc1", 2), ("fc2", 4), ("fc3", 8)))
    out += [
        Case(f"quant-{s}", (mixed if s == "mixed" else catalog.make_config(s, 4),)) for s in catalog.SCHEMES
    ]
    out += [
        Case("quant-linear-8", (catalog.make_config("linear", 8),)),
        Case("quant-linear-2-ternary-grid", (catalog.make_config("linear", 2),)),
        Case("quant-linear-3-asym-per-tensor", (catalog.make_config("linear", 3, symmetric=False, granularity="per-tensor"),)),
        Case("quant-linear-acts", (catalog.make_config("linear", 4, activations=True),)),
        Case("quant-binary-per-tensor", (catalog.make_config("binary", granularity="per-tensor"),)),
        Case("quant-ternary-per-channel", (schemes.TernaryQuant(granularity="per-channel"),)),
        Case("quant-xnor-keep-ends", (schemes.XNORQuant(keep_ends=True),)),
        Case("quant-int8-static-bn-cnn", (catalog.make_config("int8-static"),), BN_ARCH),
        Case("qat-kmeans", (qat.QAT(scheme="kmeans", bits=3, epochs=1),)),
        Case("qat-xnor", (qat.QAT(scheme="xnor", epochs=1),)),
        Case("qat-linear-acts", (qat.QAT(scheme="linear", bits=4, activations=True, epochs=1),)),
        Case("structured-then-linear-4", (methods.make_config("l1-filter", 0.5), catalog.make_config("linear", 4))),
        Case("quant-linear-3-asym-per-channel", (catalog.make_config("linear", 3, symmetric=False),)),
        Case("magnitude-then-linear-4", (methods.make_config("magnitude", 0.8), catalog.make_config("linear", 4))),
        Case("structured-then-int8-static-bn-cnn", (methods.make_config("l1-filter", 0.5), catalog.make_config("int8-static")), BN_ARCH),
        Case("structured-then-int8-dynamic", (methods.make_config("l1-filter", 0.5), catalog.make_config("int8-dynamic"))),
        Case("magnitude-then-kmeans-4", (methods.make_config("magnitude", 0.8), catalog.make_config("kmeans", 4))),
    ]  # fmt: skip
    if "distill" in techniques.REGISTRY:  # the student, trained one epoch, is what the run keeps
        out.append(Case("distill-1-epoch", (techniques.from_dict({"technique": "distill", "epochs": 1}),)))
    if "kd-recovery" in techniques.REGISTRY:  # QAT learning from the baseline: a ternary file
        wrap = techniques.REGISTRY["kd-recovery"].config_cls.wrap  # type: ignore[attr-defined]
        out.append(Case("kd-recovery-qat-ternary", (wrap(qat.QAT(scheme="ternary", epochs=1)),)))
    if "low-rank" in techniques.REGISTRY:  # factorised layers: the file rebuilds the thin layers
        low_rank = techniques.REGISTRY["low-rank"].config_cls
        out.append(Case("low-rank-svd", (low_rank(method="svd", energy=0.9),)))
        out.append(
            Case(
                "low-rank-tucker-then-linear-4",
                (low_rank(method="tucker", rule="rank", rank=3), catalog.make_config("linear", 4)),
            )
        )
    if "huffman" in techniques.REGISTRY:  # Deep Compression: pruned, shared (zeros kept), Huffman-coded
        sharing = techniques.REGISTRY["sparse-sharing"].config_cls(bits=4)
        huffman = techniques.REGISTRY["huffman"].config_cls()
        out.append(Case("magnitude-then-sparse-sharing", (methods.make_config("magnitude", 0.9), sharing)))
        out.append(
            Case("deep-compression-huffman", (methods.make_config("magnitude", 0.9), sharing, huffman))
        )
        out.append(Case("linear-4-then-huffman", (catalog.make_config("linear", 4), huffman)))
    if "darts" in techniques.REGISTRY:  # a searched network: the file's metadata rebuilds its genotype
        darts_cfg = techniques.REGISTRY["darts"].config_cls
        tiny = {
            "epochs": 1,
            "cells": 2,
            "nodes": 2,
            "channels": 4,
            "search_subset": 128,
            "retrain_subset": 256,
        }
        out.append(Case("darts-tiny", (darts_cfg(dataset="digits", retrain_epochs=1, **tiny),)))
    return out


CASES = _cases()
# Registered techniques no case applies, with the reason. Empty: every technique has a case.
EXCLUDED: dict[str, str] = {}


def _technique(case: Case) -> str:
    return type(case.recipe[-1]).technique


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


@pytest.fixture(scope="module")
def baselines(digits: data.Dataset) -> dict[str, nn.Module]:
    """The shipped digits baselines (assets/), trained briefly when missing."""
    out = {}
    for arch in (ARCH, BN_ARCH):
        m = train.load_baseline(train.default_config("digits", arch))
        if m is None:
            m = models.build(arch, digits.input_shape, digits.num_classes)
            train.fit(m, digits, epochs=2, optimizer="adam", lr=2e-3)
        out[arch] = m
    return out


def _family(config: Any) -> str:
    """The family of the technique that shapes the model (a wrapper such as kd-recovery: its inner step)."""
    inner = getattr(config, "inner", None)
    return _family(inner()) if callable(inner) else str(type(config).family)


def _measure(out: nn.Module, base: nn.Module, case: Case, ds: data.Dataset) -> metrics.Measurement:
    """As the labs measure: the quantization lab through catalog.measure, the others metrics.measure."""
    if _family(case.recipe[-1]) == "quantization":
        return catalog.measure(out, ds, base, latency=False)
    return metrics.measure(out, ds, latency=False)


def _same(a: object, b: object) -> bool:
    """Equal state-dict entries: tensors bit for bit (quantized: codes and grids), tuples per item."""
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.is_quantized or b.is_quantized:
            return (
                a.is_quantized
                and b.is_quantized
                and a.qscheme() == b.qscheme()
                and torch.equal(a.int_repr(), b.int_repr())
                and torch.equal(a.dequantize(), b.dequantize())
            )
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_every_registered_technique_scheme_and_method_has_a_case() -> None:
    covered = {_technique(c) for c in CASES}
    assert set(techniques.REGISTRY) - covered - set(EXCLUDED) == set(), (
        "a technique is neither tested nor excluded"
    )
    assert not covered & set(EXCLUDED)
    ids = {c.id for c in CASES}
    assert {f"quant-{s}" for s in catalog.SCHEMES} <= ids
    assert {f"prune-{m}" for m in methods.METHODS} <= ids


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_recorded_file_is_the_measured_file(
    case: Case, baselines: dict[str, nn.Module], digits: data.Dataset, tmp_path: Path
) -> None:
    base = baselines[case.arch]
    out = techniques.apply_recipe(base, list(case.recipe), digits)
    m = _measure(out, base, case, digits)
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    rid = runs.record_run(
        out,
        dataset="digits",
        arch=case.arch,
        baseline_hash=train.weights_hash(base),
        recipe=list(case.recipe),
        measurement=m,
        technique=_technique(case),
        store=store,
    )
    run = store.get(rid)
    assert run is not None and run.artifact_path
    path = Path(run.artifact_path)
    on_disk = path.stat().st_size
    assert abs(on_disk - m.size_artifact_bytes) <= 0.01 * m.size_artifact_bytes, (
        on_disk,
        m.size_artifact_bytes,
    )
    assert path.suffix == model_file.format_for(out).suffix

    back = model_file.load(path)
    again = tmp_path / "again"
    model_file.save(back, again)  # the reloaded model writes the same file (codes stay codes)
    assert abs(again.stat().st_size - on_disk) <= 0.01 * on_disk
    sq, sb = out.state_dict(), back.state_dict()
    assert sq.keys() == sb.keys()
    for k in sq:
        assert _same(sq[k], sb[k]), k
    assert metrics.evaluate(back, digits.x_test, digits.y_test)[0] == m.top1


def test_unreadable_model_leaves_no_file_and_says_why(tmp_path: Path) -> None:
    """A model no format can hold raises StoreError; nothing half-written stays in the folder."""

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("c", torch.zeros(4, dtype=torch.float8_e4m3fn))  # no numpy dtype

    with pytest.raises(runs.StoreError, match="Cannot write this model's file"):
        runs.record.save_artifact(Odd(), tmp_path / "artifacts", {})
    assert not list((tmp_path / "artifacts").iterdir())


# ---------------------------------------------------------------- binary, ternary, XNOR sizes


@pytest.fixture(scope="module")
def fashion_lenet() -> nn.Module:
    """The shipped fashion-mnist LeNet-300-100 (266,200 weights): the model the issue measured.
    Its weights are enough here; the binary, ternary and XNOR quantizers use no data."""
    m = train.load_baseline(train.default_config("fashion-mnist", ARCH))
    assert m is not None, "assets/baselines holds the fashion-mnist LeNet-300-100"
    return m


def _file_bytes(model: nn.Module, tmp_path: Path) -> int:
    path = tmp_path / "m.cla"
    model_file.save(model, path)
    return path.stat().st_size


@pytest.mark.parametrize(
    "config",
    [
        schemes.BinaryQuant(),
        schemes.BinaryQuant(granularity="per-tensor"),
        schemes.TernaryQuant(),
        schemes.TernaryQuant(granularity="per-channel"),
        schemes.XNORQuant(),
        schemes.LinearQuant(bits=2),  # symmetric 2-bit: the ternary grid {-s, 0, +s}
    ],
    ids=lambda c: f"{type(c).technique}-{getattr(c, 'granularity', '')}",
)
def test_binary_ternary_xnor_files_within_1_2x_of_theory(
    config: object, fashion_lenet: nn.Module, digits: data.Dataset, tmp_path: Path
) -> None:
    q = techniques.apply(fashion_lenet, config, digits)  # weight-only: the data is not used
    theo, _ = storage.theoretical_bytes(q)
    size = _file_bytes(q, tmp_path)
    assert size <= 1.2 * theo, (size, theo)  # a mostly-zero grid's bitmask layout may even beat log2(3)


def test_ternary_theory_is_log2_3_bits_per_weight(fashion_lenet: nn.Module, digits: data.Dataset) -> None:
    """Zeros of a ternary grid are a level, not pruned weights: every weight counts log2(3) bits."""
    q = techniques.apply(fashion_lenet, schemes.TernaryQuant(), digits)
    weights = [t for n, t in metrics.weight_tensors(q) if n.endswith("weight")]
    biases = [t for n, t in metrics.weight_tensors(q) if n.endswith("bias")]
    assert any(bool((w == 0).any()) for w in weights)  # TWN's dead zone made zeros
    n_w = sum(w.numel() for w in weights)
    n_b = sum(b.numel() for b in biases)
    theo, bits = storage.theoretical_bytes(q)
    assert theo == math.ceil((n_w * math.log2(3) + n_b * 32) / 8)
    assert bits == pytest.approx((n_w * math.log2(3) + n_b * 32) / (n_w + n_b))


def test_xnor_is_one_bit_per_weight(fashion_lenet: nn.Module, digits: data.Dataset, tmp_path: Path) -> None:
    """Every weight binary (1 bit + a float scale per output channel), biases float: ~1.05 bits on
    LeNet-300-100 and a file 20-30x smaller than fp32 (it was 28.5 bits and 1.1x)."""
    q = techniques.apply(fashion_lenet, schemes.XNORQuant(), digits)
    n_w = sum(t.numel() for n, t in metrics.weight_tensors(q) if n.endswith("weight"))
    n_b = sum(t.numel() for n, t in metrics.weight_tensors(q) if n.endswith("bias"))
    _, bits = storage.theoretical_bytes(q)
    assert bits == pytest.approx((n_w + 32 * n_b) / (n_w + n_b))
    assert bits < 1.1
    dense = metrics.dense_bytes(q)
    size = _file_bytes(q, tmp_path)
    assert 20 <= dense / size <= 32, dense / size
    assert sorted(model_ops.act_hooks(q)) == ["fc2"]  # binary activations inside, precise at the ends


def test_int8_file_rebuilds_from_its_header(
    baselines: dict[str, nn.Module], digits: data.Dataset, tmp_path: Path
) -> None:
    """The INT8 file names its architecture and mode; old bare state dicts still load with arguments."""
    q = techniques.apply(baselines[ARCH], int8.Int8PTQ(mode="dynamic"), digits)
    path = tmp_path / "q.pt"
    model_file.save(q, path)
    _, meta = model_file.read_state(path)
    assert meta["model"] == ARCH and model_file.format_of(path).name == "int8"
    back = model_file.load(path)
    with torch.inference_mode():
        assert torch.equal(back(digits.x_test[:32]), q(digits.x_test[:32]))
    bare = tmp_path / "bare.pt"
    torch.save(q.state_dict(), bare)
    old = int8.load(bare, ARCH, digits.input_shape, digits.num_classes, int8.Int8PTQ(mode="dynamic"))
    with torch.inference_mode():
        assert torch.equal(old(digits.x_test[:32]), q(digits.x_test[:32]))


@settings(max_examples=60, deadline=None)
@given(levels=st.integers(2, 256), n=st.integers(0, 300), seed=st.integers(0, 2**16))
def test_radix_packing_round_trips(levels: int, n: int, seed: int) -> None:
    codes = np.random.default_rng(seed).integers(0, levels, n)
    packed = storage.pack_radix(codes, levels)
    assert packed.size == -(-n // storage.radix_per_byte(levels))
    assert np.array_equal(storage.unpack_radix(packed, levels, n), codes)


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("symmetric", [True, False])
def test_sparse_code_layout_round_trips_with_per_channel_zero_points(
    bits: int, symmetric: bool, tmp_path: Path
) -> None:
    """Mostly-zero weights (pruned, then quantized per channel): bitmask plus renumbered codes, exact."""
    torch.manual_seed(0)
    lin = nn.Sequential(nn.Linear(96, 40))
    with torch.no_grad():
        w = lin[0].weight
        w.mul_(torch.rand_like(w) > 0.8)  # 80% zeros
        w[:, 0] = torch.linspace(-1, 2, w.shape[0])  # skewed rows: asymmetric zero points differ per row
    q = model_ops.quantize_weights(lin, lambda n, t: core.quantize_linear(t, bits, symmetric, True))
    rec = model_ops.verified_records(q)["0"]
    if not symmetric:
        assert torch.unique(rec.zero).numel() > 1
    path = tmp_path / "q.cla"
    storage.save(q, path)
    state, _ = storage.read_state(path)
    assert torch.equal(state["0.weight"], q[0].weight.detach())
    with safe_open(str(path), framework="np") as fh:
        spec = json.loads(fh.metadata()["cla"])["tensors"]["0.weight"]
        stored = fh.get_tensor("0.weight.codes").nbytes + fh.get_tensor("0.weight.mask").nbytes
    assert spec["sparse"] and stored < math.ceil(q[0].weight.numel() * bits / 8)  # beats dense codes
