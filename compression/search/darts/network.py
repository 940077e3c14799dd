"""The networks: the one-shot search network (mixed ops, alphas, betas) and a network built from a genotype.

Both share the DARTS macro-architecture: a 3x3 stem (stride 2 on inputs of 16 pixels or more, so
28x28 images are searched at 14x14), `cells` cells with the reduction cells (stride 2, channels x2)
at 1/3 and 2/3 of the depth, global average pooling and a linear classifier. Every cell takes the
outputs of the two cells before it and concatenates its intermediate nodes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from compression import rng
from compression.search.darts import batched
from compression.search.darts.genotype import Genotype, edge_count
from compression.search.darts.ops import OPS, FactorizedReduce, MixedOp, ReLUConvBN, build_op, op_costs

STEM_MULTIPLIER = 3  # stem channels = 3 C, as in DARTS
InputShape = tuple[int, int, int]


def reduction_cells(cells: int) -> set[int]:
    """Indices of the reduction cells: 1/3 and 2/3 of the depth (DARTS); the last one of 2 cells; none of 1."""
    if cells >= 3:
        return {cells // 3, 2 * cells // 3}
    return {cells - 1} if cells == 2 else set()


def stem_stride(input_shape: InputShape) -> int:
    return 2 if input_shape[1] >= 16 else 1


class CellBase(nn.Module):
    """The two preprocessing convs of a cell's inputs (a strided one after a reduction cell)."""

    def __init__(self, c_pp: int, c_p: int, c: int, reduction_prev: bool, affine: bool) -> None:
        super().__init__()
        self.pre0: nn.Module = (
            FactorizedReduce(c_pp, c, affine) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0, affine)
        )
        self.pre1 = ReLUConvBN(c_p, c, 1, 1, 0, affine)


class SearchCell(CellBase):
    """Every node sums mixed ops over all its inputs, each edge scaled by its beta (edge normalisation)."""

    def __init__(
        self, nodes: int, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool, partial: int
    ) -> None:
        super().__init__(c_pp, c_p, c, reduction_prev, affine=False)
        self.nodes = nodes
        self.reduction = reduction
        self.edges = nn.ModuleList(
            MixedOp(c, 2 if reduction and j < 2 else 1, partial) for i in range(nodes) for j in range(i + 2)
        )

    def forward(
        self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor, betas: torch.Tensor
    ) -> torch.Tensor:
        """Node i = sum_j betas[e] * edges[e](states[j], weights[e]) over its inputs j (e its edges), each
        node's edges of one stride computed together (batched.py; the same sum as the edges' MixedOps)."""
        states = [self.pre0(s0), self.pre1(s1)]
        offset = 0
        for _ in range(self.nodes):
            inputs = len(states)
            strided = 2 if self.reduction else 0  # a reduction cell's edges from s0 and s1 are strided
            node = None
            for lo, hi in ((0, strided), (strided, inputs)):
                if hi > lo:
                    edges = slice(offset + lo, offset + hi)
                    # one by one: slicing a ModuleList would build a new module on every forward
                    mixed = [self.edges[i] for i in range(edges.start, edges.stop)]
                    part = batched.edges_sum(mixed, states[lo:hi], weights[edges], betas[edges])  # type: ignore[arg-type]
                    node = part if node is None else node + part
            states.append(node)  # type: ignore[arg-type]
            offset += inputs
        return torch.cat(states[2:], dim=1)


class GenotypeCell(CellBase):
    """A discrete cell: node i = op_a(input_a) + op_b(input_b), as the genotype says."""

    def __init__(
        self,
        gene: tuple[tuple[str, int], ...],
        c_pp: int,
        c_p: int,
        c: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__(c_pp, c_p, c, reduction_prev, affine=True)
        self.inputs = [j for _, j in gene]
        self.ops = nn.ModuleList(build_op(op, c, 2 if reduction and j < 2 else 1) for op, j in gene)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(0, len(self.ops), 2):
            a, b = self.inputs[k], self.inputs[k + 1]
            states.append(self.ops[k](states[a]) + self.ops[k + 1](states[b]))
        return torch.cat(states[2:], dim=1)


CellFactory = Callable[[int, int, int, bool, bool], nn.Module]  # (c_pp, c_p, c, reduction, reduction_prev)


class MacroNetwork(nn.Module):
    """Stem, cells (normal and reduction) and the classifier, for either kind of cell."""

    def __init__(
        self,
        input_shape: InputShape,
        num_classes: int,
        channels: int,
        cells: int,
        nodes: int,
        make: CellFactory,
    ) -> None:
        super().__init__()
        stem_c = STEM_MULTIPLIER * channels
        self.stem = nn.Sequential(
            nn.Conv2d(input_shape[0], stem_c, 3, stride=stem_stride(input_shape), padding=1, bias=False),
            nn.BatchNorm2d(stem_c),
        )
        c_pp, c_p, c = stem_c, stem_c, channels
        reductions = reduction_cells(cells)
        self.reductions = [i in reductions for i in range(cells)]
        self.cells = nn.ModuleList()
        reduction_prev = False
        for reduction in self.reductions:
            c = c * 2 if reduction else c
            self.cells.append(make(c_pp, c_p, c, reduction, reduction_prev))
            reduction_prev = reduction
            c_pp, c_p = c_p, nodes * c
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(x).flatten(1))


