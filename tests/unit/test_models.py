"""Every zoo model builds and runs for every dataset shape (one parametrised test, timm style)."""

from __future__ import annotations

import pytest
import torch

from compression import models

SHAPES = {
    "digits": (1, 8, 8),
    "fashion-mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("shape_name", list(SHAPES))
@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_on_every_shape(name: str, shape_name: str) -> None:
    shape = SHAPES[shape_name]
    model = models.build(name, shape, 10)
    assert not model.training  # built in eval mode
    with torch.inference_mode():
        out = model(torch.randn(2, *shape))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", list(models.MODELS))
def test_build_is_reproducible(name: str) -> None:
    a = models.build(name, SHAPES["digits"], 10).state_dict()
    b = models.build(name, SHAPES["digits"], 10).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


WIDTH_MODELS = [n for n in models.MODELS if n != "resnet18"]  # torchvision resnet18 has no width multiplier


@pytest.mark.parametrize("name", WIDTH_MODELS)
def test_width_multiplier_shrinks_params(name: str) -> None:
    shape = SHAPES["fashion-mnist"]
    full = models.build(name, shape, 10, width=1.0)
    half = models.build(name, shape, 10, width=0.5)
    assert _params(half) < 0.6 * _params(full)
    with torch.inference_mode():
        assert half(torch.randn(1, *shape)).shape == (1, 10)


def test_resnet18_refuses_width() -> None:
    with pytest.raises(ValueError, match="width"):
        models.build("resnet18", SHAPES["cifar10"], 10, width=0.5)


def test_unknown_model_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="lenet5"):
        models.build("vgg-9000", SHAPES["digits"], 10)


def test_lenet_300_100_is_the_classic_size() -> None:
    # 784*300+300 + 300*100+100 + 100*10+10 = 266,610 (LeCun et al. / Han et al.)
    assert _params(models.build("lenet-300-100", (1, 28, 28), 10)) == 266_610
