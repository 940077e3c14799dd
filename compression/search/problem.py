"""What a search optimises: the problem (data, baseline, space, objectives, constraint) and one trial.

Objectives are registered by name: validation accuracy (maximised) and the costs a point really
changes (minimised): the measured artifact size, the effective (zero-skipping) MACs and, for the
architecture space only, the measured latency. Latency is not offered for the policy space: masked
and fake-quantized weights still run as dense float kernels, so every policy times like the
baseline (the Compare page says why). Each space (SPACES) says which costs it offers and how a
trial's model is made (`trial_model`) and how a chosen trial is rebuilt for recording (`build`).
A size budget ("at most 40 KB") turns the search into accuracy under a constraint: Optuna's
samplers get it as `constraints_func`, our own samplers as a penalty in their scalar score.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from torch import nn

from compression import data, fmt, latency, metrics, train
from compression.pareto import Direction, hypervolume, non_dominated
from compression.pruning import core as pruning_core
from compression.search.arch import ArchSpace
from compression.search.space import PolicySpace

OVER_PENALTY = 2.0  # scalar score lost per fraction of the size budget exceeded


@dataclass(frozen=True)
class Objective:
    name: str
    title: str
    direction: Direction
    unit: str


OBJECTIVES: dict[str, Objective] = {
    "acc": Objective("acc", "validation accuracy", "max", "%"),
    "size": Objective("size", "measured size", "min", "KB"),
    "macs": Objective("macs", "effective MACs", "min", "M"),
    "latency": Objective("latency", "measured latency", "min", "ms"),
}
LATENCY_BATCH = 1  # a trial's latency: one image per forward pass, 1 thread
LATENCY_ROUNDS = (
    2  # paired rounds per trial (with calibration about 1 s under load); a recorded run is re-timed in full
)
Space = PolicySpace | ArchSpace
SPACES: dict[str, type[PolicySpace] | type[ArchSpace]] = {"policy": PolicySpace, "arch": ArchSpace}


@dataclass(frozen=True)
class Problem:
    dataset: str = "fashion-mnist"
    model: str = "lenet5"
    space: Space = field(default_factory=PolicySpace)
    objectives: tuple[str, ...] = ("acc", "size")  # acc first; one or two costs
    max_size_kb: float | None = None  # a size budget: trials above it are infeasible
    val_images: int = (
        1000  # validation subset each trial is scored on (the chosen ones are re-measured in full)
    )

    def __post_init__(self) -> None:
        if (
            not self.objectives
            or self.objectives[0] != "acc"
            or len(set(self.objectives)) != len(self.objectives)
        ):
            raise ValueError("objectives must start with 'acc' and not repeat")
        unknown = [o for o in self.objectives if o not in OBJECTIVES]
        if unknown or not 2 <= len(self.objectives) <= 3:
            raise ValueError(f"two or three objectives from {', '.join(OBJECTIVES)} (got {self.objectives})")
        if not set(self.objectives[1:]) <= set(self.space.costs):
            raise ValueError(
                f"the {self.space.title} space offers the costs {', '.join(self.space.costs)} (got {self.objectives})"
            )
        if self.max_size_kb is not None and not 0 < self.max_size_kb < math.inf:
            raise ValueError(f"max_size_kb must be a positive number of KB, got {self.max_size_kb}")
        if self.val_images < 10:
            raise ValueError("val_images must be at least 10")

    @property
    def directions(self) -> list[Direction]:
        return [OBJECTIVES[o].direction for o in self.objectives]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["space"] = self.space.as_dict()
        d["objectives"] = list(self.objectives)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Problem:
        d = dict(d)
        space = dict(d.get("space", {}))
        kind = space.pop("kind", "policy")
        if kind not in SPACES:
            raise ValueError(f"Unknown search space '{kind}'. Known: {', '.join(SPACES)}")
        d["space"] = SPACES[kind](**space)
        d["objectives"] = tuple(d.get("objectives", ("acc", "size")))
        return cls(**d)

    def key(self) -> str:
        """Studies with the same key searched the same problem: their fronts are comparable."""
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Reference:
    """The baseline's own costs: the hypervolume's reference corner and the scalar's scale."""

    dense_kb: float  # fp32 size of every weight of the baseline
    macs: float  # the baseline's MACs, in millions
    acc: float  # the baseline's validation accuracy on the same subset
    latency_ms: float = 0.0  # the baseline's latency (measured only for a latency objective)
    images: int = 0  # validation images scored: val_images, or fewer on a small split (0: not recorded)

    def point(self, objectives: Sequence[str]) -> list[float]:
        """(0 accuracy, the dense size, the dense MACs, its latency): anything a policy does lies
        inside it; an architecture costlier than the baseline adds nothing to the hypervolume."""
        corner = {"acc": 0.0, "size": self.dense_kb, "macs": self.macs, "latency": self.latency_ms}
        return [corner[o] for o in objectives]


