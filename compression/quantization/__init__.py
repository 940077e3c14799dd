"""Quantization: linear, k-means, log, binary, ternary, XNOR, half precision, mixed, real INT8, QAT.

Importing this package registers every technique with `compression.techniques`.
"""

from compression.quantization import (  # noqa: F401
    analysis,
    catalog,
    core,
    int8,
    model_ops,
    prefetch,
    qat,
    schemes,
    storage,
)
from compression.quantization.int8 import Int8PTQ
from compression.quantization.qat import QAT
from compression.quantization.schemes import (
    BinaryQuant,
    FloatQuant,
    KMeansQuant,
    LinearQuant,
    LogQuant,
    MixedPrecision,
    TernaryQuant,
    XNORQuant,
)

__all__ = [
    "QAT",
    "BinaryQuant",
    "FloatQuant",
    "Int8PTQ",
    "KMeansQuant",
    "LinearQuant",
    "LogQuant",
    "MixedPrecision",
    "TernaryQuant",
    "XNORQuant",
]
