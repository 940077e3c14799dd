"""Quantization engine: laws of each quantizer (hypothesis), exact storage, every scheme on every model."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

from compression import artifact, data, metrics, models, techniques, train
from compression.quantization import analysis, catalog, core, int8, model_ops, qat, schemes, storage

warnings.filterwarnings("ignore", category=DeprecationWarning)

SMALL_ZOO = ["lenet-300-100", "lenet5", "bn-cnn", "small-resnet", "mobilenet-small"]
FAST_SCHEMES = [s for s in catalog.SCHEMES if s != "mixed"]

finite = st.floats(-10, 10, allow_nan=False, allow_infinity=False, width=32)
matrices = arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(2, 40)), elements=finite)


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


@pytest.fixture(scope="module")
def lenet5(digits: data.Dataset) -> nn.Module:
    """A briefly trained LeNet-5 (accuracy well above chance, so quantization has something to lose)."""
    m = train.load_baseline(train.default_config("digits", "lenet5"))  # shipped in assets/
    if m is None:
        m = models.build("lenet5", digits.input_shape, digits.num_classes)
        train.fit(m, digits, epochs=3, optimizer="adam", lr=2e-3)
    m._cla_meta = {"model": "lenet5", "input_shape": list(digits.input_shape), "num_classes": 10}
    return m


# ---------------------------------------------------------------- laws of the quantizers


@settings(max_examples=60, deadline=None)
@given(w=matrices, bits=st.sampled_from([1, 2, 3, 4, 8, 16]), sym=st.booleans(), per_ch=st.booleans())
def test_linear_has_at_most_2_pow_bits_levels_per_grid(
    w: np.ndarray, bits: int, sym: bool, per_ch: bool
) -> None:
    t = torch.from_numpy(w)
    q = core.quantize_linear(t, bits, sym, per_ch)
    rows = q.values.reshape(t.shape[0], -1) if per_ch else q.values.reshape(1, -1)
    for row in rows:
        assert torch.unique(row).numel() <= 2**bits
    assert int(q.codes.min()) >= 0 and int(q.codes.max()) <= q.qmax < 2**bits


@settings(max_examples=60, deadline=None)
@given(w=matrices, bits=st.integers(2, 8), sym=st.booleans(), per_ch=st.booleans())
def test_linear_error_within_half_a_step_inside_the_clipping_range(
    w: np.ndarray, bits: int, sym: bool, per_ch: bool
) -> None:
    t = torch.from_numpy(w)
    q = core.quantize_linear(t, bits, sym, per_ch, method="minmax")  # min-max: every weight is inside
    assert q.scale is not None
    err = (q.values - t).abs()
    step = q.scale.expand_as(t)
    assert bool((err <= step / 2 + 1e-5 * (1 + t.abs())).all())


@settings(max_examples=40, deadline=None)
@given(w=matrices, bits=st.integers(2, 8), sym=st.booleans(), method=st.sampled_from(core.RANGE_METHODS))
def test_zero_is_exactly_representable(w: np.ndarray, bits: int, sym: bool, method: str) -> None:
    t = torch.from_numpy(w)
    t[0, 0] = 0.0
    q = core.quantize_linear(t, bits, sym, per_channel=True, method=method)
    assert float(q.values[0, 0]) == 0.0


@settings(max_examples=15, deadline=None)
@given(w=arrays(np.float32, st.integers(5, 300), elements=finite), bits=st.integers(1, 4))
def test_kmeans_codebook_size_and_membership(w: np.ndarray, bits: int) -> None:
    t = torch.from_numpy(w)
    for init in core.KMEANS_INITS:
        q = core.quantize_kmeans(t, bits, init)
        assert q.codebook is not None and q.codebook.numel() <= 2**bits
        assert torch.isin(q.values, q.codebook).all()
        assert torch.unique(q.values).numel() <= 2**bits


def test_kmeans_is_nearest_centroid_and_beats_linear_on_peaked_weights() -> None:
    t = torch.randn(4000) ** 3  # heavy-tailed: evenly spaced levels waste most of them
    km = core.quantize_kmeans(t, 3, "density")
    lin = core.quantize_linear(t, 3, symmetric=False, per_channel=False)
    assert km.codebook is not None
    nearest = km.codebook[(t[:, None] - km.codebook[None]).abs().argmin(1)]
    assert torch.equal(km.values, nearest)
    assert ((km.values - t) ** 2).mean() < ((lin.values - t) ** 2).mean()


@settings(max_examples=40, deadline=None)
@given(w=matrices)
def test_binary_and_ternary_value_sets(w: np.ndarray) -> None:
    t = torch.from_numpy(w)
    b = core.quantize_binary(t, per_channel=True)
    for row, src in zip(b.values, t, strict=True):
        alpha = src.abs().mean().clamp_min(torch.finfo(torch.float32).tiny)
        assert torch.allclose(row.abs(), alpha.expand_as(row), rtol=1e-6)
        assert bool((torch.sign(row) == torch.where(src >= 0, 1.0, -1.0)).all())
        assert torch.unique(row).numel() <= 2
    tw = core.quantize_ternary(t, per_channel=False)
    vals = torch.unique(tw.values)
    assert vals.numel() <= 3
    assert (
        torch.allclose(vals.abs().unique()[vals.abs().unique() > 0], vals.abs().max())
        or vals.abs().max() == 0
    )
    delta = 0.7 * t.abs().mean()
    assert bool((tw.values[t.abs() <= delta] == 0).all())


@settings(max_examples=40, deadline=None)
@given(w=matrices, bits=st.integers(1, 6))
def test_log_levels_are_powers_of_two(w: np.ndarray, bits: int) -> None:
    q = core.quantize_log(torch.from_numpy(w), bits)
    nz = q.values[q.values != 0].abs()
    assert torch.equal(torch.log2(nz), torch.round(torch.log2(nz)))
    assert torch.unique(q.values).numel() <= 2**bits


def test_mse_clipping_lowers_the_error_of_outlier_tensors() -> None:
    t = torch.randn(1, 5000)
    t[0, 0] = 40.0  # one outlier stretches the min-max grid
    mm = core.quantize_linear(t, 4, True, False, "minmax")
    mse = core.quantize_linear(t, 4, True, False, "mse")
    assert ((mse.values - t) ** 2).mean() < ((mm.values - t) ** 2).mean()


# ---------------------------------------------------------------- storage


def _roundtrip(model: nn.Module, tmp_path: Path) -> nn.Module:
    path = tmp_path / "q.cla"
    storage.save(model, path)
    return storage.load(path)


@pytest.mark.parametrize(
    "config",
    [
        schemes.LinearQuant(bits=8),
        schemes.LinearQuant(bits=3, symmetric=False, granularity="per-tensor", calibration="percentile"),
        schemes.LinearQuant(bits=16),
        schemes.LinearQuant(bits=4, activations=True, calibration="mse"),
        schemes.KMeansQuant(bits=2, init="random"),
        schemes.LogQuant(bits=4),
        schemes.BinaryQuant(),
        schemes.TernaryQuant(),
        schemes.XNORQuant(),
        schemes.FloatQuant("float16"),
        schemes.FloatQuant("bfloat16"),
        schemes.MixedPrecision(layer_bits=(("features.0", 8), ("classifier.1", 2))),
    ],
    ids=lambda c: techniques.to_dict(c)["technique"],
)
def test_artifact_round_trip_is_exact(
    config: object, lenet5: nn.Module, digits: data.Dataset, tmp_path: Path
) -> None:
    q = techniques.apply(lenet5, config, digits)
    back = _roundtrip(q, tmp_path)
    sq, sb = q.state_dict(), back.state_dict()
    assert sq.keys() == sb.keys()
    for k in sq:
        assert sq[k].dtype == sb[k].dtype and torch.equal(sq[k], sb[k]), k
    assert metrics.evaluate(back, digits.x_test, digits.y_test) == metrics.evaluate(
        q, digits.x_test, digits.y_test
    )


def test_per_channel_codes_are_stored_at_their_width(lenet5: nn.Module, digits: data.Dataset) -> None:
    """4-bit per-channel: the file holds ~4 bits per weight plus scales, the shared artifact ~32."""
    q = techniques.apply(lenet5, schemes.LinearQuant(bits=4), digits)
    n = sum(mod.weight.numel() for _, mod in model_ops.layers(q))
    ours = metrics.artifact_bytes(q, storage.save)
    shared = metrics.artifact_bytes(q, artifact.save)
    assert ours < n * 4 / 8 * 1.6 + 3 * 1024 + 4 * 400  # codes + biases/scales + header
    assert ours < shared / 2
    _, bits = storage.theoretical_bytes(q)
    assert bits < 6  # the quantized weights count at 4 bits, biases at 32


def test_shared_artifact_bytes_for_a_per_tensor_codebook(digits: data.Dataset) -> None:
    """compression.artifact stores k levels as a float32 codebook + ceil(log2 k)-bit codes."""
    lin = nn.Linear(300, 200, bias=False)
    q = core.quantize_linear(lin.weight.detach(), 3, symmetric=False, per_channel=False)
    with torch.no_grad():
        lin.weight.copy_(q.values)
    k = int(torch.unique(q.values).numel())
    expected = k * 4 + math.ceil(lin.weight.numel() * math.ceil(math.log2(k)) / 8)
    size = metrics.artifact_bytes(lin, artifact.save)
    assert expected <= size <= expected + 600  # + the safetensors header


# ---------------------------------------------------------------- every scheme on every model


@pytest.mark.parametrize("arch", SMALL_ZOO)
@pytest.mark.parametrize("scheme", FAST_SCHEMES)
def test_every_scheme_on_every_small_model(arch: str, scheme: str, digits: data.Dataset) -> None:
    model = models.build(arch, digits.input_shape, digits.num_classes)
    before = train.weights_hash(model)
    config = catalog.make_config(scheme, 3)
    out = techniques.apply(model, config, digits)
    assert train.weights_hash(model) == before, "the input model was mutated"
    assert out is not model
    logits = out(digits.x_test[:8])
    assert logits.shape == (8, digits.num_classes) and torch.isfinite(logits).all()
    if scheme in ("linear", "kmeans", "log", "binary", "ternary", "xnor"):
        recs = model_ops.verified_records(out)
        assert recs, "no layer was quantized"
        for name, q in recs.items():
            w = dict(out.named_modules())[name].weight
            per_row = w.reshape(w.shape[0], -1)
            assert max(torch.unique(r).numel() for r in per_row) <= 2 ** max(q.bits, 1)
    if scheme.startswith("int8"):
        assert storage.kind_of(out) == "int8"
        names = [n for n, _ in metrics.weight_tensors(out)]
        assert names and all(torch.isfinite(t).all() for _, t in metrics.weight_tensors(out))


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small"])
@pytest.mark.parametrize("scheme", ["linear", "log", "ternary"])
def test_torchvision_models_subset(arch: str, scheme: str, digits: data.Dataset) -> None:
    model = models.build(arch, digits.input_shape, digits.num_classes)
    before = train.weights_hash(model)
    out = techniques.apply(model, catalog.make_config(scheme, 4), digits)
    assert train.weights_hash(model) == before
    assert len(model_ops.verified_records(out)) == len(model_ops.layer_names(model))
    assert torch.isfinite(out.eval()(digits.x_test[:2])).all()


# ---------------------------------------------------------------- accuracy behaves


def test_accuracy_falls_with_bits(lenet5: nn.Module, digits: data.Dataset) -> None:
    rows = analysis.bit_sweep(lenet5, digits, bits_list=(1, 8), scheme_names=("linear",), n=360)
    acc = {int(r["bits"]): float(r["top1"]) for r in rows if r["scheme"] == "linear"}
    base = next(float(r["top1"]) for r in rows if r["scheme"] == "fp32")
    assert abs(acc[8] - base) <= 0.02
    assert acc[1] < acc[8]


def test_sensitivity_and_budgeted_allocation(lenet5: nn.Module, digits: data.Dataset) -> None:
    cfg = schemes.MixedPrecision(avg_bits=3.0, candidate_bits=(2, 4, 8))
    bits_map = dict(analysis.allocate_bits(lenet5, digits, cfg))
    sizes = {n: m.weight.numel() for n, m in model_ops.layers(lenet5)}
    mean = sum(sizes[n] * bits_map[n] for n in sizes) / sum(sizes.values())
    assert mean <= 3.0 and set(bits_map.values()) <= {2, 4, 8}
    out = techniques.apply(lenet5, cfg, digits)
    for name, b in bits_map.items():
        assert model_ops.records(out)[name].bits == b


def test_activation_quantization_changes_the_layer_inputs(lenet5: nn.Module, digits: data.Dataset) -> None:
    q = techniques.apply(lenet5, schemes.LinearQuant(bits=16, activations=True, act_bits=2), digits)
    seen = model_ops.calibrate_inputs(q, ["classifier.3"], digits.x_test[:64])
    hook = model_ops.act_hooks(q)["classifier.3"]
    assert torch.unique(hook.quant(seen["classifier.3"])).numel() <= 4
    assert (
        metrics.evaluate(q, digits.x_test, digits.y_test)[0]
        < metrics.evaluate(lenet5, digits.x_test, digits.y_test)[0]
    )


# ---------------------------------------------------------------- QAT


def test_kmeans_qat_trains_the_shared_centroids(lenet5: nn.Module, digits: data.Dataset) -> None:
    ptq = techniques.apply(lenet5, schemes.KMeansQuant(bits=2), digits)
    seen: list[float] = []
    out = techniques.apply(
        lenet5,
        qat.QAT(scheme="kmeans", bits=2, epochs=1, lr=1e-3),
        digits,
        progress=lambda f, m: seen.append(f),
    )
    assert seen and seen[-1] >= 0.95
    for name, q in model_ops.verified_records(out).items():
        before = model_ops.records(ptq)[name]
        assert q.codebook is not None and q.codebook.numel() <= 4
        assert torch.equal(q.codes, before.codes), "assignments stay fixed; only the centroids move"
        assert not torch.equal(q.codebook, before.codebook)


def test_linear_qat_recovers_accuracy_at_2_bits(lenet5: nn.Module, digits: data.Dataset) -> None:
    ptq = techniques.apply(lenet5, schemes.LinearQuant(bits=2), digits)
    out = techniques.apply(lenet5, qat.QAT(scheme="linear", bits=2, epochs=2, lr=1e-3), digits)
    a_ptq = metrics.evaluate(ptq, digits.x_val, digits.y_val)[0]
    a_qat = metrics.evaluate(out, digits.x_val, digits.y_val)[0]
    assert a_qat > a_ptq
    for name, q in model_ops.verified_records(out).items():
        assert q.bits == 2, name


def test_qat_can_be_cancelled(lenet5: nn.Module, digits: data.Dataset) -> None:
    with pytest.raises(train.Cancelled):
        techniques.apply(lenet5, qat.QAT(scheme="binary", epochs=2), digits, should_stop=lambda: True)


# ---------------------------------------------------------------- real INT8


@pytest.mark.parametrize("mode", int8.MODES)
def test_int8_measure_and_round_trip(mode: str, digits: data.Dataset, tmp_path: Path) -> None:
    base = models.build("bn-cnn", digits.input_shape, digits.num_classes)
    cfg = int8.Int8PTQ(mode=mode)
    q, m = catalog.run(base, digits, cfg, latency=False)
    assert storage.kind_of(q) == "int8" and not m.runs_dense
    assert m.macs == metrics.macs(base, digits.input_shape)[0]
    if mode == "static":
        assert m.size_artifact_bytes < metrics.artifact_bytes(base) / 2.5
        assert m.effective_bits < 9
    path = tmp_path / "q.pt"
    int8.save(q, path)
    back = int8.load(path, "bn-cnn", digits.input_shape, digits.num_classes, cfg)
    with torch.inference_mode():
        assert torch.equal(back(digits.x_test[:16]), q(digits.x_test[:16]))


def test_torchao_int8_is_measured_like_torch_ao_int8(
    lenet5: nn.Module, digits: data.Dataset, tmp_path: Path
) -> None:
    """torchao's Int8Tensor weights: counted as int8 codes at 8 bits, MACs from the float twin, the kept file
    rebuilds them; the same accuracy and sizes as torch.ao's dynamic INT8 (both: int8 Linear, float convs)."""
    pytest.importorskip("torchao")
    ao, m = catalog.run(lenet5, digits, int8.Int8PTQ(mode="dynamic", backend="torchao"), latency=False)
    ref, m_ref = catalog.run(lenet5, digits, int8.Int8PTQ(mode="dynamic"), latency=False)
    assert (
        metrics.int8_layers(ao)
        == metrics.int8_layers(ref)
        == {"classifier.1", "classifier.3", "classifier.5"}
    )
    assert storage.kind_of(ao) == "int8" and not m.runs_dense
    assert m.macs == m_ref.macs == metrics.macs(lenet5, digits.input_shape)[0]
    assert m.effective_bits == pytest.approx(m_ref.effective_bits)
    assert abs(m.size_theoretical_bytes - m_ref.size_theoretical_bytes) < 0.01 * m_ref.size_theoretical_bytes
    assert abs(m.top1 - m_ref.top1) <= 0.01 and m.params_total == m_ref.params_total
    path = tmp_path / "ao.pt"
    int8.save(ao, path)
    back = int8.load(path)
    with torch.inference_mode():
        assert torch.equal(back(digits.x_test[:16]), ao(digits.x_test[:16]))


