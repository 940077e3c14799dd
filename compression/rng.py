"""Seeded draws from torch's default generator, one thread at a time.

torch has one default CPU generator per process, and the server runs every visitor's page and every
background job in a thread of its own. A seed set by one thread and the draws of another interleave,
so the same seed could build different initial weights depending on who else was busy. Every seeded
construction holds one lock from its seed to its last draw; `seed` alone takes it for the seeding.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch.manual_seed(seed), and no other thread seeds until the block ends."""
    with _LOCK:
        torch.manual_seed(seed)
        yield


def seed(seed: int) -> None:
    """torch.manual_seed(seed), never in the middle of another thread's seeded block."""
    with _LOCK:
        torch.manual_seed(seed)


def reinit(model: nn.Module, seed: int) -> nn.Module:
    """Draw every layer's initial weights again from `seed` (so that a config's seed means something)."""
    with seeded(seed):
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model
