"""Knowledge distillation: a student learns from a teacher's soft targets (Hinton et al. 2015).

Losses (losses.py), the teacher-output cache (cache.py), the training of a student next to its
scratch twin (core.py) and the instant explorer of soft targets (explore.py).
"""

from compression.distillation import cache, explore, losses
from compression.distillation.core import (
    DistillConfig,
    PairResult,
    apply,
    build_student,
    labelled_mask,
    start_settings,
    train_pair,
    twin_recipe,
)
from compression.distillation.losses import LOSSES
from compression.distillation.recovery import KDRecovery

__all__ = [
    "LOSSES",
    "DistillConfig",
    "KDRecovery",
    "PairResult",
    "apply",
    "build_student",
    "cache",
    "explore",
    "labelled_mask",
    "losses",
    "start_settings",
    "train_pair",
    "twin_recipe",
]
