"""Distillation engine: loss laws, the teacher-output cache, twins, label budget, every zoo student."""

from __future__ import annotations

import dataclasses
import functools
import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from compression import data, models, techniques, train
from compression.distillation import DistillConfig, cache, explore, labelled_mask, start_settings, train_pair
from compression.distillation import losses as L

torch.set_num_threads(1)
FAST = settings(max_examples=25, deadline=None)
temps = st.floats(min_value=1.0, max_value=50.0)


@functools.cache
def digits() -> data.Dataset:
    return data.load("digits")


def tiny(n: int = 256) -> data.Dataset:
    ds = digits()
    return dataclasses.replace(
        ds, x_train=ds.x_train[:n], y_train=ds.y_train[:n], x_val=ds.x_val[:64], y_val=ds.y_val[:64]
    )


def teacher() -> nn.Module:
    ds = digits()
    return models.build("lenet5", ds.input_shape, ds.num_classes)


def logits(seed: int, n: int = 8, c: int = 10, scale: float = 3.0) -> torch.Tensor:
    return torch.randn(n, c, generator=torch.Generator().manual_seed(seed)) * scale


# ---------------------------------------------------------------- loss laws


@FAST
@given(seed=st.integers(0, 10_000), t=temps)
def test_kl_is_zero_when_student_equals_teacher(seed: int, t: float) -> None:
    z = logits(seed)
    assert abs(float(L.soft_kl(z, z.clone(), t))) < 1e-5


@FAST
@given(seed=st.integers(0, 10_000), t=temps)
def test_kl_is_positive_when_they_differ(seed: int, t: float) -> None:
    assert float(L.soft_kl(logits(seed), logits(seed + 1), t)) > 0


def _grad_norm(t: float, scaled: bool = True) -> float:
    s = logits(1, scale=1.0).requires_grad_(True)
    loss = L.soft_kl(s, logits(2, scale=1.0), t)
    (loss if scaled else loss / (t * t)).backward()
    assert s.grad is not None
    return float(s.grad.norm())


def test_t_squared_keeps_gradient_magnitude_comparable_across_t() -> None:
    scaled = [_grad_norm(t) for t in (5.0, 10.0, 20.0, 50.0)]
    assert max(scaled) / min(scaled) < 1.15  # with T^2: flat
    raw = [_grad_norm(t, scaled=False) for t in (5.0, 10.0, 20.0, 50.0)]
    assert raw[0] / raw[-1] > 50  # without T^2 the gradient shrinks like 1/T^2: the factor matters


@FAST
@given(seed=st.integers(0, 10_000))
def test_mse_and_high_t_kl_agree_in_direction(seed: int) -> None:
    """Hinton's limit: for zero-mean logits and large T the KL gradient is parallel to the MSE one."""
    s0, tz = logits(seed), logits(seed + 7)
    s0, tz = s0 - s0.mean(1, keepdim=True), tz - tz.mean(1, keepdim=True)
    g = []
    for loss_fn in (lambda s: L.soft_kl(s, tz, 100.0), lambda s: L.logit_mse(s, tz)):
        s = s0.clone().requires_grad_(True)
        loss_fn(s).backward()
        assert s.grad is not None
        g.append(s.grad.flatten())
    cos = torch.nn.functional.cosine_similarity(g[0], g[1], dim=0)
    assert float(cos) > 0.99


def test_alpha_mixes_soft_and_hard_terms() -> None:
    s, t, y = logits(3), logits(4), torch.arange(8) % 10
    soft, hard = L.soft_kl(s, t, 4.0), torch.nn.functional.cross_entropy(s, y)
    mix = L.distill_loss(s, t, y, kind="kl", temperature=4.0, alpha=0.7)
    assert torch.allclose(mix, 0.7 * soft + 0.3 * hard)
    assert torch.allclose(L.distill_loss(s, t, y, kind="kl", temperature=4.0, alpha=1.0), soft)
    assert torch.allclose(L.distill_loss(s, t, y, kind="kl", temperature=4.0, alpha=0.0), hard)
    logp = L.teacher_logp(t, 4.0)
    assert torch.allclose(L.distill_loss(s, t, y, kind="kl", temperature=4.0, alpha=0.7, log_t=logp), mix)
    mse = L.distill_loss(s, t, y, kind="mse", temperature=4.0, alpha=1.0)
    assert torch.allclose(mse, L.logit_mse(s, t))


