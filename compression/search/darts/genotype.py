"""Genotypes: the discrete cell DARTS derives from its alphas, and random cells of the same space."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from compression.search.darts.ops import OPS, PARAM_FREE

Gene = tuple[tuple[str, int], ...]
NONE = OPS.index("none")
SKIP = OPS.index("skip_connect")


@dataclass(frozen=True)
class Genotype:
    normal: Gene  # 2 entries per node: (op, input index); 0, 1 = the cell's inputs, 2.. = earlier nodes
    reduce: Gene

    def skip_count(self) -> int:
        """skip_connect edges in the normal cell (the collapse symptom)."""
        return sum(op == "skip_connect" for op, _ in self.normal)

    def param_free_count(self) -> int:
        """Parameter-free edges (skips and pools) in the normal cell: the wider collapse symptom (on small
        grayscale images the drift can go to average pooling, which the skip cures do not catch)."""
        return sum(op in PARAM_FREE for op, _ in self.normal)

    @property
    def nodes(self) -> int:
        return len(self.normal) // 2

    def to_dict(self) -> dict[str, Any]:
        return {"normal": [[op, i] for op, i in self.normal], "reduce": [[op, i] for op, i in self.reduce]}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Genotype:
        genotype = Genotype(
            normal=tuple((str(op), int(i)) for op, i in d["normal"]),
            reduce=tuple((str(op), int(i)) for op, i in d["reduce"]),
        )
        genotype.validate()
        return genotype

    def validate(self) -> None:
        for gene in (self.normal, self.reduce):
            if len(gene) != len(self.normal) or len(gene) % 2 or not gene:
                raise ValueError("a genotype holds 2 (op, input) entries per node, the same in both cells")
            for k, (op, i) in enumerate(gene):
                if op not in OPS or op == "none":
                    raise ValueError(f"'{op}' is not an operation a derived cell can hold")
                if not 0 <= i < 2 + k // 2:
                    raise ValueError(f"node {k // 2} cannot take input {i}")


def edge_count(nodes: int) -> int:
    """Edges of a cell: node i has i + 2 incoming edges."""
    return sum(i + 2 for i in range(nodes))


def edge_labels(nodes: int) -> list[str]:
    """One label per edge, node by node: "c[k-2] -> n0", "c[k-1] -> n0", "c[k-2] -> n1", ..., "n0 -> n1"."""
    names = ["c[k-2]", "c[k-1]"] + [f"n{i}" for i in range(nodes)]
    return [f"{names[j]} -> n{i}" for i in range(nodes) for j in range(i + 2)]


def _as_rows(alphas: Sequence[Sequence[float]] | torch.Tensor) -> list[list[float]]:
    return torch.as_tensor(alphas, dtype=torch.float64).tolist()


def _derive_once(rows: list[list[float]], nodes: int) -> Gene:
    gene: list[tuple[str, int]] = []
    start = 0
    for i in range(nodes):
        edges = rows[start : start + i + 2]
        best = [max((w, k) for k, w in enumerate(row) if k != NONE) for row in edges]
        top = sorted(range(len(edges)), key=lambda j: -best[j][0])[:2]
        gene += [(OPS[best[j][1]], j) for j in sorted(top)]
        start += i + 2
    return tuple(gene)


def derive(
    alphas: Sequence[Sequence[float]] | torch.Tensor, nodes: int, *, cap_skips: int | None = None
) -> Gene:
    """Top-2 incoming edges per node by their strongest non-"none" op, with that op (DARTS).

    cap_skips (P-DARTS): while the cell holds more skip connections, the weakest chosen skip is
    struck from its edge's candidates and the cell derived again (so it keeps at most that many).
    """
    rows = _as_rows(alphas)
    if len(rows) != edge_count(nodes) or any(len(r) != len(OPS) for r in rows):
        raise ValueError(f"alphas must be {edge_count(nodes)} edges x {len(OPS)} ops for {nodes} nodes")
    gene = _derive_once(rows, nodes)
    while cap_skips is not None and sum(op == "skip_connect" for op, _ in gene) > cap_skips:
        chosen = _chosen_edges(gene)
        skip_edges = [e for e, (op, _) in zip(chosen, gene, strict=True) if op == "skip_connect"]
        weakest = min(skip_edges, key=lambda e: rows[e][SKIP])
        rows[weakest][SKIP] = float("-inf")
        gene = _derive_once(rows, nodes)
    return gene


def _chosen_edges(gene: Gene) -> list[int]:
    """The edge index (into the alphas rows) of each gene entry."""
    offsets = [sum(i + 2 for i in range(node)) for node in range(len(gene) // 2)]
    return [offsets[k // 2] + j for k, (_, j) in enumerate(gene)]


def random_gene(nodes: int, rng: random.Random) -> Gene:
    gene: list[tuple[str, int]] = []
    ops = [op for op in OPS if op != "none"]
    for i in range(nodes):
        for j in sorted(rng.sample(range(i + 2), 2)):
            gene.append((rng.choice(ops), j))
    return tuple(gene)


def random_genotype(nodes: int, seed: int) -> Genotype:
    """A cell pair drawn uniformly from the same space (2 distinct inputs per node, any op but none)."""
    rng = random.Random(seed)
    return Genotype(normal=random_gene(nodes, rng), reduce=random_gene(nodes, rng))