@dataclass
class EvalContext:
    """A dataset and its baseline, loaded once per process, and the layers the policy sets."""

    ds: data.Dataset
    baseline: nn.Module  # never mutated
    weights_hash: str
    _refs: dict[int, Reference] = field(default_factory=dict, repr=False)  # per validation subset size

    @functools.cached_property
    def layers(self) -> list[str]:
        return pruning_core.layer_names(self.baseline)

    def val(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ds.x_val[:n], self.ds.y_val[:n]

    def reference(self, problem: Problem) -> Reference:
        timed = "latency" in problem.objectives
        ref = self._refs.get(problem.val_images)
        if ref is None:
            x, y = self.val(problem.val_images)
            acc = metrics.evaluate(self.baseline, x, y)[0]
            executed, _ = metrics.macs(self.baseline, self.ds.input_shape)
            ref = Reference(metrics.dense_bytes(self.baseline) / fmt.KB, executed / 1e6, acc, images=len(y))
        if timed and not ref.latency_ms:
            ref = replace(
                ref, latency_ms=metrics.latency_ms(self.baseline, self.ds.input_shape, LATENCY_BATCH)
            )
        self._refs[problem.val_images] = ref
        return ref


def context_for(ds: data.Dataset, baseline: nn.Module) -> EvalContext:
    return EvalContext(ds, baseline, train.weights_hash(baseline))


@functools.lru_cache(maxsize=4)
def load_context(dataset: str, model: str) -> EvalContext:
    """The dataset and the trained (shipped or cached) baseline of (dataset, model)."""
    base = train.load_baseline(train.default_config(dataset, model))
    if base is None:
        raise FileNotFoundError(
            f"No trained {model} baseline for {dataset}: `python -m compression train --dataset {dataset} --model {model}`"
        )
    return context_for(data.load(dataset), base)


@dataclass(frozen=True)
class TrialResult:
    values: tuple[float, ...]  # in the order of problem.objectives (acc as a fraction)
    acc: float
    size_kb: float
    macs: float  # effective MACs, millions
    seconds: float
    latency_ms: float = math.nan  # measured only for a latency objective


def evaluate(problem: Problem, ctx: EvalContext, params: dict[str, Any]) -> TrialResult:
    """Make the point's model (a policy applied without fine-tuning, or an architecture's short
    proxy training) and score it on the validation subset and its measured costs."""
    t0 = time.perf_counter()
    model = problem.space.trial_model(ctx, params)
    x, y = ctx.val(problem.val_images)
    acc = metrics.evaluate(model, x, y)[0]
    size_kb = metrics.artifact_bytes(model) / fmt.KB
    macs = metrics.macs(model, ctx.ds.input_shape)[1] / 1e6
    lat = trial_latency_ms(ctx, problem, model) if "latency" in problem.objectives else math.nan
    by_name = {"acc": acc, "size": size_kb, "macs": macs, "latency": lat}
    return TrialResult(
        tuple(by_name[o] for o in problem.objectives), acc, size_kb, macs, time.perf_counter() - t0, lat
    )


def trial_latency_ms(ctx: EvalContext, problem: Problem, model: nn.Module) -> float:
    """The baseline's latency over the paired speed-up (ABBA rounds, thread CPU time): a burst of
    load hits both halves of a round alike, so trials timed minutes apart stay comparable."""
    paired = latency.paired_latency(
        ctx.baseline, model, ctx.ds.input_shape, LATENCY_BATCH, threads=1, rounds=LATENCY_ROUNDS, round_s=0.01
    )
    return ctx.reference(problem).latency_ms / paired.speedup


def feasible(problem: Problem, size_kb: float) -> bool:
    return problem.max_size_kb is None or size_kb <= problem.max_size_kb


def scalar(problem: Problem, ref: Reference, values: Sequence[float], lam: float) -> float:
    """One number for the samplers that need one (SA, REINFORCE): higher is better.

    Without a budget: acc - lam x sum(log(cost / baseline cost)), so halving the size is worth
    lam x 0.69 of accuracy. With a size budget: acc minus OVER_PENALTY x the fraction by which
    the budget is exceeded. A soft penalty, not a cliff: 1 % over costs 2 accuracy points, about
    one initial temperature, so an annealing walk can cross the boundary while it is hot and
    trade bits between layers along it (the reported best is always a feasible trial).
    """
    v = dict(zip(problem.objectives, values, strict=True))
    if problem.max_size_kb is not None:
        over = max(0.0, v["size"] / problem.max_size_kb - 1.0)
        return v["acc"] - OVER_PENALTY * over
    scale = {"size": ref.dense_kb, "macs": ref.macs, "latency": ref.latency_ms or 1.0}
    return v["acc"] - lam * sum(math.log(max(v[o], 1e-9) / scale[o]) for o in problem.objectives[1:])


def front_mask(problem: Problem, values: Sequence[Sequence[float]], sizes: Sequence[float]) -> list[bool]:
    """The non-dominated feasible points."""
    ok = [feasible(problem, s) for s in sizes]
    pts = [v for v, f in zip(values, ok, strict=True) if f]
    mask = iter(non_dominated(pts, problem.directions).tolist() if pts else [])
    return [next(mask) if f else False for f in ok]


def hv(problem: Problem, ref: Reference, values: Sequence[Sequence[float]], sizes: Sequence[float]) -> float:
    """Hypervolume of the feasible points against the baseline corner (compression.pareto), as a
    fraction of the box between that corner and the ideal point (100 % accuracy at zero cost)."""
    pts = [v for v, s in zip(values, sizes, strict=True) if feasible(problem, s)]
    if not pts:
        return 0.0
    corner = ref.point(problem.objectives)
    box = math.prod(1.0 if o == "acc" else c for o, c in zip(problem.objectives, corner, strict=True))
    return hypervolume(pts, corner, problem.directions) / box


def hv_history(
    problem: Problem, ref: Reference, values: Sequence[Sequence[float]], sizes: Sequence[float]
) -> list[float]:
    """Hypervolume after each trial (trials in the order given: by trial number)."""
    return [hv(problem, ref, values[: i + 1], sizes[: i + 1]) for i in range(len(values))]