# ---------------------------------------------------------------- configs


@pytest.mark.parametrize("scheme", list(catalog.SCHEMES))
def test_configs_round_trip_through_json(scheme: str) -> None:
    cfg = catalog.make_config(scheme, 4, layer_bits=(("a", 2),) if scheme in ("linear", "mixed") else ())
    assert techniques.from_dict(techniques.to_dict(cfg)) == cfg


@pytest.mark.parametrize(
    "bad",
    [
        lambda: schemes.LinearQuant(bits=0),
        lambda: schemes.LinearQuant(bits=9, granularity="per-row"),
        lambda: schemes.KMeansQuant(bits=12),
        lambda: schemes.KMeansQuant(init="kmeans++"),
        lambda: schemes.FloatQuant("float8"),
        lambda: int8.Int8PTQ(mode="static", backend="torchao"),
        lambda: qat.QAT(scheme="fp16"),
        lambda: catalog.make_config("int8-static", 8, qat_epochs=2),
    ],
)
def test_bad_configs_are_refused_clearly(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


# ---------------------------------------------------------------- prefetch cache


def test_result_cache_computes_once_and_prefetches() -> None:
    import threading
    import time

    from compression.quantization import prefetch

    calls: list[str] = []
    gate = threading.Event()

    def work(name: str, wait: bool = False) -> object:
        def fn() -> str:
            if wait:
                gate.wait(10)
            calls.append(name)
            return name.upper()

        return fn

    cache = prefetch.ResultCache(max_items=8)
    assert cache.get("a", work("a")) == "A"
    assert cache.get("a", work("a")) == "A" and calls == ["a"]
    cache.prefetch([("slow", work("slow", wait=True)), ("b", work("b")), ("a", work("a"))])
    assert cache.get("b", work("b-now")) == "B-NOW"  # queued behind "slow": computed in the caller instead
    gate.set()
    assert cache.get("slow", work("never")) == "SLOW"  # running: awaited, not recomputed
    assert calls.count("a") == 1 and "b" not in calls and "never" not in calls
    with pytest.raises(ZeroDivisionError):
        cache.get("bad", lambda: 1 / 0)
    assert not cache.cached("bad")
    cache.prefetch([("flaky", lambda: 1 / 0)])  # a prefetch that failed in the worker thread
    deadline = time.monotonic() + 30
    while cache.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cache.get("flaky", work("flaky")) == "FLAKY"  # computed again, not the worker's error served
    assert cache.cached("flaky")


def test_prefetch_worker_runs_at_the_lowest_cpu_priority() -> None:
    import os
    import threading
    import time

    from compression.quantization import prefetch

    def nice_here() -> tuple[int, int]:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id()), os.getpriority(os.PRIO_PROCESS, 0)

    cache = prefetch.ResultCache()
    cache.prefetch([("nice", nice_here)])
    deadline = time.monotonic() + 30
    while not cache.cached("nice") and time.monotonic() < deadline:  # let the worker run it, not us
        time.sleep(0.01)
    worker, _ = cache.get("nice", lambda: (-1, -1))
    assert worker == prefetch.BACKGROUND_NICE
    gate = threading.Event()
    cache.prefetch([("gated", lambda: gate.wait(10))])
    assert prefetch.pending() >= 1 and cache.pending() == 1  # the warm-up waits for this to reach 0
    threading.Timer(0.2, gate.set).start()
    from ui import warmup

    warmup.drain_prefetch(timeout_s=30)
    assert cache.pending() == 0 and cache.cached("gated")
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) < prefetch.BACKGROUND_NICE  # not us


