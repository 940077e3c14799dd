"""Search (AutoML): compression-policy search on Optuna, with every strategy the seed names.

space.py (the per-layer policy space), problem.py (objectives, constraint, one trial, hypervolume),
samplers.py (our simulated annealing and REINFORCE), strategies.py (the registry), study.py
(RDB storage, the worker loop, reading and recording trials).
"""

from compression.search.problem import OBJECTIVES, EvalContext, Problem, Reference, context_for, load_context
from compression.search.space import PolicySpace
from compression.search.strategies import STRATEGIES, Knobs

__all__ = [
    "OBJECTIVES",
    "STRATEGIES",
    "EvalContext",
    "Knobs",
    "PolicySpace",
    "Problem",
    "Reference",
    "context_for",
    "load_context",
]
