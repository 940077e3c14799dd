"""The eight DARTS operations, and the mixed operation that relaxes the choice among them.

A mixed op on an edge is the softmax(alpha)-weighted sum of all eight ops (Liu et al. 2019).
With partial channels K > 1 (PC-DARTS, Xu et al. 2020) only 1/K of the channels go through the
ops; the rest bypass them, and a channel shuffle mixes the two parts for the next edge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

OPS: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
PARAM_FREE: frozenset[str] = frozenset({"none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"})


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int, padding: int, affine: bool) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(cout, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, depthwise dilated conv, pointwise conv, BN."""

    def __init__(self, c: int, kernel: int, stride: int, dilation: int, affine: bool) -> None:
        pad = dilation * (kernel - 1) // 2
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c, c, kernel, stride=stride, padding=pad, dilation=dilation, groups=c, bias=False),
            nn.Conv2d(c, c, 1, bias=False),
            nn.BatchNorm2d(c, affine=affine),
        )


class SepConv(nn.Sequential):
    """Two stacked depthwise-separable convs, the first one strided (as in DARTS)."""

    def __init__(self, c: int, kernel: int, stride: int, affine: bool) -> None:
        super().__init__(DilConv(c, kernel, stride, 1, affine), DilConv(c, kernel, 1, 1, affine))


class Zero(nn.Module):
    """The "none" op: zeros of the output shape (it only scales the edge down)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convs, concatenated (a strided identity)."""

    def __init__(self, cin: int, cout: int, affine: bool) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout - cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))  # odd sizes: keep the shapes equal
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def _pool(kind: str, c: int, stride: int, affine: bool, search: bool) -> nn.Module:
    pool: nn.Module = (
        nn.MaxPool2d(3, stride=stride, padding=1)
        if kind == "max"
        else nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    )
    # in the search, a BN without affine puts the parameter-free ops on the scale of the convs (DARTS)
    return nn.Sequential(pool, nn.BatchNorm2d(c, affine=False)) if search else pool


OpBuilder = Callable[[int, int, bool, bool], nn.Module]  # (channels, stride, affine, search) -> op
BUILDERS: dict[str, OpBuilder] = {
    "none": lambda c, s, a, search: Zero(s),
    "max_pool_3x3": lambda c, s, a, search: _pool("max", c, s, a, search),
    "avg_pool_3x3": lambda c, s, a, search: _pool("avg", c, s, a, search),
    "skip_connect": lambda c, s, a, search: nn.Identity() if s == 1 else FactorizedReduce(c, c, a),
    "sep_conv_3x3": lambda c, s, a, search: SepConv(c, 3, s, a),
    "sep_conv_5x5": lambda c, s, a, search: SepConv(c, 5, s, a),
    "dil_conv_3x3": lambda c, s, a, search: DilConv(c, 3, s, 2, a),
    "dil_conv_5x5": lambda c, s, a, search: DilConv(c, 5, s, 2, a),
}


def build_op(
    name: str, channels: int, stride: int, *, affine: bool = True, search: bool = False
) -> nn.Module:
    if name not in BUILDERS:
        raise ValueError(f"Unknown DARTS operation '{name}'. Known: {', '.join(OPS)}")
    return BUILDERS[name](channels, stride, affine, search)


@functools.cache
def op_costs(channels: int = 16) -> torch.Tensor:
    """Each op's weights in a derived normal cell as a share of the largest (sep_conv_5x5): 0 for the
    parameter-free ops. What a size penalty on the alphas weighs (resource-aware DARTS, as in SNAS's and
    FBNet's cost terms); counted on the built modules, not a formula, so it follows the ops above."""
    # building draws initial weights: leave a seeded search's random stream as it was
    with torch.random.fork_rng(devices=[]):
        counts = [sum(p.numel() for p in build_op(name, channels, 1).parameters()) for name in OPS]
    return torch.tensor(counts, dtype=torch.float32) / max(counts)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of `groups` groups (ShuffleNet): [a0 a1 b0 b1] -> [a0 b0 a1 b1]."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class MixedOp(nn.Module):
    """sum_o softmax(alpha)_o * o(x) over the eight ops, on 1/K of the channels when K > 1."""

    def __init__(self, channels: int, stride: int, partial: int = 1) -> None:
        super().__init__()
        if partial < 1 or channels % partial:
            raise ValueError(f"partial channels K={partial} must divide the channel count {channels}")
        self.k = partial
        self.stride = stride
        c = channels // partial
        self.ops = nn.ModuleList(build_op(name, c, stride, affine=False, search=True) for name in OPS)
        # "none" adds w * 0: skipping it changes neither the sum nor any gradient (its alpha still
        # scales the others through the softmax), and saves a tenth of a small search's epoch
        self.live = [i for i, name in enumerate(OPS) if name != "none"]

    def _mix(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return sum(weights[i] * self.ops[i](x) for i in self.live)  # type: ignore[return-value]

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.k == 1:
            return self._mix(x, weights)
        c = x.shape[1] // self.k
        part, rest = x[:, :c], x[:, c:]
        mixed = self._mix(part, weights)
        if self.stride == 2:
            rest = nn.functional.max_pool2d(rest, 2, 2, ceil_mode=True)
        return channel_shuffle(torch.cat([mixed, rest], dim=1), self.k)
