"""The pruning family: masked (magnitude, random) and structured (filters, activations, slimming).

Importing this package registers every pruning technique with `compression.techniques`.
"""

from __future__ import annotations

from compression.pruning import core, methods, sensitivity, structured, unstructured
from compression.pruning.core import GRANULARITIES, SCHEDULES, SCOPES, layer_names, layer_sparsity, sparsity
from compression.pruning.methods import METHODS, accuracy_curves, make_config, needs_training
from compression.pruning.sensitivity import SensitivityScan, rates_for_drop, scan
from compression.pruning.structured import ActivationPrune, NetworkSlimming, StructuredPrune
from compression.pruning.unstructured import MagnitudePrune, RandomPrune

__all__ = [
    "GRANULARITIES",
    "METHODS",
    "SCHEDULES",
    "SCOPES",
    "ActivationPrune",
    "MagnitudePrune",
    "NetworkSlimming",
    "RandomPrune",
    "SensitivityScan",
    "StructuredPrune",
    "accuracy_curves",
    "core",
    "layer_names",
    "layer_sparsity",
    "make_config",
    "methods",
    "needs_training",
    "rates_for_drop",
    "scan",
    "sensitivity",
    "sparsity",
    "structured",
    "unstructured",
]
