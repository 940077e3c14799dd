"""Mixed precision against uniform quantization, and k-means against scikit-learn (issue 10, part 4).

Real models and data: the shipped LeNet-300-100 digits baseline (assets/baselines).
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from torch import nn

from compression import data, metrics, techniques, train
from compression.quantization import analysis, core, schemes


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


@pytest.fixture(scope="module")
def lenet(digits: data.Dataset) -> nn.Module:
    m = train.load_baseline(train.default_config("digits", "lenet-300-100"))
    assert m is not None, "the shipped digits LeNet-300-100 baseline is missing from assets/baselines"
    return m


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return metrics.predict(model, x) == y


# ---------------------------------------------------------------- mixed precision


@pytest.mark.parametrize("budget", [2, 3, 4])
def test_mixed_precision_is_never_below_uniform_and_spends_its_budget(
    lenet: nn.Module, digits: data.Dataset, budget: int
) -> None:
    cfg = schemes.MixedPrecision(avg_bits=float(budget))
    chosen = dict(analysis.allocate_bits(lenet, digits, cfg))
    params = analysis.layer_params(lenet)
    assert set(chosen) == set(params) and set(chosen.values()) <= set(cfg.candidate_bits)
    achieved = analysis.mean_bits(chosen, params)
    assert achieved <= budget + 1e-12

    mixed = techniques.apply(lenet, cfg, digits)
    assert mixed._cla_layer_bits == chosen  # the map is recorded on the model for the page's chart
    uniform = techniques.apply(lenet, schemes.LinearQuant(bits=budget, granularity="per-channel"), digits)
    xv, yv = digits.x_val[: analysis.VAL_SUBSET], digits.y_val[: analysis.VAL_SUBSET]
    val_uniform = metrics.evaluate(uniform, xv, yv)[0]
    assert metrics.evaluate(mixed, xv, yv)[0] >= val_uniform  # chosen on validation: never below uniform

    # On test the map was not chosen, so equality is not owed; a paired (McNemar) bound is: the
    # mixed model may not lose more than two standard errors of the paired difference.
    cm = _correct(mixed, digits.x_test, digits.y_test)
    cu = _correct(uniform, digits.x_test, digits.y_test)
    discordant = int((cm != cu).sum())
    assert int(cm.sum()) - int(cu.sum()) >= -2 * math.sqrt(discordant)

    # Spends the budget: every wider width of any one layer that would still fit scores below uniform.
    total_budget = budget * sum(params.values())
    for name, b in itertools.product(params, cfg.candidate_bits):
        raised = {**chosen, name: b}
        if b <= chosen[name] or sum(params[n] * raised[n] for n in params) > total_budget:
            continue
        q = techniques.apply(lenet, schemes.MixedPrecision(layer_bits=tuple(raised.items())), digits)
        assert metrics.evaluate(q, xv, yv)[0] < val_uniform, f"{name} could rise to {b} bits within budget"


def test_learned_widths_beat_uniform_at_two_bits(lenet: nn.Module, digits: data.Dataset) -> None:
    """HAQ's anchor: at 2 bits some layer is worth more bits than another, so a map beats uniform."""
    mixed = techniques.apply(lenet, schemes.MixedPrecision(avg_bits=2.0), digits)
    uniform = techniques.apply(lenet, schemes.LinearQuant(bits=2), digits)
    assert len(set(mixed._cla_layer_bits.values())) > 1
    gain = (
        metrics.evaluate(mixed, digits.x_test, digits.y_test)[0]
        - metrics.evaluate(uniform, digits.x_test, digits.y_test)[0]
    )
    assert gain >= 0.05


def test_budget_below_every_candidate_width_is_refused(lenet: nn.Module, digits: data.Dataset) -> None:
    with pytest.raises(ValueError, match="below the narrowest"):
        analysis.allocate_bits(lenet, digits, schemes.MixedPrecision(avg_bits=1.5, candidate_bits=(2, 4)))


def test_cli_prints_the_bits_it_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from compression.cli import main

    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    args = [
        "quantize",
        "--dataset",
        "digits",
        "--model",
        "lenet-300-100",
        "--scheme",
        "mixed",
        "--avg-bits",
        "2",
    ]
    assert main([*args, "--json", "--no-latency"]) == 0
    out = json.loads(capsys.readouterr().out)
    chosen = out["layer_bits"]
    assert set(chosen) == {"fc1", "fc2", "fc3"}
    assert analysis.mean_bits(chosen, {"fc1": 64 * 300, "fc2": 300 * 100, "fc3": 100 * 10}) <= 2.0
    assert main([*args[:-1], "0", "--no-latency"]) == 2  # below every width: one line, no traceback
    assert "below the narrowest candidate width" in capsys.readouterr().err


# ---------------------------------------------------------------- k-means


def _sklearn_best_of_10(x: np.ndarray, k: int) -> float:
    km = KMeans(n_clusters=k, init="k-means++", n_init=10, random_state=0).fit(x.reshape(-1, 1))
    return core.cluster_sse(np.sort(x), km.cluster_centers_.ravel())


@pytest.mark.parametrize("layer", ["fc1", "fc2", "fc3"])
def test_kmeans_sse_within_5_percent_of_sklearn_best_of_10_at_4_bits(lenet: nn.Module, layer: str) -> None:
    w = dict(lenet.named_modules())[layer].weight.detach()
    x = w.double().flatten().numpy()
    ref = _sklearn_best_of_10(x, 16)
    codebook = core.kmeans_codebook(w, 4, "optimal")
    assert codebook.numel() <= 16
    sse = core.cluster_sse(np.sort(x), codebook.double().numpy())
    assert sse <= 1.05 * ref
    for init in ("linear", "density", "random"):  # the exact optimum is at least as good as any Lloyd fit
        lloyd = core.cluster_sse(np.sort(x), core.kmeans_codebook(w, 4, init).double().numpy())
        assert sse <= lloyd * (1 + 1e-6)


def test_kmeans_is_fitted_on_every_weight(lenet: nn.Module) -> None:
    """Lloyd's fixed point on all weights: every centroid is the mean of the weights nearest to it."""
    w = lenet.fc1.weight.detach()  # 19,200 weights: the old fit used a 10,000-weight sample
    for init in core.KMEANS_INITS:
        q = core.quantize_kmeans(w, 4, init)
        assert q.codebook is not None
        flat, codes = w.double().flatten(), q.codes.flatten()
        for j in torch.unique(codes).tolist():
            assert math.isclose(
                float(flat[codes == j].mean()), float(q.codebook[j]), rel_tol=1e-5, abs_tol=1e-7
            )


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=4, max_size=11),
    k=st.integers(2, 3),
)
def test_exact_kmeans_matches_brute_force(values: list[float], k: int) -> None:
    xs = np.sort(np.asarray(values, dtype=np.float64))
    k = min(k, np.unique(xs).size)
    if k < 2:
        return
    centers = core.kmeans_1d_optimal(xs, k)
    brute = min(
        sum(
            float(((xs[a:b] - xs[a:b].mean()) ** 2).sum()) for a, b in itertools.pairwise((0, *cuts, xs.size))
        )
        for cuts in itertools.combinations(range(1, xs.size), k - 1)
    )
    assert core.cluster_sse(xs, centers) <= brute + 1e-9 * (1 + brute)
