"""DARTS: differentiable architecture search (Liu et al. 2019) with its collapse cures.

ops.py (the eight operations, the mixed op, PC-DARTS partial channels), genotype.py (derivation,
random cells), network.py (search network, genotype network), search.py (first- and second-order
architecture steps), selection.py (perturbation-based selection, DARTS-PT), retrain.py (retraining, the
registered technique "darts").

Notes on the shared contract (the page codes against these names):
- `derive` ranks edges by the weights given; `search` passes softmax(alpha) x the edge's normalised
  beta (PC-DARTS edge normalisation; all betas are 1 without partial channels). EpochRecord alphas
  are the plain softmax over OPS per edge.
- The "cap-skips" cure applies to the normal cell (P-DARTS); reduction cells are derived uncapped.
- When the "early-stop" cure fires at epoch e (normal cell > 2 skips), SearchResult.genotype is the
  genotype of epoch e - 1 (the last one before the skips took over; epoch e's when e = 1).
- EpochRecord has two extra fields (with defaults): ranked_normal / ranked_reduce, the weights
  derivation ranks (softmax(alpha) x normalised beta), so any cure can be re-derived from a record.
- selection "perturbation" (DARTS-PT, selection.py) derives the final genotype from how much the
  supernet's validation loss rises when each op is struck out; per-epoch records stay alpha-derived.
- Extra names: SELECTIONS, CURES, MAX_SKIPS, TARGET (the recorded fashion-mnist search), pick_device, search_and_retrain, training_split.
"""

from compression.search.darts.config import (
    CURES,
    MAX_SKIPS,
    SELECTIONS,
    TARGET,
    DartsConfig,
    EpochRecord,
    SearchResult,
    pick_device,
    start_retrain_epochs,
    start_retrain_lr,
)
from compression.search.darts.genotype import Genotype, derive, edge_labels, random_genotype
from compression.search.darts.network import build_network
from compression.search.darts.ops import OPS
from compression.search.darts.retrain import retrain, search_and_retrain, training_split
from compression.search.darts.search import search

__all__ = [
    "CURES",
    "MAX_SKIPS",
    "OPS",
    "SELECTIONS",
    "TARGET",
    "DartsConfig",
    "EpochRecord",
    "Genotype",
    "SearchResult",
    "build_network",
    "derive",
    "edge_labels",
    "pick_device",
    "random_genotype",
    "retrain",
    "search",
    "search_and_retrain",
    "start_retrain_epochs",
    "start_retrain_lr",
    "training_split",
]
