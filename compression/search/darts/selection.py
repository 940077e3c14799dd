"""Perturbation-based selection (DARTS-PT, Wang et al. 2021): an op's strength on an edge is how much
the trained supernet's validation loss rises when that op alone is struck out, not the size of its alpha.

Hand-written: no library implements it. Simplified from the paper: every edge is scored against the same
supernet (no progressive discretisation, no fine-tuning between edges), and the two inputs of each node
are the edges whose best op is strongest (the ranking `derive` applies to alphas).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from compression import metrics
from compression.search.darts.genotype import NONE, edge_count
from compression.search.darts.ops import OPS


def _loss(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return metrics.evaluate(net, x, y)[2]  # mean cross-entropy, in eval mode, batched


def perturbation_scores(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    reduction: bool,
    on_step: Callable[[], None] | None = None,
) -> list[list[float]]:
    """edges x ops: the rise of the mean validation loss when the op's weight on the edge is set to 0
    (the others kept: no renormalisation, as DARTS-PT); "none" scores -inf (a derived cell cannot hold it).
    The network is evaluated in eval mode (BN running statistics) and left as it was found."""
    was_training = net.training
    net.eval()
    shape = net.op_weights(reduction).shape  # type: ignore[operator]
    try:
        base = _loss(net, x, y)
        scores = [[float("-inf")] * shape[1] for _ in range(shape[0])]
        for e in range(shape[0]):
            for o in range(shape[1]):
                if o == NONE:
                    continue
                mask = torch.ones(shape, device=x.device)
                mask[e, o] = 0.0
                net.op_masks[reduction] = mask  # type: ignore[index]
                scores[e][o] = _loss(net, x, y) - base
                if on_step is not None:
                    on_step()
    finally:
        net.op_masks.pop(reduction, None)  # type: ignore[union-attr]
        net.train(was_training)
    return scores


def evaluations(edges: int, ops: int) -> int:
    """Passes with one op struck out, over the selection images, for both cells (each cell adds a base pass)."""
    return 2 * edges * (ops - 1)


def selection_passes(nodes: int) -> int:
    """The struck-out passes of a search with `nodes` intermediate nodes per cell."""
    return evaluations(edge_count(nodes), len(OPS))
