"""The low-rank family: truncated SVD of linear layers, Tucker-2 and CP of convolutions.

Importing this package registers the `low-rank` technique with `compression.techniques`.
"""

from __future__ import annotations

from compression.lowrank import core, technique
from compression.lowrank.core import FACTORISED, METHODS, RANK_RULES, restructure
from compression.lowrank.technique import LayerPlan, LowRank, factorise, layer_macs, plan

__all__ = [
    "FACTORISED",
    "METHODS",
    "RANK_RULES",
    "LayerPlan",
    "LowRank",
    "core",
    "factorise",
    "layer_macs",
    "plan",
    "restructure",
    "technique",
]
