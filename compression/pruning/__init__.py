"""The pruning family: masked (magnitude, random) and structured (filters, activations, slimming).

Importing this package registers every pruning technique with `compression.techniques`.
"""

from __future__ import annotations

from compression.pruning import core, sensitivity, structured, unstructured
from compression.pruning.core import GRANULARITIES, SCHEDULES, SCOPES, layer_names, layer_sparsity, sparsity
from compression.pruning.sensitivity import SensitivityScan, rates_for_drop, scan
from compression.pruning.structured import ActivationPrune, NetworkSlimming, StructuredPrune
from compression.pruning.unstructured import MagnitudePrune, RandomPrune

__all__ = [
    "GRANULARITIES",
    "SCHEDULES",
    "SCOPES",
    "ActivationPrune",
    "MagnitudePrune",
    "NetworkSlimming",
    "RandomPrune",
    "SensitivityScan",
    "StructuredPrune",
    "core",
    "layer_names",
    "layer_sparsity",
    "rates_for_drop",
    "scan",
    "sensitivity",
    "sparsity",
    "structured",
    "unstructured",
]