# ---------------------------------------------------------------- CLI


def test_cli_quantize_json_and_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from compression import runs
    from compression.cli import main

    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    store = f"sqlite:///{tmp_path}/runs.db"
    monkeypatch.setenv("COMPRESSION_STORE", store)
    args = ["quantize", "--dataset", "digits", "--model", "lenet5", "--scheme", "kmeans", "--bits", "2"]
    labels = ["--tag", "review-dec", "--tag", "2-bit, kmeans", "--notes", "for <b>Tuesday</b>"]
    assert main([*args, "--json", "--no-latency", "--record", *labels]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"] == {
        "technique": "quant-kmeans",
        "bits": 2,
        "init": "linear",
        "seed": 0,
        "layer_bits": [],
    }
    assert out["kind"] == "simulated" and out["measurement"]["effective_bits"] < 4
    assert [r.technique for r in runs.open_store(store).runs()] == ["baseline", "quant-kmeans"]
    original, run = runs.open_store(store).runs()
    assert out["run_id"] == run.id and run.tags == ("review-dec", "2-bit", "kmeans")
    assert out["baseline_run_id"] == original.id
    assert run.notes == "for <b>Tuesday</b>" and original.tags == ()  # the baseline is not the meeting's
    assert main(["quantize", "--scheme", "linear", "--layer-bits", "features.0=x"]) == 2
    capsys.readouterr()
    for argv, said in [  # each was ignored or changed silently
        (["--scheme", "linear", "--layer-bits", "foo=8"], "unknown layer(s) foo"),
        (["--scheme", "kmeans", "--bits", "64"], "1..8 bits"),
        (["--scheme", "linear", "--qat-epochs", "-1"], "QAT epochs"),
    ]:
        assert main(["quantize", "--no-latency", *argv]) == 2, argv
        assert said in capsys.readouterr().err
