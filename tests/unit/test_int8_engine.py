"""Real INT8 follows the CPU: 7-bit activations (reduce_range) only without int8 dot products."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from compression import data, latency, metrics, models, train
from compression.quantization import int8

warnings.filterwarnings("ignore", category=DeprecationWarning)

AVX2 = latency.CPU("AMD EPYC 7B12", ("avx2",), 2)
VNNI = latency.CPU("AMD EPYC 9R14", ("avx2", "avx512f", "avx512_vnni"), 2)
AMX = latency.CPU("Intel Xeon Platinum 8488C", ("avx2", "avx512f", "avx512_vnni", "amx_tile"), 4)
OLD = latency.CPU("Intel Xeon E5-2670", (), 8)  # no AVX2 at all


@pytest.mark.parametrize(("cpu", "reduce_range"), [(AVX2, True), (VNNI, False), (AMX, False), (OLD, True)])
def test_reduce_range_only_without_vnni(cpu: latency.CPU, reduce_range: bool) -> None:
    choice = int8.choose_engine(cpu, ("qnnpack", "onednn", "x86", "fbgemm"))
    assert choice.engine == "x86"
    assert choice.reduce_range is reduce_range
    observer = int8.qconfig_mapping(choice).global_qconfig.activation()
    assert observer.reduce_range is reduce_range
    assert observer.quant_max - observer.quant_min == (127 if reduce_range else 255)


def test_arm_uses_qnnpack_with_full_range() -> None:
    arm = latency.CPU("Neoverse-V1", (), 4)
    choice = int8.choose_engine(arm, ("qnnpack",))
    assert (choice.engine, choice.reduce_range) == ("qnnpack", False)


def test_every_activation_observer_follows_the_choice() -> None:
    """The transposed-conv and LayerNorm entries share the global activation observer: all flip together."""
    mapping = int8.qconfig_mapping(int8.EngineChoice("x86", False, "test"))
    for qc in (mapping.global_qconfig, mapping.object_type_qconfigs[nn.ConvTranspose2d]):
        assert qc.activation().reduce_range is False


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


@pytest.fixture(scope="module")
def mlp(digits: data.Dataset) -> nn.Module:
    m = train.load_baseline(train.default_config("digits", "lenet-300-100"))  # shipped in assets/
    if m is None:
        m = models.build("lenet-300-100", digits.input_shape, digits.num_classes)
        train.fit(m, digits, epochs=3, optimizer="adam", lr=2e-3)
    return m


def test_default_choice_is_this_cpus_and_is_recorded(mlp: nn.Module, digits: data.Dataset) -> None:
    q = int8.quantize(mlp, int8.Int8PTQ("static"), digits.x_train[:256])
    assert q._cla_int8["engine"] == torch.backends.quantized.engine == "x86"
    assert q._cla_int8["reduce_range"] is (not latency.cpu_info().vnni)
    dyn = int8.quantize(mlp, int8.Int8PTQ("dynamic"), digits.x_train[:256])
    assert dyn._cla_int8["reduce_range"] is True  # torch.ao's dynamic Linear always asks for 7 bits


@pytest.mark.parametrize("reduce_range", [True, False])
def test_both_ranges_evaluate_and_round_trip(
    reduce_range: bool, mlp: nn.Module, digits: data.Dataset, tmp_path: Path
) -> None:
    cfg = int8.Int8PTQ("static")
    q = int8.quantize(mlp, cfg, digits.x_train[:512], int8.EngineChoice("x86", reduce_range, "test"))
    assert metrics.is_quantized_model(q) and q._cla_int8["reduce_range"] is reduce_range
    fp32 = metrics.evaluate(mlp, digits.x_test, digits.y_test)[0]
    top1 = metrics.evaluate(q, digits.x_test, digits.y_test)[0]
    assert top1 >= fp32 - 0.03, (top1, fp32)
    path = tmp_path / "q.pt"
    int8.save(q, path)
    back = int8.load(path, "lenet-300-100", digits.input_shape, digits.num_classes, cfg)
    assert back._cla_int8 == q._cla_int8  # rebuilt with the recorded engine and range, not this CPU's
    with torch.inference_mode():
        assert torch.equal(back(digits.x_test[:64]), q(digits.x_test[:64]))


def test_full_range_activations_use_all_256_levels(mlp: nn.Module, digits: data.Dataset) -> None:
    """The input quantizer's codes span more than 7 bits only when reduce_range is off."""
    spans = {}
    for rr in (True, False):
        q = int8.quantize(
            mlp, int8.Int8PTQ("static"), digits.x_train[:512], int8.EngineChoice("x86", rr, "t")
        )
        buffers = dict(
            q.named_buffers()
        )  # the input quantizer's: flatten_scale_0 (MLP), _input_scale_0 (conv)
        name = next(k for k in buffers if k.endswith("scale_0"))
        scale, zero = float(buffers[name]), int(buffers[name.replace("scale_0", "zero_point_0")])
        codes = torch.quantize_per_tensor(digits.x_test, scale, zero, torch.quint8).int_repr()
        spans[rr] = int(codes.max()) - int(codes.min())
    assert spans[True] <= 127 < spans[False]


def test_quantize_and_load_leave_the_process_warning_filters_alone(
    mlp: nn.Module, digits: data.Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`warnings.catch_warnings()` around a call swaps the process-wide filter list (not thread-safe before
    Python 3.14: two server sessions interleaving could leave "ignore everything" behind). The filter list
    seen inside torch.ao's calls is the process's own."""
    seen: list[list[object]] = []

    def spy(fn):  # type: ignore[no-untyped-def]
        def call(*a, **k):  # type: ignore[no-untyped-def]
            seen.append(list(warnings.filters))
            return fn(*a, **k)

        return call

    from torch.ao.quantization import quantize_fx

    monkeypatch.setattr(quantize_fx, "convert_fx", spy(quantize_fx.convert_fx))
    monkeypatch.setattr(
        torch.ao.quantization, "quantize_dynamic", spy(torch.ao.quantization.quantize_dynamic)
    )
    monkeypatch.setattr(nn.Module, "load_state_dict", spy(nn.Module.load_state_dict))
    before = list(warnings.filters)
    q = int8.quantize(mlp, int8.Int8PTQ("static"), digits.x_train[:256])
    int8.quantize(mlp, int8.Int8PTQ("dynamic"), digits.x_train[:256])
    int8.save(q, tmp_path / "q.pt")
    int8.load(
        tmp_path / "q.pt", "lenet-300-100", digits.input_shape, digits.num_classes, int8.Int8PTQ("static")
    )
    assert len(seen) >= 3 and all(f == before for f in seen)
    assert warnings.filters == before
