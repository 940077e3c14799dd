"""A search cell's node computed for all its incoming edges at once: the same sum as the edges' MixedOps,
in about a third of the operator calls.

Each edge of a node owns its eight ops' weights (ops.MixedOp). Stacking the node's inputs along the
channels turns each op on every edge into one call: a depthwise conv over E*c channels with the edges'
kernels concatenated, a 1x1 conv with groups=E, one pool, one batch norm over the stacked channels (batch
norm is per channel, so this is each edge's own). On this CPU a search step at C = 8 is bound by the
per-call cost of thousands of small convolutions, not by their arithmetic (bench/results/darts.md, "Each
node's edges batched"). Hand-written: torch.func.vmap over the edges' stacked weights (torch's ensembling
recipe) makes the same grouped convolutions, but cannot update batch norm's running statistics in place,
which the search keeps per edge (DARTS-PT scores the supernet in eval mode). The first ReLU, shared by the
four convolutions of an edge, is computed once. Edges of one stride form a group: a reduction cell's edges
from its two inputs are strided.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - torch's own convention
from torch import nn

from compression.search.darts.ops import OPS, MixedOp

LIVE = [i for i, name in enumerate(OPS) if name != "none"]  # "none" adds w * 0 (see MixedOp)
MAX_POOL, AVG_POOL, SKIP = OPS.index("max_pool_3x3"), OPS.index("avg_pool_3x3"), OPS.index("skip_connect")
SEP3, SEP5, DIL3, DIL5 = (OPS.index(f"{kind}_conv_{k}x{k}") for kind in ("sep", "dil") for k in (3, 5))


def _cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def _bn(x: torch.Tensor, bns: list[nn.BatchNorm2d]) -> torch.Tensor:
    """Each edge's own (affine-free) batch norm, over the stacked channels; running statistics kept per edge."""
    first = bns[0]
    mean = _cat([b.running_mean for b in bns])  # type: ignore[misc]
    var = _cat([b.running_var for b in bns])  # type: ignore[misc]
    y = F.batch_norm(x, mean, var, training=first.training, momentum=first.momentum or 0.0, eps=first.eps)
    if first.training:
        with torch.no_grad():
            for i, b in enumerate(bns):
                if len(bns) > 1:  # a single edge's statistics were updated in place
                    c = b.num_features
                    b.running_mean.copy_(mean[i * c : (i + 1) * c])  # type: ignore[union-attr]
                    b.running_var.copy_(var[i * c : (i + 1) * c])  # type: ignore[union-attr]
                b.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
    return y


def _dil_conv(x: torch.Tensor, seqs: list[nn.Module], relu: bool = True) -> torch.Tensor:
    """ops.DilConv (ReLU, depthwise, 1x1, BN) of every edge on the stacked input."""
    dw = seqs[0][1]
    x = F.relu(x) if relu else x
    x = F.conv2d(
        x,
        _cat([s[1].weight for s in seqs]),
        stride=dw.stride,
        padding=dw.padding,
        dilation=dw.dilation,
        groups=x.shape[1],
    )
    x = F.conv2d(x, _cat([s[2].weight for s in seqs]), groups=len(seqs))
    return _bn(x, [s[3] for s in seqs])


def _ops(edges: list[MixedOp], x: torch.Tensor, stride: int) -> list[torch.Tensor]:
    """The seven live ops of every edge on x (n, E*c, h, w), in LIVE order."""
    ops = [e.ops for e in edges]
    r = F.relu(x)
    out = {
        MAX_POOL: _bn(F.max_pool2d(x, 3, stride, 1), [o[MAX_POOL][1] for o in ops]),
        AVG_POOL: _bn(F.avg_pool2d(x, 3, stride, 1, count_include_pad=False), [o[AVG_POOL][1] for o in ops]),
    }
    if stride == 1:
        out[SKIP] = x
    else:  # ops.FactorizedReduce: two offset stride-2 1x1 convs of the ReLU, each edge's halves side by side
        fr = [o[SKIP] for o in ops]
        shifted = F.pad(r[:, :, 1:, 1:], (0, 1, 0, 1))
        a = F.conv2d(r, _cat([f.conv_1.weight for f in fr]), stride=2, groups=len(fr))
        b = F.conv2d(shifted, _cat([f.conv_2.weight for f in fr]), stride=2, groups=len(fr))
        n, _, h, w = a.shape
        ab = torch.cat([a.view(n, len(fr), -1, h, w), b.view(n, len(fr), -1, h, w)], 2)
        out[SKIP] = _bn(ab.view(n, -1, h, w), [f.bn for f in fr])
    for i in (SEP3, SEP5):
        first = _dil_conv(r, [o[i][0] for o in ops], relu=False)
        out[i] = _dil_conv(first, [o[i][1] for o in ops])
    for i in (DIL3, DIL5):
        out[i] = _dil_conv(r, [o[i] for o in ops], relu=False)
    return [out[i] for i in LIVE]


def edges_sum(
    edges: list[MixedOp], inputs: list[torch.Tensor], weights: torch.Tensor, betas: torch.Tensor
) -> torch.Tensor:
    """sum_e betas[e] * edges[e](inputs[e], weights[e]) for edges of one stride (and one K)."""
    e_count, k, stride = len(edges), edges[0].k, edges[0].stride
    x = torch.stack(inputs, 1)  # (n, E, C, h, w)
    n, _, channels, h, w = x.shape
    c = channels // k
    part = x[:, :, :c].reshape(n, e_count * c, h, w)
    outs = _ops(edges, part, stride)
    h2, w2 = outs[0].shape[-2:]
    stacked = torch.stack([o.view(n, e_count, c, h2, w2) for o in outs])  # (ops, n, E, c, h2, w2)
    y = torch.einsum("onechw,eo->nechw", stacked, weights[:, LIVE])
    if k > 1:  # PC-DARTS: the other channels bypass the ops, then a channel shuffle (ops.channel_shuffle)
        rest = x[:, :, c:]
        if stride == 2:
            rest = F.max_pool2d(rest.reshape(n, -1, h, w), 2, 2, ceil_mode=True).view(n, e_count, -1, h2, w2)
        y = torch.cat([y, rest], 2).view(n, e_count, k, c, h2, w2).transpose(2, 3)
        y = y.reshape(n, e_count, channels, h2, w2)
    return torch.einsum("nechw,e->nchw", y, betas)


def edge_by_edge(
    cell: nn.Module, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor, betas: torch.Tensor
) -> torch.Tensor:
    """A SearchCell's forward one MixedOp at a time, as DARTS writes it: node i = sum over its inputs j of
    betas[e] * edges[e](states[j], weights[e]). The reference the batched cell is tested and timed against."""
    states = [cell.pre0(s0), cell.pre1(s1)]
    offset = 0
    for _ in range(cell.nodes):  # type: ignore[arg-type]
        states.append(
            sum(
                betas[offset + j] * cell.edges[offset + j](h, weights[offset + j])  # type: ignore[index]
                for j, h in enumerate(states)
            )
        )  # type: ignore[misc]
        offset += len(states) - 1
    return torch.cat(states[2:], dim=1)