@pytest.mark.parametrize("kind", ["kl", "mse"])
def test_training_form_has_the_reference_gradient(kind: str) -> None:
    """batch_loss (soft CE, ignore-index labels) differs from distill_loss by a constant at most."""
    t, y = logits(11), torch.arange(8) % 10
    mask = torch.tensor([True, False, False, True, False, False, False, True])
    target = t if kind == "mse" else torch.softmax(t / 3.0, dim=1)
    grads = []
    for fast in (False, True):
        s = logits(12).requires_grad_(True)
        if fast:
            y_seen = torch.where(mask, y, torch.full_like(y, L.IGNORE))
            args = {"n_labelled": mask.sum()}
            loss = L.batch_loss(s, target, y_seen, kind=kind, temperature=3.0, alpha=0.6, **args)
        else:
            loss = L.distill_loss(s, t, y, kind=kind, temperature=3.0, alpha=0.6, labelled=mask)
        loss.backward()
        assert s.grad is not None
        grads.append(s.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_hard_term_only_sees_labelled_rows() -> None:
    s, y = logits(5), torch.arange(8) % 10
    mask = torch.tensor([True, False] * 4)
    got = L.hard_ce(s, y, mask)
    assert torch.allclose(got, torch.nn.functional.cross_entropy(s[mask], y[mask]))
    none = L.hard_ce(s.requires_grad_(True), y, torch.zeros(8, dtype=torch.bool))
    assert float(none.detach()) == 0.0
    none.backward()  # a batch without labels still has a graph


def test_hint_adapter_maps_student_to_teacher_features() -> None:
    ds = digits()
    student = models.build("lenet-300-100", ds.input_shape, ds.num_classes, 0.25)
    adapter = L.hint_adapter(student, teacher())
    tap = L.FeatureTap(student)
    student(ds.x_train[:4])
    assert tap.value is not None and adapter(tap.value).shape == (4, L.last_linear(teacher()).in_features)
    tap.close()


# ---------------------------------------------------------------- teacher-output cache


def test_cache_is_keyed_by_teacher_dataset_and_split() -> None:
    cache.clear()
    ds, t1 = tiny(), teacher()
    t2 = train.clone(t1)
    with torch.no_grad():
        next(t2.parameters()).add_(0.1)
    before = cache.computed
    a = cache.teacher_outputs(t1, ds, "train")
    assert cache.teacher_outputs(t1, ds, "train") is a  # hit
    assert cache.computed == before + 1
    b = cache.teacher_outputs(t2, ds, "train")  # other weights: a new entry
    assert cache.computed == before + 2 and not torch.equal(a.logits, b.logits)
    cache.teacher_outputs(t1, ds, "val")  # other split
    cache.teacher_outputs(t1, tiny(128), "train")  # same name, other images
    cache.teacher_outputs(t1, ds, "train", features=True)  # features asked for
    assert cache.computed == before + 5
    assert cache.key(train.weights_hash(t1), ds, "train") != cache.key(train.weights_hash(t2), ds, "train")
    assert torch.allclose(a.logits, t1(ds.x_train))


def test_distilling_twice_runs_the_teacher_once() -> None:
    cache.clear()
    ds, t = tiny(), teacher()
    before = cache.computed
    for seed in (0, 1):
        train_pair(t, DistillConfig(student="lenet-300-100", epochs=1, seed=seed), ds, twin=False)
    assert cache.computed == before + 1


# ---------------------------------------------------------------- training


def test_apply_leaves_the_teacher_untouched_and_returns_a_student() -> None:
    ds, t = tiny(), teacher()
    t.train()  # even a teacher handed over in train mode stays so
    before = {k: v.clone() for k, v in t.state_dict().items()}
    cfg = DistillConfig(student="lenet-300-100", width=0.25, epochs=1, loss="hint")
    student = techniques.apply(t, cfg, ds)
    assert t.training
    assert all(torch.equal(before[k], v) for k, v in t.state_dict().items())
    assert student is not t and not student.training
    assert student.fc1.out_features == 75  # width 1/4 of 300


def test_config_round_trips_through_the_registry() -> None:
    cfg = DistillConfig(student="lenet5", width=0.5, temperature=8.0, loss="mse", labels=100)
    assert techniques.from_dict(techniques.to_dict(cfg)) == cfg
    assert techniques.REGISTRY["distill"].slow
    with pytest.raises(ValueError, match="Unknown loss"):
        DistillConfig(loss="l2").validate()


def test_twin_with_alpha_zero_is_the_same_training() -> None:
    """alpha = 0 is plain CE: same init, batches and optimizer must give the same weights."""
    r = train_pair(teacher(), DistillConfig(student="lenet-300-100", epochs=2, alpha=0.0), tiny())
    assert r.scratch is not None
    for a, b in zip(r.student.state_dict().values(), r.scratch.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    r2 = train_pair(teacher(), DistillConfig(student="lenet-300-100", epochs=2, alpha=0.9), tiny())
    assert r2.scratch is not None
    assert not torch.equal(r2.student.fc1.weight, r2.scratch.fc1.weight)
    assert [h["epoch"] for h in r2.history] == [1, 2] and "val_scratch" in r2.history[-1]


def test_jitter_shifts_the_same_batches_for_both_students() -> None:
    t = teacher()
    t.train()
    cfg = DistillConfig(student="lenet-300-100", epochs=1, alpha=0.0, jitter=1)
    r = train_pair(t, cfg, tiny())
    assert r.scratch is not None and t.training  # the caller's teacher keeps its mode
    assert torch.equal(r.student.fc1.weight, r.scratch.fc1.weight)  # alpha 0: same shifted images, same steps
    plain = train_pair(t, dataclasses.replace(cfg, jitter=0), tiny())
    assert not torch.equal(plain.student.fc1.weight, r.student.fc1.weight)
    with pytest.raises(ValueError, match="jitter"):
        DistillConfig(jitter=1, loss="hint").validate()


def test_label_budget_is_a_seeded_subset() -> None:
    m = labelled_mask(1000, 100, seed=0)
    assert int(m.sum()) == 100
    assert torch.equal(m, labelled_mask(1000, 100, seed=0))
    assert not torch.equal(m, labelled_mask(1000, 100, seed=1))
    assert bool(labelled_mask(1000, 0, seed=0).all())


def test_label_budget_twin_trains_on_labelled_images_only() -> None:
    """The twin's weights depend only on the labelled images: scrambling the others changes nothing."""
    ds = tiny()
    cfg = DistillConfig(student="lenet-300-100", epochs=1, labels=32, batch_size=16)
    mask = labelled_mask(len(ds.x_train), 32, 0)
    x2 = ds.x_train.clone()
    x2[~mask] = torch.randn_like(x2[~mask])
    r1 = train_pair(teacher(), cfg, ds)
    r2 = train_pair(teacher(), cfg, dataclasses.replace(ds, x_train=x2))
    assert r1.scratch is not None and r2.scratch is not None
    assert torch.equal(r1.scratch.fc1.weight, r2.scratch.fc1.weight)
    assert not torch.equal(r1.student.fc1.weight, r2.student.fc1.weight)


def test_cancel_stops_training() -> None:
    with pytest.raises(train.Cancelled):
        train_pair(teacher(), DistillConfig(epochs=1), tiny(), should_stop=lambda: True)


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_zoo_student_trains_one_step(name: str) -> None:
    ds = tiny(16)
    width = 1.0 if name == "resnet18" else 0.5  # torchvision's ResNet-18 has no width multiplier
    cfg = DistillConfig(student=name, width=width, epochs=1, batch_size=16, loss="hint")
    init = _init(cfg, ds)
    student = train_pair(teacher(), cfg, ds, twin=False, evaluate_every_epoch=False).student
    changed = [not torch.equal(a, b) for a, b in zip(init.parameters(), student.parameters(), strict=True)]
    assert any(changed)


def _init(cfg: DistillConfig, ds: data.Dataset) -> nn.Module:
    from compression.distillation import build_student

    return build_student(cfg, ds)


# ---------------------------------------------------------------- explorer


@FAST
@given(seed=st.integers(0, 10_000), t=temps)
def test_soft_targets_are_distributions(seed: int, t: float) -> None:
    p = explore.soft_targets(logits(seed), t)
    assert torch.allclose(p.sum(1), torch.ones(8, dtype=torch.float64))


def test_entropy_rises_with_temperature_to_the_uniform_limit() -> None:
    z = logits(9)
    curve = explore.entropy_curve(z, explore.log_temperatures())
    assert all(b >= a - 1e-9 for a, b in itertools.pairwise(curve))
    assert curve[-1] < explore.max_entropy_bits(10)
    assert explore.entropy_curve(z, [1e6])[0] == pytest.approx(explore.max_entropy_bits(10), abs=1e-6)


def test_class_similarity_and_confusions_in_words() -> None:
    z = torch.tensor([[5.0, 3.0, 0.0], [4.0, 5.0, 1.0], [0.0, 2.0, 6.0], [0.0, 1.0, 6.0]])
    y = torch.tensor([0, 1, 2, 2])
    sim = explore.class_similarity(z, y, 2.0, 3)
    assert torch.allclose(sim.sum(1), torch.ones(3, dtype=torch.float64))
    assert torch.allclose(sim[2], (explore.soft_targets(z[2], 2.0) + explore.soft_targets(z[3], 2.0)) / 2)
    conf = explore.top_confusions(sim, ["T-shirt", "Shirt", "Bag"], k=1)
    assert conf[1][1][0][0] == "T-shirt"  # a shirt looks most like a T-shirt, never like itself
    assert all(name not in [o for o, _ in pairs] for name, pairs in conf)
    assert explore.confusion_sentences(conf)[1].startswith("a Shirt looks like a T-shirt (")
    assert explore.confusion_sentences([("1", [("8", 0.07)])]) == ["a 1 looks like an 8 (7%)"]  # not '8 7%'
    assert explore.confusion_sentences([("Ankle boot", [("Sneaker", 0.2)])])[0].startswith("an Ankle boot")


def test_the_gap_is_explained_in_terms_the_user_can_change() -> None:
    assert explore.optimizer_steps(5, 1221, 64) == 100  # 20 batches an epoch, the last one short
    trails = explore.explain_gap(-19.72, 100, 4.0, 0)
    assert "trails its twin by 19.72 points after 100 optimizer steps" in trails
    assert "lower T" in trails and "Labels: 100" in trails
    assert "more epochs" in explore.explain_gap(-3.0, 100, 1.0, 100)  # T is already 1; labels already few
    assert "Labels: 100" not in explore.explain_gap(-3.0, 100, 1.0, 100)
    assert (
        "+3.89 points over the same student trained on the 100 labelled images alone"
        in explore.explain_gap(3.89, 200, 1.0, 100)
    )
    assert "Within half a point" in explore.explain_gap(0.2, 100, 4.0, 0)


def test_the_labs_start_settings_train_both_students_on_digits() -> None:
    """The lab's and the CLI's starting epochs and rate on digits, with its shipped teacher: both students
    converge (at the old start, 5 epochs of Adam 1e-3, they stopped at 55-80 % and the distilled one trailed
    by 17 points)."""
    from compression import metrics

    ds = digits()
    shipped = train.load_baseline(train.default_config("digits", "lenet5"))
    assert shipped is not None
    epochs, lr = start_settings("digits")
    cfg = DistillConfig(epochs=epochs, lr=lr, batch_size=train.DEFAULT_BATCH["digits"])
    pair = train_pair(shipped, cfg, ds, evaluate_every_epoch=False)
    assert pair.scratch is not None
    distilled, scratch = (metrics.evaluate(m, ds.x_test, ds.y_test)[0] for m in (pair.student, pair.scratch))
    assert distilled > 0.93 and scratch > 0.93, (distilled, scratch)
    assert abs(distilled - scratch) < 0.03
