"""Teacher outputs computed once per (teacher weights, dataset, split) and reused by every student.

A student epoch then costs what a scratch epoch costs: the teacher never runs inside the loop.
Entries live in memory (a small LRU shared by the page, the CLI and the benches); the key also
holds a fingerprint of the split's images, so a subset or a changed dataset never hits a stale entry.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from compression import train
from compression.data import Dataset
from compression.distillation.losses import FeatureTap

MAX_ENTRIES = 16
EVAL_BATCH = 1024


@dataclass(frozen=True)
class TeacherOutputs:
    logits: torch.Tensor  # (N, classes)
    features: torch.Tensor | None  # (N, d): penultimate features, only when asked for (hint loss)


_CACHE: OrderedDict[tuple[str, ...], TeacherOutputs] = OrderedDict()
_LOCK = threading.Lock()
computed = 0  # how many times a teacher really ran (tests read it)


def fingerprint(x: torch.Tensor) -> str:
    """Shape plus a strided sample of the values: cheap, and distinct for any real change of split."""
    flat = x.detach().reshape(-1)
    sample = flat[:: max(1, flat.numel() // 4096)].contiguous()
    h = hashlib.sha256(str(tuple(x.shape)).encode())
    h.update(sample.float().numpy().tobytes())
    return h.hexdigest()[:12]


def key(teacher_hash: str, ds: Dataset, split: str, features: bool = False) -> tuple[str, ...]:
    x, _ = ds.split(split)
    return (teacher_hash, ds.name, split, fingerprint(x), "features" if features else "logits")


def _run(teacher: nn.Module, x: torch.Tensor, features: bool) -> TeacherOutputs:
    was_training = teacher.training
    teacher.eval()  # restored below: the caller's model is left as it came
    tap = FeatureTap(teacher) if features else None
    logits, feats = [], []
    try:
        with torch.no_grad():
            for i in range(0, len(x), EVAL_BATCH):
                logits.append(teacher(x[i : i + EVAL_BATCH]))
                if tap is not None and tap.value is not None:
                    feats.append(tap.value)
    finally:
        if tap is not None:
            tap.close()
        teacher.train(was_training)
    return TeacherOutputs(torch.cat(logits), torch.cat(feats) if feats else None)


def teacher_outputs(
    teacher: nn.Module,
    ds: Dataset,
    split: str = "train",
    *,
    features: bool = False,
    teacher_hash: str | None = None,
) -> TeacherOutputs:
    """The teacher's logits (and penultimate features) on a split, from the cache when present."""
    global computed
    k = key(teacher_hash or train.weights_hash(teacher), ds, split, features)
    with _LOCK:
        if k in _CACHE:
            _CACHE.move_to_end(k)
            return _CACHE[k]
    out = _run(teacher, ds.split(split)[0], features)
    with _LOCK:
        computed += 1
        _CACHE[k] = out
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return out


def clear() -> None:
    with _LOCK:
        _CACHE.clear()