class SearchNetwork(MacroNetwork):
    """The one-shot network: the architecture parameters alpha (edges x ops) and beta (edges) of the
    normal and the reduction cell are shared by all cells of that kind."""

    def __init__(
        self,
        input_shape: InputShape,
        num_classes: int,
        *,
        channels: int,
        cells: int,
        nodes: int,
        partial: int = 1,
    ) -> None:
        super().__init__(
            input_shape,
            num_classes,
            channels,
            cells,
            nodes,
            lambda c_pp, c_p, c, red, red_prev: SearchCell(nodes, c_pp, c_p, c, red, red_prev, partial),
        )
        self.nodes = nodes
        self.partial = partial
        edges = edge_count(nodes)
        self.alphas_normal = nn.Parameter(1e-3 * torch.randn(edges, len(OPS)))
        self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(edges, len(OPS)))
        self.betas_normal = nn.Parameter(1e-3 * torch.randn(edges))
        self.betas_reduce = nn.Parameter(1e-3 * torch.randn(edges))
        # edges x ops multipliers of the op weights, set only while an op is struck out (selection.py)
        self.op_masks: dict[bool, torch.Tensor] = {}

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alphas_normal, self.alphas_reduce, self.betas_normal, self.betas_reduce]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def edge_betas(self, reduction: bool) -> torch.Tensor:
        """Edge normalisation (PC-DARTS): softmax of beta over each node's incoming edges; all ones
        without partial channels (plain DARTS)."""
        betas = self.betas_reduce if reduction else self.betas_normal
        if self.partial == 1:
            return torch.ones_like(betas)
        parts, start = [], 0
        for i in range(self.nodes):
            parts.append(torch.softmax(betas[start : start + i + 2], dim=0))
            start += i + 2
        return torch.cat(parts)

    def op_weights(self, reduction: bool) -> torch.Tensor:
        weights = torch.softmax(self.alphas_reduce if reduction else self.alphas_normal, dim=-1)
        mask = self.op_masks.get(reduction)
        return weights if mask is None else weights * mask

    def expected_cost(self) -> torch.Tensor:
        """The cells' expected op size under softmax(alpha): the mean over every edge of both cells of
        sum_o softmax(alpha)_o * cost_o (ops.op_costs), 0 (all parameter-free) to 1 (all sep_conv_5x5)."""
        costs = op_costs().to(self.alphas_normal.device)
        return torch.cat([self.op_weights(r) @ costs for r in (False, True)]).mean()

    def selection_weights(self, reduction: bool) -> torch.Tensor:
        """What derivation ranks: softmax(alpha) scaled by the edge's normalised beta."""
        return (self.op_weights(reduction) * self.edge_betas(reduction)[:, None]).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        w = {r: (self.op_weights(r), self.edge_betas(r)) for r in (False, True)}
        for cell, reduction in zip(self.cells, self.reductions, strict=True):
            s0, s1 = s1, cell(s0, s1, *w[reduction])
        return self.head(s1)


class GenotypeNetwork(MacroNetwork):
    def __init__(
        self, genotype: Genotype, input_shape: InputShape, num_classes: int, *, channels: int, cells: int
    ) -> None:
        super().__init__(
            input_shape,
            num_classes,
            channels,
            cells,
            genotype.nodes,
            lambda c_pp, c_p, c, red, red_prev: GenotypeCell(
                genotype.reduce if red else genotype.normal, c_pp, c_p, c, red, red_prev
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)


def build_network(
    genotype: Genotype, input_shape: InputShape, num_classes: int, *, channels: int, cells: int
) -> nn.Module:
    """The network of a genotype (eval mode, seeded init). Its `_cla_meta` holds the genotype, so the
    run file it is saved in rebuilds it (`from_meta`) without unpickling code."""
    genotype.validate()
    with rng.seeded(0):
        model = GenotypeNetwork(genotype, input_shape, num_classes, channels=channels, cells=cells).eval()
    model._cla_meta = {  # type: ignore[assignment]
        "model": "darts",
        "input_shape": [int(v) for v in input_shape],
        "num_classes": int(num_classes),
        "width": 1.0,
        "darts": {"genotype": genotype.to_dict(), "channels": int(channels), "cells": int(cells)},
    }
    return model


def from_meta(meta: dict[str, object]) -> nn.Module:
    """Rebuild a genotype network from a model file's metadata (written by `build_network`)."""
    spec = meta["darts"]
    if not isinstance(spec, dict):
        raise ValueError("the file's 'darts' metadata is not an object")
    shape = tuple(int(v) for v in meta["input_shape"])  # type: ignore[attr-defined]
    return build_network(
        Genotype.from_dict(spec["genotype"]),
        (shape[0], shape[1], shape[2]),
        int(meta["num_classes"]),  # type: ignore[arg-type]
        channels=int(spec["channels"]),
        cells=int(spec["cells"]),
    )
