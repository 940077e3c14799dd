"""Model zoo: one registry that the UI, the CLI and the tests all iterate.

Every builder takes the dataset's input shape, the number of classes and a width multiplier
(students for distillation are the same architecture at width < 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torchvision
from torch import nn

from compression import rng

InputShape = tuple[int, int, int]


def _w(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _flat_features(features: nn.Module, input_shape: InputShape) -> int:
    with torch.no_grad():
        return int(features(torch.zeros(1, *input_shape)).flatten(1).shape[1])


class LeNet300100(nn.Module):
    """LeCun et al. 1998 / Han et al. 2015: a 784-300-100-10 multilayer perceptron."""

    def __init__(self, input_shape: InputShape, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c, h, w = input_shape
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(c * h * w, _w(300, width))
        self.fc2 = nn.Linear(_w(300, width), _w(100, width))
        self.fc3 = nn.Linear(_w(100, width), num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.fc1(self.flatten(x)))
        return self.fc3(self.relu(self.fc2(x)))


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max-pooling; the second conv pads on tiny (8x8) inputs."""

    def __init__(self, input_shape: InputShape, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c, h, _ = input_shape
        c1, c2 = _w(6, width), _w(16, width)
        pad2 = 0 if h >= 16 else 2
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=pad2),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        flat = _flat_features(self.features, input_shape)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, _w(120, width)),
            nn.ReLU(),
            nn.Linear(_w(120, width), _w(84, width)),
            nn.ReLU(),
            nn.Linear(_w(84, width), num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv_bn_relu(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class BNCNN(nn.Module):
    """A small VGG-style CNN of conv+BN+ReLU blocks: the target of fusion and slimming."""

    def __init__(self, input_shape: InputShape, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c, h, _ = input_shape
        chans = [_w(32, width), _w(64, width), _w(128, width)]
        layers: list[nn.Module] = [conv_bn_relu(c, chans[0]), conv_bn_relu(chans[0], chans[0])]
        layers += [nn.MaxPool2d(2), conv_bn_relu(chans[0], chans[1])]
        layers += [conv_bn_relu(chans[1], chans[1])]
        if h >= 16:
            layers.append(nn.MaxPool2d(2))
        layers += [conv_bn_relu(chans[1], chans[2]), nn.AdaptiveAvgPool2d(1)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(chans[2], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """A ResNet-8 style net (three stages of one basic block) for small images."""

    def __init__(self, input_shape: InputShape, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c, h, _ = input_shape
        chans = [_w(16, width), _w(32, width), _w(64, width)]
        self.stem = conv_bn_relu(c, chans[0])
        s = 2 if h >= 16 else 1
        self.layer1 = BasicBlock(chans[0], chans[0], 1)
        self.layer2 = BasicBlock(chans[0], chans[1], s)
        self.layer3 = BasicBlock(chans[1], chans[2], 2)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(chans[2], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer3(self.layer2(self.layer1(self.stem(x)))))


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.depthwise = conv_bn_relu(cin, cin, stride=stride, groups=cin)
        self.pointwise = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class MobileNetSmall(nn.Module):
    """A MobileNet-v1 style net of depthwise-separable blocks."""

    def __init__(self, input_shape: InputShape, num_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c, h, _ = input_shape
        ch = [_w(n, width) for n in (16, 32, 64, 128)]
        s = 2 if h >= 16 else 1
        self.features = nn.Sequential(
            conv_bn_relu(c, ch[0]),
            DepthwiseSeparable(ch[0], ch[1], s),
            DepthwiseSeparable(ch[1], ch[2], 2),
            DepthwiseSeparable(ch[2], ch[3], 2),
            nn.AdaptiveAvgPool2d(1),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(ch[3], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def _resnet18(input_shape: InputShape, num_classes: int, width: float = 1.0) -> nn.Module:
    c, h, _ = input_shape
    model = torchvision.models.resnet18(num_classes=num_classes)
    if width != 1.0:
        raise ValueError("torchvision resnet18 has no width multiplier; use small-resnet")
    if h < 64:  # the usual CIFAR adaptation: no 4x early downsampling on small images
        model.conv1 = nn.Conv2d(c, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif c != 3:
        model.conv1 = nn.Conv2d(c, 64, 7, stride=2, padding=3, bias=False)
    return model


def _mobilenet_v3_small(input_shape: InputShape, num_classes: int, width: float = 1.0) -> nn.Module:
    c, h, _ = input_shape
    model = torchvision.models.mobilenet_v3_small(num_classes=num_classes, width_mult=width)
    first = model.features[0][0]
    if h < 64 or c != 3:
        stride = 1 if h < 64 else 2
        model.features[0][0] = nn.Conv2d(c, first.out_channels, 3, stride=stride, padding=1, bias=False)
    return model


@dataclass(frozen=True)
class ModelSpec:
    name: str
    title: str
    build: Callable[[InputShape, int, float], nn.Module]
    note: str  # shown in the UI


MODELS: dict[str, ModelSpec] = {
    "lenet-300-100": ModelSpec(
        "lenet-300-100", "LeNet-300-100 (MLP)", LeNet300100, "Han et al. 2015's pruning target"
    ),
    "lenet5": ModelSpec("lenet5", "LeNet-5", LeNet5, "two convs, three fully connected layers"),
    "bn-cnn": ModelSpec("bn-cnn", "BatchNorm CNN", BNCNN, "conv+BN+ReLU blocks: fusion, slimming"),
    "small-resnet": ModelSpec(
        "small-resnet", "Small ResNet", SmallResNet, "residual blocks: dependency-aware pruning"
    ),
    "mobilenet-small": ModelSpec(
        "mobilenet-small", "MobileNet-style", MobileNetSmall, "depthwise-separable convolutions"
    ),
    "resnet18": ModelSpec("resnet18", "torchvision ResNet-18", _resnet18, "11.7 M params at 224"),
    "mobilenet_v3_small": ModelSpec(
        "mobilenet_v3_small",
        "torchvision MobileNetV3-Small",
        _mobilenet_v3_small,
        "2.5 M params at 224",
    ),
}


# parametric families: a name "family:..." is the whole architecture, built by that module's build_named
FAMILIES: dict[str, str] = {"archnet": "compression.search.arch"}  # the Search lab's architecture space


def known(name: object) -> bool:
    """A zoo model's name, or a parametric family's (rebuilt from the name alone)."""
    return name in MODELS or (isinstance(name, str) and name.partition(":")[0] in FAMILIES)


def _builder(name: str) -> Callable[[InputShape, int, float], nn.Module]:
    if name in MODELS:
        return MODELS[name].build
    family = name.partition(":")[0]
    if ":" not in name or family not in FAMILIES:
        raise KeyError(f"Unknown model '{name}'. Known: {', '.join(MODELS)}, or {', '.join(FAMILIES)}:...")
    import importlib

    build_named = importlib.import_module(FAMILIES[family]).build_named
    return lambda shape, classes, width: build_named(name, shape, classes)


def build(name: str, input_shape: InputShape, num_classes: int, width: float = 1.0) -> nn.Module:
    """Build a zoo model in eval mode with seeded, reproducible initial weights."""
    make = _builder(name)
    with rng.seeded(0):
        model = make(input_shape, num_classes, width).eval()
    # what a model file needs to rebuild it (model_file.load); copies made by techniques keep it
    model._cla_meta = {  # type: ignore[assignment]
        "model": name,
        "input_shape": [int(v) for v in input_shape],
        "num_classes": int(num_classes),
        "width": float(width),
    }
    return model
