"""Low-rank engine: SVD error = discarded energy, Tucker-2/CP reproduce the conv they stand for,
VBMF finds a planted rank, every zoo model factorises, loads back, and its input is untouched."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from compression import data, model_file, models, techniques, train
from compression.lowrank import LowRank, core, factorise, layer_macs, plan

torch.set_num_threads(1)
SOME_LAYERS = {"resnet18": ("layer1.0.conv1", "fc")}
ZOO_SHAPES = {n: (3, 32, 32) if n in ("resnet18", "mobilenet_v3_small") else (1, 8, 8) for n in models.MODELS}


@functools.cache
def digits() -> data.Dataset:
    return data.load("digits")


def _state(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in m.state_dict().items()}


@pytest.mark.parametrize("rank", [1, 7, 20, 30])
def test_svd_error_equals_discarded_energy(rank: int) -> None:
    torch.manual_seed(0)
    layer = nn.Linear(40, 30)
    s = core.spectrum(layer.weight)
    f = core.svd_linear(layer, rank)
    err = float(((layer.weight.detach().double() - core.reconstruct(f).double()) ** 2).sum())
    discarded = float((s[rank:] ** 2).sum())
    assert err == pytest.approx(discarded, rel=1e-4, abs=1e-6)
    x = torch.randn(5, 40)
    expected = x @ core.reconstruct(f).t() + layer.bias
    assert torch.allclose(f(x), expected, atol=1e-5)


def test_energy_rank_is_the_smallest_rank_that_keeps_the_energy() -> None:
    s = np.array([4.0, 2.0, 1.0, 1.0, 0.5])
    for p in (0.5, 0.8, 0.9, 0.95, 0.99, 1.0):
        r = core.energy_rank(s, p)
        assert core.kept_energy(s, r) >= p - 1e-12
        assert r == 1 or core.kept_energy(s, r - 1) < p


def test_vbmf_finds_a_planted_rank() -> None:
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(120, 5)) @ rng.normal(size=(5, 80)) * 3
    assert core.vbmf_rank(signal + rng.normal(scale=0.5, size=signal.shape)) == 5
    assert core.vbmf_rank((signal + rng.normal(scale=0.5, size=signal.shape)).T) == 5


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_tucker2_reproduces_the_conv_within_the_truncation_error(stride: int, padding: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(12, 16, 3, stride=stride, padding=padding)
    x = torch.randn(2, 12, 9, 9)
    r_out, r_in = 6, 5
    f = core.tucker2_conv(conv, r_out, r_in)
    w_hat = core.reconstruct(f)
    # the factorised layer computes exactly the conv with its reconstructed kernel
    assert torch.allclose(f(x), nn.functional.conv2d(x, w_hat, conv.bias, stride, padding), atol=1e-4)
    # and that kernel is within the truncation error of the two channel unfoldings (HOSVD bound)
    w = conv.weight.detach().double()
    err = float(((w - w_hat.double()) ** 2).sum())
    bound = float((core.spectrum(w, 0)[r_out:] ** 2).sum() + (core.spectrum(w, 1)[r_in:] ** 2).sum())
    assert err <= bound * (1 + 1e-4) + 1e-8
    # output error bounded by the kernel error times the input patches' norm
    unf = nn.functional.unfold(x, 3, padding=padding, stride=stride)
    out_err = float(((f(x) - conv(x)).detach() ** 2).sum())
    assert out_err <= err * float((unf.double() ** 2).sum(1).max()) * unf.shape[-1] * 2 + 1e-6
    full = core.tucker2_conv(conv, 16, 12)
    assert torch.allclose(full(x), conv(x), atol=1e-4)


def test_cp_layers_compute_the_conv_of_their_kernel() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(6, 8, (3, 5), stride=2, padding=(1, 2))
    f = core.cp_conv(conv, 10)
    x = torch.randn(2, 6, 11, 11)
    expected = nn.functional.conv2d(x, core.reconstruct(f), conv.bias, 2, (1, 2))
    assert torch.allclose(f(x), expected, atol=1e-4)
    rel = float(((core.reconstruct(f) - conv.weight) ** 2).sum().detach() / (conv.weight**2).sum().detach())
    assert rel < 0.9  # a rank-10 CP captures part of the kernel


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_zoo_model_factorises_runs_and_loads_back(name: str) -> None:
    shape = ZOO_SHAPES[name]
    m = models.build(name, shape, 10, 0.25 if name == "mobilenet_v3_small" else 1.0)
    only = SOME_LAYERS.get(name, ())  # ResNet-18's 3x3 kernels: a few layers keep the test fast
    before = _state(m)
    x = torch.randn(2, *shape)
    for method in core.METHODS:
        cfg = LowRank(method=method, rule="rank", rank=4, layers=only)
        out = factorise(m, cfg)
        y = out(x)
        assert y.shape == (2, 10) and torch.isfinite(y).all()
        if any(r.factorise for r in plan(m, cfg)):
            assert any(isinstance(mod, core.FACTORISED) for mod in out.modules())
        if name == "resnet18":  # 11 M weights: the structure from the state dict (what load does), no file
            back = core.restructure(models.build(name, shape, 10), out.state_dict())
            back.load_state_dict(out.state_dict())
        else:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "m.cla"
                model_file.save(out, path)
                back = model_file.load(path)
        assert torch.allclose(back(x), y, atol=1e-5)
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_skip_if_larger_keeps_a_layer_whose_factorisation_would_be_bigger() -> None:
    m = models.build("lenet-300-100", (1, 28, 28), 10)
    rows = {r.name: r for r in plan(m, LowRank(method="svd", rule="rank", rank=60))}
    assert rows["fc1"].factorise and not rows["fc3"].factorise  # 60 x (100 + 10) > 100 x 10
    out = factorise(m, LowRank(method="svd", rule="rank", rank=60))
    assert type(out.fc3) is nn.Linear and isinstance(out.fc1, core.LowRankLinear)
    assert sum(p.numel() for p in out.parameters()) == sum(
        r.params_after if r.factorise else r.params_before for r in rows.values()
    )


def test_layer_macs_drop_with_the_rank() -> None:
    m = models.build("lenet5", (1, 8, 8), 10)
    cfg = LowRank(method="tucker", rule="rank", rank=2, layers=("features.3",))
    before = layer_macs(m, (1, 8, 8))
    after = layer_macs(factorise(m, cfg), (1, 8, 8))
    mid = sum(v for k, v in after.items() if k.startswith("features.3."))
    assert 0 < mid < before["features.3"]


def test_registry_recipe_round_trip_and_fine_tuning() -> None:
    ds = digits()
    m = models.build("lenet-300-100", ds.input_shape, ds.num_classes)
    cfg = LowRank(method="svd", rule="energy", energy=0.5, exclude=("fc3",), finetune_epochs=1)
    assert techniques.from_dict(techniques.to_dict(cfg)) == cfg
    seen: list[float] = []
    out = techniques.apply(m, cfg, ds, progress=lambda f, msg: seen.append(f))
    assert isinstance(out.fc1, core.LowRankLinear) and type(out.fc3) is nn.Linear
    assert seen and seen[-1] == 1.0
    assert sum(p.numel() for p in out.parameters()) < sum(p.numel() for p in m.parameters())
    assert not any(p is q for p in out.parameters() for q in m.parameters())
    with pytest.raises(ValueError, match="method"):
        LowRank(method="qr")
    _ = train  # the fine-tune uses train.fit


@pytest.mark.parametrize(
    ("name", "layer", "method"),
    [("lenet-300-100", "fc2", "svd"), ("lenet5", "features.3", "tucker"), ("lenet5", "features.3", "cp")],
)
def test_params_break_even_rank_is_where_the_factorisation_stops_being_smaller(
    name: str, layer: str, method: str
) -> None:
    from compression.lowrank import explore

    m = models.build(name, (1, 28, 28), 10)
    module = m.get_submodule(layer)
    be = explore.params_breakeven(module, method)
    below = explore.layer_cost(m, layer, method, max(1, int(be) - 1), (1, 28, 28))
    above = explore.layer_cost(m, layer, method, int(be) + 2, (1, 28, 28))
    assert below["params_after"] < below["params_before"] < above["params_after"]
    if method == "svd":  # a conv's first 1x1 runs at the input resolution: its MACs break even lower
        assert below["macs_after"] < below["macs_before"]
    assert 0 < below["energy_kept"] <= above["energy_kept"] <= 1


def test_speed_vs_rank_times_the_layer_alone() -> None:
    from compression.lowrank import explore

    m = models.build("lenet-300-100", (1, 8, 8), 10)
    assert explore.layer_input_shape(m, "fc2", (1, 8, 8)) == (300,)
    assert explore.rank_grid(64, 5) == [1, 3, 8, 23, 64]
    seen: list[float] = []
    rows = explore.speed_vs_rank(
        m, "fc2", "svd", [2, 64], (1, 8, 8), batch=16, rounds=2, progress=lambda f, msg: seen.append(f)
    )
    assert [r["rank"] for r in rows] == [2, 64] and all(r["speedup"] > 0 for r in rows)
    assert seen == [0.5, 1.0]


def test_tucker_takes_separate_output_and_input_ranks() -> None:
    m = models.build("lenet5", (1, 28, 28), 10)
    (row,) = plan(m, LowRank(method="tucker", rule="rank", rank=8, rank_in=4, layers=("features.3",)))
    assert row.ranks == (8, 4)
    f = factorise(m, LowRank(method="tucker", rule="rank", rank=8, rank_in=4, layers=("features.3",)))
    assert f.features[3][0].out_channels == 4 and f.features[3][1].out_channels == 8
