"""Seeded construction is reproducible while other threads build models (the server's sessions and jobs)."""

from __future__ import annotations

import threading

import torch

from compression import models, rng


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_a_seeded_block_is_not_reseeded_by_a_model_built_in_another_thread() -> None:
    with rng.seeded(0):
        solo = (torch.randn(4), torch.randn(4))
    solo_model = _weights(models.build("lenet5", (1, 8, 8), 10))
    inside, built = threading.Event(), threading.Event()
    other: dict[str, list[torch.Tensor]] = {}

    def builder() -> None:
        inside.wait(30)
        other["weights"] = _weights(models.build("lenet5", (1, 8, 8), 10))  # seeds 0 and draws
        built.set()

    thread = threading.Thread(target=builder)
    thread.start()
    with rng.seeded(0):
        first = torch.randn(4)
        inside.set()
        built.wait(1.0)  # without the lock the other build reseeds and draws here; with it, it waits
        second = torch.randn(4)
    thread.join(30)
    assert torch.equal(first, solo[0]) and torch.equal(second, solo[1])
    assert all(torch.equal(a, b) for a, b in zip(other["weights"], solo_model, strict=True))


def test_reinit_draws_the_same_weights_for_the_same_seed_and_others_for_another() -> None:
    a = _weights(rng.reinit(models.build("lenet5", (1, 8, 8), 10), 3))
    b = _weights(rng.reinit(models.build("lenet5", (1, 8, 8), 10), 3))
    c = _weights(rng.reinit(models.build("lenet5", (1, 8, 8), 10), 4))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, z) for x, z in zip(a, c, strict=True))
