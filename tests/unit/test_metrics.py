"""Measurements: parameter and MAC counts against published numbers, accuracy against hand counts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from compression import data, metrics, models


def _within(value: float, published: float, rel: float = 0.02) -> bool:
    return abs(value - published) <= rel * published


@pytest.mark.parametrize(
    ("name", "published_params", "published_gmacs"),
    [
        # torchvision's model cards: num_params and _ops (GMACs) for ImageNet at 224x224.
        ("resnet18", 11_689_512, 1.814),
        ("mobilenet_v3_small", 2_542_856, 0.057),
    ],
)
def test_torchvision_params_and_macs_match_published(
    name: str, published_params: int, published_gmacs: float
) -> None:
    model = models.build(name, (3, 224, 224), 1000)
    params = sum(t.numel() for _, t in metrics.weight_tensors(model))
    executed, effective = metrics.macs(model, (3, 224, 224))
    assert _within(params, published_params), params
    assert _within(executed, published_gmacs * 1e9), executed
    assert effective == executed  # dense weights: nothing to skip


def test_evaluate_matches_a_hand_count() -> None:
    # The "model" passes logits through, so every number can be counted by hand.
    logits = torch.tensor(
        [
            [5.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # label 0: top-1 hit
            [0.0, 1.0, 5.0, 4.0, 3.0, 2.0],  # label 1: top-1 miss; rank 5 of 6 -> top-5 hit
            [9.0, 0.0, 1.0, 2.0, 3.0, 4.0],  # label 1: rank 6 of 6 -> top-5 miss
            [0.0, 0.0, 0.0, 7.0, 0.0, 0.0],  # label 3: top-1 hit
        ]
    )
    labels = torch.tensor([0, 1, 1, 3])
    top1, top5, loss = metrics.evaluate(nn.Identity(), logits, labels, batch_size=3)  # two batches
    assert top1 == pytest.approx(2 / 4)
    assert top5 == pytest.approx(3 / 4)
    expected_loss = sum(
        float(torch.logsumexp(row, 0) - row[y]) for row, y in zip(logits, labels, strict=True)
    ) / len(labels)
    assert loss == pytest.approx(expected_loss, rel=1e-5)


def test_lenet_300_100_macs_by_hand() -> None:
    model = models.build("lenet-300-100", (1, 28, 28), 10)
    executed, effective = metrics.macs(model, (1, 28, 28))
    assert executed == effective == 784 * 300 + 300 * 100 + 100 * 10
    rows = {r["layer"]: r for r in metrics.layer_table(model, (1, 28, 28))}
    assert rows["fc1"]["macs"] == 784 * 300
    assert rows["fc1"]["params"] == 784 * 300 + 300
    assert rows["fc3"]["shape"] == "10x100"


@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.9])
def test_zero_skipping_macs_drop_with_sparsity(sparsity: float) -> None:
    model = models.build("lenet-300-100", (1, 28, 28), 10)
    w = model.fc1.weight
    n_zero = int(w.numel() * sparsity)
    with torch.no_grad():
        w.view(-1)[torch.randperm(w.numel(), generator=torch.Generator().manual_seed(0))[:n_zero]] = 0
    executed, effective = metrics.macs(model, (1, 28, 28))
    assert executed == 266_200  # dense kernels still execute every multiply
    assert effective == round(266_200 - 784 * 300 * n_zero / w.numel())


def test_effective_bits() -> None:
    assert metrics.effective_bits(torch.randn(1000)) == 32.0  # values do not repeat
    ternary = torch.tensor([-0.5, 0.0, 0.5] * 100)
    assert metrics.effective_bits(ternary) == 2.0  # 3 levels incl. zero
    levels = torch.linspace(-1, 1, 16).repeat(50)  # 16 non-zero levels, no zero -> 4 bits
    assert metrics.effective_bits(levels) == 4.0
    with_zero = torch.cat([levels, torch.zeros(10)])  # the same 16 levels + zero = 17 -> 5 bits
    assert metrics.effective_bits(with_zero) == 5.0
    rows = torch.randn(8, 300)  # per-channel 3-bit grids: each row its own 8 levels
    lo, hi = rows.min(1, keepdim=True).values, rows.max(1, keepdim=True).values
    per_channel = torch.round((rows - lo) / (hi - lo) * 7) / 7 * (hi - lo) + lo
    assert metrics.effective_bits(rows) == 32.0 and metrics.effective_bits(per_channel) == 3.0
    assert metrics.effective_bits(torch.zeros(10)) == 0.0
    big = torch.tensor([-0.5, 0.5]).repeat(
        100_000
    )  # 200,000 weights, 2 levels, no zero: 1 bit even when sampled
    assert metrics.effective_bits(big) == 1.0
    big[:10] = 0  # a zero among them is a third level
    assert metrics.effective_bits(big) == 2.0


def test_theoretical_size_of_a_pruned_and_quantized_model() -> None:
    model = nn.Sequential(nn.Linear(100, 50, bias=False))
    with torch.no_grad():
        w = model[0].weight
        w.copy_(torch.randn_like(w))
        dense_theo, dense_bits = metrics.theoretical_bytes(model)
        assert dense_theo == 100 * 50 * 4 and dense_bits == 32.0
        w.view(-1)[:4000] = 0  # 80 % pruned, survivors stay float32
        pruned_theo, _ = metrics.theoretical_bytes(model)
        assert pruned_theo == 1000 * 4
        w.copy_(torch.sign(w) * 0.1)  # snap survivors to {-0.1, +0.1}: 2 levels + zero -> 2 bits
        quant_theo, quant_bits = metrics.theoretical_bytes(model)
    assert quant_theo == math.ceil(1000 * 2 / 8)
    assert quant_bits == 2.0
    assert metrics.dense_bytes(model) == 100 * 50 * 4


def test_measure_digits_model_is_consistent() -> None:
    ds = data.load("digits")
    model = models.build("lenet-300-100", ds.input_shape, ds.num_classes)
    m = metrics.measure(model, ds, latency=False)
    top1, top5, loss = metrics.evaluate(model, ds.x_test, ds.y_test)
    assert (m.top1, m.top5, m.loss) == (top1, top5, loss)
    assert m.params_total == 64 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10
    assert m.params_nonzero == m.params_total
    assert m.size_dense_bytes == 4 * m.params_total
    assert m.size_theoretical_bytes == m.size_dense_bytes
    assert m.size_artifact_bytes >= m.size_dense_bytes  # dense floats plus a header
    assert m.latency_b1_ms is None and m.latency_b256_ms is None
    assert m.runs_dense
    assert set(m.as_dict()) >= {"top1", "macs_effective", "size_artifact_bytes"}
    # Pruning 90 % shows up in non-zeros, theoretical size and the artifact alike.
    with torch.no_grad():
        for layer in (model.fc1, model.fc2):
            k = int(layer.weight.numel() * 0.9)
            layer.weight.view(-1)[layer.weight.abs().view(-1).argsort()[:k]] = 0
    pruned = metrics.measure(model, ds, latency=True, min_run_time=0.01)
    assert pruned.params_nonzero < 0.2 * m.params_total
    assert pruned.size_theoretical_bytes < 0.2 * m.size_theoretical_bytes
    assert pruned.size_artifact_bytes < 0.5 * m.size_artifact_bytes
    assert pruned.macs_effective < 0.2 * pruned.macs
    assert pruned.latency_b1_ms is not None and pruned.latency_b1_ms > 0


def _measurement(**overrides: object) -> metrics.Measurement:
    base: dict[str, object] = dict(
        top1=0.9,
        top5=0.99,
        loss=0.3,
        params_total=1000,
        params_nonzero=1000,
        effective_bits=32.0,
        size_dense_bytes=4000,
        size_theoretical_bytes=4000,
        size_artifact_bytes=4100,
        macs=10_000,
        macs_effective=10_000,
        latency_b1_ms=None,
        latency_b256_ms=None,
        threads=1,
        runs_dense=True,
    )
    base.update(overrides)
    return metrics.Measurement(**base)  # type: ignore[arg-type]


def test_explain_gaps_wording() -> None:
    assert metrics.explain_gaps(_measurement()) == []
    pruned = metrics.explain_gaps(
        _measurement(
            params_nonzero=100, size_theoretical_bytes=400, size_artifact_bytes=900, macs_effective=1000
        )
    )
    text = " ".join(pruned)
    assert "indices" in text
    assert "zero-skipping" in text and "dense kernels" in text
    assert "90%" in text
    structured = " ".join(  # channels removed: fewer weights than the original, none of them zero
        metrics.explain_gaps(
            _measurement(
                params_total=300, params_nonzero=300, baseline_params=1000, size_theoretical_bytes=1200,
                size_artifact_bytes=1900,
            )
        )
    )  # fmt: skip
    assert "header" in structured and "indices" not in structured  # no zeros: no index to store
    fake_quant = " ".join(metrics.explain_gaps(_measurement(effective_bits=4.0, size_theoretical_bytes=500)))
    assert "float32" in fake_quant and "codebooks" in fake_quant
    real_int8 = " ".join(metrics.explain_gaps(_measurement(runs_dense=False, effective_bits=8.0)))
    assert "real quantized (INT8) kernels" in real_int8
    assert "float32" not in real_int8


def test_weight_tensors_see_real_int8_modules() -> None:
    model = models.build("lenet-300-100", (1, 8, 8), 10)
    qmodel = torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)
    names = [n for n, _ in metrics.weight_tensors(qmodel)]
    assert "fc1.weight" in names and "fc1.bias" in names
    total = sum(t.numel() for _, t in metrics.weight_tensors(qmodel))
    assert total == sum(p.numel() for p in model.parameters())
    assert metrics.is_quantized_model(qmodel)
    assert not metrics.is_quantized_model(model)
    fc1 = dict(metrics.weight_tensors(qmodel))["fc1.weight"]
    assert fc1.dtype == torch.float32
    assert metrics.effective_bits(fc1) <= 8.0  # INT8 levels


@pytest.mark.parametrize("arch", ["bn-cnn", "small-resnet", "mobilenet-small"])
def test_inference_forms_fold_batchnorm_and_keep_outputs(arch: str) -> None:
    torch.manual_seed(0)
    model = models.build(arch, (1, 28, 28), 10)
    for m in model.modules():  # non-trivial running statistics, as after training
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    model.eval()
    x = torch.randn(4, 1, 28, 28)
    forms = metrics.inference_forms(model, x)
    assert forms[0] is model and len(forms) == 2
    folded = forms[1]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the input model untouched
    with torch.inference_mode():
        torch.testing.assert_close(folded(x), model(x), rtol=1e-4, atol=1e-4)
    plain = models.build("lenet5", (1, 28, 28), 10)
    assert metrics.inference_forms(plain, x) == [plain]  # nothing to fold: timed as it is


class _BnBeforeConv(nn.Module):
    """Registered conv then bn, but the data flows bn -> conv: a fold by registration order is wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.bn(x))


def test_fold_refused_when_registration_order_is_not_data_flow() -> None:
    torch.manual_seed(0)
    model = _BnBeforeConv().eval()
    model.bn.running_mean.uniform_(-1, 1)
    model.bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 3, 8, 8)
    assert metrics.fold_batchnorm(model, x) is None
    assert metrics.inference_forms(model, x) == [model]


def test_one_top1_rule_for_ties() -> None:
    """Tied logits (common after INT8) count the same in `evaluate` as in `predict` (argmax: first max)."""
    logits = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0], [3.0, 3.0, 3.0], [0.0, 0.0, 1.0]])
    labels = torch.tensor([1, 1, 0, 2])
    top1, _, _ = metrics.evaluate(nn.Identity(), logits, labels)
    agree = float((metrics.predict(nn.Identity(), logits) == labels).float().mean())
    assert top1 == pytest.approx(agree) == pytest.approx(3 / 4)  # row 0: argmax picks class 0, a miss
