"""Pruning engine: exact sparsity laws, input untouched, structured shrinkage, artifact round trip."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from compression import artifact, data, metrics, models, techniques, train
from compression import pruning as P
from compression.pruning import core, structured

SMALL = ("lenet-300-100", "lenet5")
CONV_ZOO = ("lenet5", "bn-cnn", "small-resnet", "mobilenet-small", "resnet18", "mobilenet_v3_small")
torch.set_num_threads(1)  # tiny models: one thread avoids OpenMP spin-waits on a busy machine (50x here)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@functools.cache
def digits() -> data.Dataset:
    return data.load("digits")


@functools.cache
def _model(name: str) -> nn.Module:
    ds = digits()
    return models.build(name, ds.input_shape, ds.num_classes)


def model(name: str) -> nn.Module:
    return train.clone(_model(name))


def run(config: object, m: nn.Module) -> nn.Module:
    """Through the registry entry (the same handler pages and the CLI use)."""
    return techniques.REGISTRY[type(config).technique].apply(m, config, digits())


def state_copy(m: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


def same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_registered() -> None:
    for name in (
        "magnitude-prune",
        "random-prune",
        "structured-prune",
        "activation-prune",
        "network-slimming",
    ):
        assert name in techniques.REGISTRY
        assert techniques.REGISTRY[name].family == "pruning"
    assert techniques.REGISTRY["network-slimming"].slow


# ---------------------------------------------------------------- exact sparsity (masked)


@FAST
@given(
    name=st.sampled_from(SMALL),
    amount=st.floats(0.0, 0.99),
    granularity=st.sampled_from(P.GRANULARITIES),
    random=st.booleans(),
)
def test_layer_scope_exact_zero_units(name: str, amount: float, granularity: str, random: bool) -> None:
    cls = P.RandomPrune if random else P.MagnitudePrune
    out = run(cls(amount=amount, granularity=granularity, seed=3), model(name))
    for _, m in core.prunable_layers(out):
        units = core.unit_view(m.weight, granularity)
        dead = int((units == 0).all(dim=1).sum())
        assert dead == round(amount * units.shape[0])
        if granularity == "weight":
            assert int((m.weight == 0).sum()) == round(amount * m.weight.numel())


@FAST
@given(name=st.sampled_from(SMALL), amount=st.floats(0.0, 0.99), random=st.booleans())
def test_global_scope_exact_zeros(name: str, amount: float, random: bool) -> None:
    cls = P.RandomPrune if random else P.MagnitudePrune
    out = run(cls(amount=amount, scope="global"), model(name))
    layers = core.prunable_layers(out)
    n = sum(m.weight.numel() for _, m in layers)
    zeros = sum(int((m.weight == 0).sum()) for _, m in layers)
    assert zeros == round(amount * n)


@FAST
@given(amount=st.floats(0.0, 0.99), granularity=st.sampled_from(P.GRANULARITIES))
def test_global_scope_exact_units(amount: float, granularity: str) -> None:
    out = run(P.MagnitudePrune(amount=amount, scope="global", granularity=granularity), model("lenet5"))
    units = [core.unit_view(m.weight, granularity) for _, m in core.prunable_layers(out)]
    total = sum(u.shape[0] for u in units)
    assert sum(int((u == 0).all(dim=1).sum()) for u in units) == round(amount * total)


def test_magnitude_removes_the_smallest() -> None:
    m = model("lenet-300-100")
    w = m.fc2.weight.detach().abs().flatten()
    out = run(P.MagnitudePrune(amount=0.6), m)
    kept = out.fc2.weight.detach().flatten() != 0
    assert w[~kept].max() <= w[kept].min()


def test_ties_are_broken_by_position() -> None:
    m = model("lenet-300-100")
    with torch.no_grad():
        m.fc2.weight.fill_(1.0)
    out = run(P.MagnitudePrune(amount=0.25), m)
    flat = out.fc2.weight.detach().flatten()
    k = round(0.25 * flat.numel())
    assert torch.all(flat[:k] == 0) and torch.all(flat[k:] != 0)


def test_excluded_layers_stay_dense_and_masks_are_permanent() -> None:
    out = run(P.MagnitudePrune(amount=0.9, exclude=("features.0",)), model("lenet5"))
    assert int((out.features[0].weight == 0).sum()) == 0
    assert type(out.classifier[1].weight) is nn.Parameter  # prune.remove folded the mask in
    assert not any(n.endswith("_orig") or n.endswith("_mask") for n in out.state_dict())


def test_layer_amounts_override() -> None:
    cfg = P.MagnitudePrune(amount=0.5, layer_amounts=(("classifier.1", 0.9), ("features.0", 0.0)))
    out = run(cfg, model("lenet5"))
    rows = {r["layer"]: r["sparsity"] for r in P.layer_sparsity(out)}
    assert rows["features.0"] == 0.0
    assert rows["classifier.1"] == pytest.approx(0.9, abs=1e-3)
    assert rows["features.3"] == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("schedule", ["iterative", "gradual"])
def test_schedules_reach_the_target_and_keep_zeros_while_finetuning(schedule: str) -> None:
    cfg = P.MagnitudePrune(amount=0.8, schedule=schedule, steps=3, finetune_epochs=1)
    out = run(cfg, model("lenet-300-100"))
    for row in P.layer_sparsity(out):
        assert row["zeros"] == round(0.8 * int(row["weights"]))


def test_schedule_amounts() -> None:
    assert core.schedule_amounts(0.9, "one-shot", 5) == [0.9]
    assert core.schedule_amounts(0.9, "iterative", 3) == pytest.approx([0.3, 0.6, 0.9])
    cubic = core.schedule_amounts(0.9, "gradual", 4)
    assert cubic[-1] == pytest.approx(0.9)
    steps = [b - a for a, b in zip([0.0, *cubic], cubic, strict=False)]
    assert steps == sorted(steps, reverse=True)  # prunes fastest first


def test_finetuning_recovers_accuracy_and_adam_selectable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    ds = digits()
    base = train.get_baseline(train.default_config("digits", "lenet-300-100"))
    pruned = run(P.MagnitudePrune(amount=0.95), base)
    tuned = run(P.MagnitudePrune(amount=0.95, finetune_epochs=3, optimizer="adam", lr=1e-3), base)
    acc = [metrics.evaluate(m, ds.x_val, ds.y_val)[0] for m in (pruned, tuned)]
    assert acc[1] > acc[0]
    assert P.sparsity(tuned) == pytest.approx(0.95, abs=1e-4)


# ---------------------------------------------------------------- input untouched


@pytest.mark.parametrize(
    "config",
    [
        P.MagnitudePrune(amount=0.7, scope="global"),
        P.RandomPrune(amount=0.5, granularity="kernel"),
        P.MagnitudePrune(amount=0.5, finetune_epochs=1, schedule="iterative", steps=2),
        P.StructuredPrune(amount=0.5),
        P.ActivationPrune(amount=0.5, scope="global"),
        P.NetworkSlimming(amount=0.4, sparsity_epochs=1, finetune_epochs=1),
    ],
    ids=lambda c: c.technique,
)
def test_input_model_untouched(config: object) -> None:
    m = model("bn-cnn")
    before = state_copy(m)
    out = run(config, m)
    assert same_state(before, state_copy(m))
    assert out is not m


# ---------------------------------------------------------------- structured


@pytest.mark.parametrize("name", CONV_ZOO)
def test_structured_shrinks_every_conv_zoo_model(name: str) -> None:
    m = model(name)
    out = run(P.StructuredPrune(amount=0.5), m)
    n0 = sum(p.numel() for p in m.parameters())
    n1 = sum(p.numel() for p in out.parameters())
    assert n1 < 0.6 * n0
    shrunk = [k for k, v in out.state_dict().items() if v.shape != m.state_dict()[k].shape]
    assert shrunk
    y = out(digits().x_val[:3])
    assert y.shape == (3, digits().num_classes)
    assert out.state_dict()[f"{core.classifier_name(out)}.weight"].shape[0] == digits().num_classes


def test_structured_prunes_mlp_neurons() -> None:
    out = run(P.StructuredPrune(amount=0.3, norm="l2"), model("lenet-300-100"))
    assert (out.fc1.out_features, out.fc2.out_features, out.fc3.out_features) == (210, 70, 10)


@FAST
@given(amount=st.floats(0.0, 0.99), scope=st.sampled_from(P.SCOPES), norm=st.sampled_from(structured.NORMS))
def test_structured_exact_channel_counts(amount: float, scope: str, norm: str) -> None:
    m = model("bn-cnn")
    before = structured.channel_counts(m)
    out = run(P.StructuredPrune(amount=amount, scope=scope, norm=norm), m)
    after = structured.channel_counts(out)
    convs = [n for n in before if n != core.classifier_name(m)]
    if scope == "layer":
        for n in convs:
            assert after[n] == before[n] - min(round(amount * before[n]), before[n] - 1)
    else:
        total = sum(before[n] for n in convs)
        removed = sum(before[n] - after[n] for n in convs)
        assert removed == min(round(amount * total), total - len(convs))
    assert all(after[n] >= 1 for n in convs)


@FAST
@given(amount=st.floats(0.0, 0.99), scope=st.sampled_from(P.SCOPES), slimming=st.booleans())
def test_activation_and_slimming_exact_channel_counts(amount: float, scope: str, slimming: bool) -> None:
    name = "bn-cnn" if slimming else "lenet-300-100"
    m = model(name)
    cfg = (
        P.NetworkSlimming(amount=amount, scope=scope, sparsity_epochs=0)
        if slimming
        else P.ActivationPrune(amount=amount, scope=scope, calibration=64)
    )
    before = structured.channel_counts(m)
    after = structured.channel_counts(run(cfg, m))
    layers = [n for n in before if n != core.classifier_name(m)]
    removed = {n: before[n] - after[n] for n in layers}
    if scope == "layer":
        assert removed == {n: min(round(amount * before[n]), before[n] - 1) for n in layers}
    else:
        total = sum(before[n] for n in layers)
        assert sum(removed.values()) == min(round(amount * total), total - len(layers))


def test_l1_filter_removes_smallest_norm_filters() -> None:
    m = model("lenet5")
    norms = m.features[0].weight.detach().abs().sum(dim=(1, 2, 3))
    keep_expected = torch.sort(norms, stable=True).indices[3:].sort().values
    out = run(P.StructuredPrune(amount=0.5, norm="l1"), m)
    assert torch.equal(out.features[0].weight.detach(), m.features[0].weight.detach()[keep_expected])


def test_activation_prune_removes_dead_neurons_first() -> None:
    m = model("lenet-300-100")
    with torch.no_grad():  # ten neurons that never fire: their ReLU output is always 0
        m.fc1.weight[:10] = 0.0
        m.fc1.bias[:10] = -5.0
    out = run(P.ActivationPrune(amount=10 / 300), m)
    assert out.fc1.out_features == 290
    assert torch.equal(out.fc1.weight.detach(), m.fc1.weight.detach()[10:])


def test_network_slimming_shrinks_bn_scales_and_refuses_without_bn() -> None:
    ds = digits()
    base = model("bn-cnn")
    cfg = P.NetworkSlimming(amount=0.5, l1=1e-2, sparsity_epochs=2, finetune_epochs=0)
    out = run(cfg, base)
    n0 = sum(p.numel() for p in base.parameters())
    assert sum(p.numel() for p in out.parameters()) < n0
    assert out(ds.x_val[:2]).shape == (2, ds.num_classes)
    with pytest.raises(ValueError, match="BatchNorm"):
        run(cfg, model("lenet5"))


def test_iterative_structured_reaches_the_target() -> None:
    m = model("bn-cnn")
    cfg = P.StructuredPrune(amount=0.5, schedule="gradual", steps=3, finetune_epochs=1)
    out = run(cfg, m)
    before, after = structured.channel_counts(m), structured.channel_counts(out)
    for n in before:
        if n != core.classifier_name(m):
            assert after[n] == before[n] - round(0.5 * before[n])


def test_cancel_stops_a_finetuning_run() -> None:
    cfg = P.MagnitudePrune(amount=0.5, finetune_epochs=5)
    with pytest.raises(train.Cancelled):
        techniques.REGISTRY[cfg.technique].apply(model("lenet5"), cfg, digits(), should_stop=lambda: True)


def test_bad_config_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="granularity"):
        run(P.MagnitudePrune(granularity="block"), model("lenet5"))
    with pytest.raises(ValueError, match="amount"):
        run(P.StructuredPrune(amount=1.5), model("lenet5"))


def test_configs_round_trip_through_json() -> None:
    cfg = P.MagnitudePrune(amount=0.9, exclude=("features.0",), layer_amounts=(("classifier.1", 0.95),))
    d = techniques.to_dict(cfg)
    assert d["technique"] == "magnitude-prune"
    import json

    assert techniques.from_dict(json.loads(json.dumps(d))) == cfg
    s = P.NetworkSlimming(amount=0.3)
    assert techniques.from_dict(techniques.to_dict(s)) == s


# ---------------------------------------------------------------- artifact


@pytest.mark.parametrize("name", ["lenet5", "bn-cnn", "small-resnet", "mobilenet-small"])
@pytest.mark.parametrize("method", ["structured", "magnitude"])
def test_artifact_round_trip_identical_accuracy(name: str, method: str, tmp_path: Path) -> None:
    ds = digits()
    cfg = P.StructuredPrune(amount=0.5) if method == "structured" else P.MagnitudePrune(amount=0.8)
    out = run(cfg, model(name))
    meta = {"model": name, "input_shape": list(ds.input_shape), "num_classes": ds.num_classes, "width": 1.0}
    path = tmp_path / "m.cla"
    artifact.save(out, path, meta)
    back = artifact.load(path)
    for k, v in out.state_dict().items():
        assert torch.equal(back.state_dict()[k], v), k
    assert metrics.evaluate(back, ds.x_test, ds.y_test) == metrics.evaluate(out, ds.x_test, ds.y_test)
    if method == "structured":  # a genuinely smaller dense model
        assert path.stat().st_size < 0.6 * metrics.dense_bytes(model(name))


def test_unstructured_artifact_shrinks_with_sparsity() -> None:
    m = model("lenet-300-100")
    sizes = [metrics.artifact_bytes(run(P.MagnitudePrune(amount=a), m)) for a in (0.0, 0.6, 0.9)]
    assert sizes[0] > sizes[1] > sizes[2]
    assert sizes[2] < 0.3 * sizes[0]


# ---------------------------------------------------------------- sensitivity


def test_sensitivity_scan_shape_progress_and_rates() -> None:
    m = model("lenet5")
    before = state_copy(m)
    seen: list[float] = []
    amounts = (0.0, 0.5, 0.9)
    result = P.scan(m, digits(), amounts, progress=lambda f, _msg: seen.append(f))
    names = P.layer_names(m)
    assert result.layers == tuple(names)
    assert len(result.accuracy) == len(names) and all(len(r) == len(amounts) for r in result.accuracy)
    assert len(result.rows()) == len(names) * len(amounts)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert all(r[0] == pytest.approx(result.baseline) for r in result.accuracy)  # 0% pruned = baseline
    assert same_state(before, state_copy(m))
    rates = P.rates_for_drop(result, 1.0)
    assert rates == dict.fromkeys(names, 0.9)  # tolerate anything: the largest amount everywhere
    strict = P.rates_for_drop(result, -1.0)
    assert set(strict.values()) == {0.0}


def test_rates_for_drop_stops_at_first_violation() -> None:
    scan = P.SensitivityScan(("a", "b"), (0.2, 0.5, 0.8), ((0.9, 0.89, 0.5), (0.7, 0.9, 0.9)), 0.9, "weight")
    assert P.rates_for_drop(scan, 0.02) == {"a": 0.5, "b": 0.0}


def test_config_dataclasses_are_frozen() -> None:
    cfg = P.MagnitudePrune()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.amount = 0.1  # type: ignore[misc]


# ---------------------------------------------------------------- charts and method curves


def test_chart_data_and_figures() -> None:
    from compression.charts import pruning as charts

    ds = digits()
    base = model("lenet5")
    out = run(P.MagnitudePrune(amount=0.7), base)
    hist = charts.histogram_data(base, out)
    assert hist["zeros_before"] == 0 and hist["zeros_after"] == sum(
        int(r["zeros"]) for r in P.layer_sparsity(out)
    )
    assert int(hist["after"].sum()) == hist["n_after"] == hist["n_before"]
    middle = len(hist["centers"]) // 2  # odd bin count: zero sits in the middle bin
    assert hist["after"][middle] >= hist["zeros_after"] > hist["before"][middle]
    fig = charts.plot_weight_histogram(hist)
    assert fig.layout.yaxis.type == "log" and len(fig.data) == 2

    mat = charts.matrix_data(base, out, "classifier.1")
    assert mat["dense"].shape == mat["pruned"].shape
    assert mat["dense"].shape[0] <= charts.MATRIX_MAX[0] and mat["dense"].shape[1] <= charts.MATRIX_MAX[1]
    assert (mat["pruned"] == 0).mean() > 0.5 and (mat["dense"] == 0).mean() == 0
    assert len(charts.plot_weight_matrix(mat).data) == 2

    removed = run(P.StructuredPrune(amount=0.5), base)
    bars = charts.plot_layer_sparsity(charts.sparsity_data(removed), charts.sparsity_data(base))
    assert [t.name for t in bars.data] == ["zeros (masked)", "removed (structured)"]
    shrunk = charts.matrix_data(base, removed, "classifier.1")
    assert shrunk["pruned"].shape[0] < shrunk["dense"].shape[0]
    fig = charts.plot_weight_matrix(shrunk)  # both panels on the dense scale: the pruned one looks smaller
    assert (
        tuple(fig.layout.yaxis2.range)
        == tuple(fig.layout.yaxis.range)
        == (shrunk["dense"].shape[0] - 0.5, -0.5)
    )

    mb = metrics.measure(base, ds, latency=False)
    mp = metrics.measure(removed, ds, latency=False)
    panel = charts.size_latency_data(mb, mp)
    assert panel["size"]["file"][1] < panel["size"]["file"][0]
    assert panel["macs"][1] < panel["macs"][0]
    preview = charts.plot_size_latency(panel)
    assert len(preview.data) == 3
    assert panel["latency"] == {}  # not timed: no latency bars, and the panel's title says so
    assert preview.layout.annotations[1].text == "pruned / dense (latency not timed)"
    timed = charts.size_latency_data(mb, metrics.measure(removed, ds, baseline=base, min_run_time=0.05))
    dense, shrunk_dense = timed["size"]["dense fp32"]  # measured against the original, as the page does
    assert shrunk_dense < dense  # channels removed: its own dense file is smaller (it read the original's)
    assert list(timed["latency"]) == ["batch 1", "batch 256"]
    assert all(lo <= rel <= hi for rel, lo, hi in timed["latency"].values())  # 1 / speed-up inside its IQR
    bars = charts.plot_size_latency(timed).data[-1]
    assert list(bars.x)[-2:] == ["latency batch 1 (paired)", "latency batch 256 (paired)"]
    assert bars.error_y.array is not None
    assert charts.plot_size_latency(timed).layout.annotations[1].text.endswith("(latency: IQR whiskers)")

    scan = P.SensitivityScan(("a", "b"), (0.5, 0.9), ((0.9, 0.5), (0.95, 0.9)), 0.95, "weight")
    heat = charts.plot_sensitivity_heatmap(scan.rows(), scan.baseline)
    assert heat.data[0].z.shape == (2, 2) and heat.data[0].z[0][1] == pytest.approx(45.0)
    assert len(charts.plot_sensitivity_curves(scan.rows(), scan.baseline).data) == 2


def test_accuracy_curves_compare_methods() -> None:
    base = train.clone(train.load_baseline(train.default_config("digits", "lenet5")) or model("lenet5"))
    rows = P.accuracy_curves(base, digits(), amounts=(0.0, 0.9), max_images=300)
    assert {r["method"] for r in rows} == {m[0] for m in P.methods.CURVE_METHODS}
    assert len(rows) == 2 * len(P.methods.CURVE_METHODS)
    at0 = {r["top1"] for r in rows if r["amount"] == 0.0}
    assert len(at0) == 1  # nothing pruned: every method equals the baseline
    sparsity = {r["method"]: r["sparsity"] for r in rows if r["amount"] == 0.9}
    assert sparsity["magnitude, global"] == pytest.approx(0.9, abs=1e-3)
    assert 0.5 < sparsity["L1 filter (removed)"] < 1.0
    from compression.charts import pruning as charts

    assert len(charts.plot_accuracy_curves(rows, 0.9, (0.5, 0.8)).data) == len(P.methods.CURVE_METHODS) + 1


def test_make_config_covers_every_method() -> None:
    for key, method in P.METHODS.items():
        cfg = P.make_config(key, 0.3, finetune_epochs=0)
        assert cfg.family == "pruning" and cfg.amount == 0.3
        assert P.needs_training(cfg) == (key == "slimming")
        assert isinstance(cfg, P.structured.StructuredBase) == method.removes
    with pytest.raises(ValueError, match="Unknown pruning method"):
        P.make_config("magic", 0.5)
