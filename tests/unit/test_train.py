"""Training loops and the baseline cache, on the embedded digits data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from compression import data, metrics, models, train


@pytest.fixture(autouse=True)
def _tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


def _other_value(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value * 0.5 + 0.125
    if value == "adam":
        return "sgd"
    if value == "cosine":
        return "constant"
    if value == "digits":
        return "fashion-mnist"
    return "lenet-300-100" if value != "lenet-300-100" else "lenet5"


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(train.TrainConfig)])
def test_config_key_changes_when_any_field_changes(field: str) -> None:
    cfg = train.default_config("digits", "lenet5")
    changed = dataclasses.replace(cfg, **{field: _other_value(getattr(cfg, field))})
    assert changed != cfg
    assert changed.key() != cfg.key()
    assert changed.filename() != cfg.filename()
    assert dataclasses.replace(cfg).key() == cfg.key()  # and it is stable


def test_fit_on_digits_improves_accuracy(digits: data.Dataset) -> None:
    model = models.build("lenet-300-100", digits.input_shape, digits.num_classes)
    before, _, _ = metrics.evaluate(model, digits.x_val, digits.y_val)
    calls: list[tuple[float, str]] = []
    steps: list[int] = []
    out = train.fit(
        model,
        digits,
        epochs=3,
        optimizer="adam",
        lr=1e-3,
        batch_size=64,
        progress=lambda f, msg: calls.append((f, msg)),
        after_step=lambda m: steps.append(1),
        progress_span=(0.2, 0.6),
    )
    assert out is model and not model.training
    after, _, _ = metrics.evaluate(model, digits.x_val, digits.y_val)
    assert before < 0.3
    assert after > 0.85
    per_epoch = -(-len(digits.x_train) // 64)
    assert len(steps) == 3 * per_epoch  # after_step runs after every optimiser step
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions)
    assert fractions[0] >= 0.2 and fractions[-1] == pytest.approx(0.6)
    assert "epoch 3/3" in calls[-1][1]


def test_loss_hook_replaces_cross_entropy(digits: data.Dataset) -> None:
    model = models.build("lenet-300-100", digits.input_shape, digits.num_classes)
    seen: list[float] = []

    def hook(m: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        loss = torch.nn.functional.cross_entropy(logits, y) + 0.0 * sum(p.abs().sum() for p in m.parameters())
        seen.append(float(loss.detach()))
        return loss

    train.fit(model, digits, epochs=1, optimizer="adam", lr=1e-3, loss_hook=hook)
    assert len(seen) == -(-len(digits.x_train) // 128)


def test_cancel_raises_cancelled(digits: data.Dataset) -> None:
    model = models.build("lenet-300-100", digits.input_shape, digits.num_classes)
    checks = {"n": 0}

    def stop() -> bool:
        checks["n"] += 1
        return checks["n"] > 3

    with pytest.raises(train.Cancelled):
        train.fit(model, digits, epochs=50, should_stop=stop)
    assert checks["n"] == 4  # stopped at the first check that said so, not at the end
    assert not model.training


def test_unknown_optimizer(digits: data.Dataset) -> None:
    model = models.build("lenet-300-100", digits.input_shape, digits.num_classes)
    with pytest.raises(ValueError, match="sgd or adam"):
        train.fit(model, digits, epochs=1, optimizer="lbfgs")


def test_baseline_cache_round_trip(tmp_path: Path) -> None:
    cfg = train.TrainConfig(dataset="digits", model="lenet-300-100", epochs=1, seed=4242)
    assert train.baseline_path(cfg) is None
    assert train.load_baseline(cfg) is None
    messages: list[str] = []
    trained = train.get_baseline(cfg, progress=lambda f, m: messages.append(m))
    path = train.baseline_path(cfg)
    assert path is not None and path.is_relative_to(tmp_path / "cache")
    assert path.name == f"{cfg.filename()}.safetensors"
    loaded = train.load_baseline(cfg)
    assert loaded is not None
    assert train.weights_hash(loaded) == train.weights_hash(trained)
    messages.clear()
    again = train.get_baseline(cfg, progress=lambda f, m: messages.append(m))
    assert messages == ["loaded from cache"]  # no second training
    assert train.weights_hash(again) == train.weights_hash(trained)


def test_training_is_reproducible() -> None:
    cfg = train.TrainConfig(dataset="digits", model="lenet-300-100", epochs=1, seed=7)
    a = train.train_baseline(cfg)
    b = train.train_baseline(cfg)
    c = train.train_baseline(dataclasses.replace(cfg, seed=8))
    assert train.weights_hash(a) == train.weights_hash(b)
    assert train.weights_hash(a) != train.weights_hash(c)


def test_weights_hash_and_clone() -> None:
    model = models.build("lenet5", (1, 8, 8), 10)
    h = train.weights_hash(model)
    twin = train.clone(model)
    assert twin is not model and train.weights_hash(twin) == h
    with torch.no_grad():
        twin.classifier[1].weight[0, 0] += 1.0
    assert train.weights_hash(twin) != h
    assert train.weights_hash(model) == h  # the original is untouched


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), 0.0, -1e-3, 10.0])
def test_a_learning_rate_that_wrecks_or_freezes_the_weights_is_refused_by_every_config(lr: float) -> None:
    """`--lr nan` fine-tuned a pruned model to chance (8 %) and the run could be recorded."""
    from compression.distillation import DistillConfig
    from compression.lowrank import LowRank
    from compression.pruning import MagnitudePrune, StructuredPrune
    from compression.search.darts import DartsConfig

    with pytest.raises(ValueError, match="learning rate"):
        train.default_config("digits", "lenet5").__class__(dataset="digits", model="lenet5", lr=lr)
    for make in (
        lambda: MagnitudePrune(amount=0.5, finetune_epochs=1, lr=lr).validate(),
        lambda: StructuredPrune(amount=0.5, finetune_epochs=1, lr=lr).validate(),
        lambda: LowRank(lr=lr),
        lambda: DistillConfig(lr=lr).validate(),
        lambda: DartsConfig(lr=lr).validate(),
        lambda: DartsConfig(arch_lr=lr).validate(),
    ):
        with pytest.raises(ValueError, match="learning rate"):
            make()


@pytest.mark.parametrize("width", [float("inf"), float("nan"), 1e9, 0.0])
def test_an_absurd_width_is_refused_before_building(width: float) -> None:
    with pytest.raises(ValueError, match="width"):
        train.TrainConfig(dataset="digits", model="lenet5", width=width)


def test_a_result_with_nan_weights_is_refused_not_measured(digits: data.Dataset) -> None:
    from compression import techniques
    from compression.distillation.recovery import KDRecovery
    from compression.pruning import MagnitudePrune

    model = models.build("lenet5", digits.input_shape, digits.num_classes)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")  # as a diverged fine-tuning leaves it
    with pytest.raises(ValueError, match="NaN or infinite"):
        techniques.apply(model, MagnitudePrune(amount=0.0), digits)
    for temperature, alpha in [(0.0, 0.7), (4.0, float("nan")), (4.0, 5.0)]:
        with pytest.raises(ValueError, match="KD"):
            KDRecovery.wrap(MagnitudePrune(amount=0.5), temperature, alpha)
