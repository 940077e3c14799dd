"""Two samplers Optuna does not ship: simulated annealing and a REINFORCE controller.

Hand-written because Optuna has neither (OptunaHub's annealing sampler is single-objective and
not pip-installable on its own) and each is a few dozen lines of numpy. Both are *replayed*:
their state (the annealing walk, the controller's logits) is a pure function of the study's
completed trials in trial-number order plus a seed, and each proposal draws from a generator
seeded by (seed, trial number). So several workers on one study share one walk or one
controller through the storage, with no state of their own, and the traces are testable.

Both maximise the problem's scalar score (`problem.scalar`): acc - lambda x log(cost ratio),
or accuracy under the size budget with a penalty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.trial import FrozenTrial, TrialState

from compression.search.space import grid, index_of

Score = Callable[[Sequence[float]], float]


def _rng(seed: int, number: int, salt: int) -> np.random.Generator:
    return np.random.default_rng([seed, number, salt])


def _completed(study: optuna.Study) -> list[FrozenTrial]:
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return sorted(trials, key=lambda t: t.number)


def _random_point(space: dict[str, BaseDistribution], rng: np.random.Generator) -> dict[str, Any]:
    return {k: grid(d)[int(rng.integers(len(grid(d))))] for k, d in space.items()}


class _Replayed(BaseSampler):
    """Common plumbing: a fixed search space, every parameter sampled relatively."""

    def __init__(self, space: dict[str, BaseDistribution], score: Score, seed: int = 0) -> None:
        self.space = dict(space)
        self.score = score
        self.seed = seed

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return dict(self.space)

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        values = grid(param_distribution)
        return values[int(_rng(self.seed, trial.number, 99).integers(len(values)))]

    def scored(self, study: optuna.Study) -> list[tuple[FrozenTrial, float]]:
        return [
            (t, self.score(t.values)) for t in _completed(study) if all(k in t.params for k in self.space)
        ]


# ---------------------------------------------------------------- simulated annealing


@dataclass(frozen=True)
class SAStep:
    number: int  # trial number
    temperature: float
    score: float  # this trial's scalar score
    current: float  # the walk's score after this trial
    best: float
    p_accept: float  # probability with which this trial was accepted
    accepted: bool


def temperature(t0: float, cooling: float, k: int) -> float:
    """Geometric cooling (PaddleSlim SANAS): T_k = T_0 x rate^k, k = completed trials so far."""
    return t0 * cooling**k


def accept_probability(new: float, current: float, temp: float) -> float:
    """Metropolis: 1 when not worse, else exp((new - current) / T) (scores are maximised)."""
    if new >= current:
        return 1.0
    if temp <= 0:
        return 0.0
    return math.exp((new - current) / temp)


def sa_trace(scored: Sequence[tuple[int, float]], t0: float, cooling: float, seed: int) -> list[SAStep]:
    """Replay the walk over (trial number, score) pairs in order: the same answer in every worker."""
    steps: list[SAStep] = []
    current = best = -math.inf
    for k, (number, s) in enumerate(scored):
        temp = temperature(t0, cooling, k)
        p = 1.0 if k == 0 else accept_probability(s, current, temp)
        accepted = bool(_rng(seed, number, 1).random() < p) if p < 1 else True
        if accepted:
            current = s
        best = max(best, s)
        steps.append(SAStep(number, temp, s, current, best, p, accepted))
    return steps


class SimulatedAnnealingSampler(_Replayed):
    """Simulated annealing over the grids: a neighbour of the walk's current point each trial.

    A neighbour moves `moves` randomly chosen parameters by one or two grid steps. The walk's
    current point is the last accepted trial of the replayed trace (`sa_trace`).
    """

    def __init__(
        self,
        space: dict[str, BaseDistribution],
        score: Score,
        seed: int = 0,
        t0: float = 0.02,
        cooling: float = 0.96,
        moves: int = 2,
    ) -> None:
        super().__init__(space, score, seed)
        if t0 <= 0 or not 0 < cooling <= 1:
            raise ValueError("need t0 > 0 and 0 < cooling <= 1")
        self.t0, self.cooling, self.moves = t0, cooling, moves

    def trace(self, study: optuna.Study) -> list[SAStep]:
        scored = self.scored(study)
        return sa_trace([(t.number, s) for t, s in scored], self.t0, self.cooling, self.seed)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        rng = _rng(self.seed, trial.number, 2)
        scored = self.scored(study)
        if not scored:
            return _random_point(self.space, rng)
        steps = sa_trace([(t.number, s) for t, s in scored], self.t0, self.cooling, self.seed)
        current_number = next(s.number for s in reversed(steps) if s.accepted)
        current = next(t for t, _ in scored if t.number == current_number).params
        return neighbour(self.space, current, rng, self.moves)


def neighbour(
    space: dict[str, BaseDistribution], point: dict[str, Any], rng: np.random.Generator, moves: int = 2
) -> dict[str, Any]:
    """Move `moves` distinct parameters by +-1 or +-2 grid steps (clamped; never a no-op move)."""
    out = dict(point)
    keys = list(space)
    for i in rng.choice(len(keys), size=min(moves, len(keys)), replace=False):
        key = keys[int(i)]
        values = grid(space[key])
        here = index_of(space[key], out[key])
        options = [here + d for d in (-2, -1, 1, 2) if 0 <= here + d < len(values)]
        out[key] = values[int(rng.choice(options))] if options else values[here]
    return out


# ---------------------------------------------------------------- REINFORCE controller


@dataclass
class Controller:
    """Independent softmax policies, one per parameter over its grid (logits start at 0: uniform)."""

    logits: dict[str, np.ndarray]
    baseline: float | None = None  # moving average of the reward
    spread: float = 0.0  # moving mean absolute deviation, to normalise the advantage

    def probs(self, key: str) -> np.ndarray:
        z = self.logits[key] - self.logits[key].max()
        p = np.exp(z)
        return p / p.sum()

    def update(self, action: dict[str, int], reward: float, lr: float, decay: float) -> None:
        """One REINFORCE step: logits += lr x A x (onehot(a) - pi), A the normalised advantage."""
        if self.baseline is None:
            self.baseline = reward
            return
        advantage = reward - self.baseline
        self.spread = decay * self.spread + (1 - decay) * abs(advantage) if self.spread else abs(advantage)
        a = advantage / max(self.spread, 1e-6)
        for key, idx in action.items():
            grad = -self.probs(key)
            grad[idx] += 1.0
            self.logits[key] = self.logits[key] + lr * a * grad
        self.baseline = decay * self.baseline + (1 - decay) * reward


def replay_controller(
    space: dict[str, BaseDistribution],
    scored: Sequence[tuple[dict[str, Any], float]],
    lr: float,
    decay: float,
) -> Controller:
    ctrl = Controller({k: np.zeros(len(grid(d))) for k, d in space.items()})
    for params, reward in scored:
        ctrl.update({k: index_of(d, params[k]) for k, d in space.items()}, reward, lr, decay)
    return ctrl


class ReinforceSampler(_Replayed):
    """A policy-gradient (REINFORCE, Williams 1992) controller over the discrete choices.

    The seed's RL strategy as in NAS/AMC, kept small: a factorised softmax per parameter rather
    than an RNN or DDPG agent, because a few dozen trials cannot train more than that.
    """

    def __init__(
        self,
        space: dict[str, BaseDistribution],
        score: Score,
        seed: int = 0,
        lr: float = 0.3,
        decay: float = 0.9,
    ) -> None:
        super().__init__(space, score, seed)
        self.lr, self.decay = lr, decay

    def controller(self, study: optuna.Study) -> Controller:
        return replay_controller(
            self.space, [(t.params, s) for t, s in self.scored(study)], self.lr, self.decay
        )

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        ctrl = self.controller(study)
        rng = _rng(self.seed, trial.number, 3)
        return {k: grid(d)[int(rng.choice(len(grid(d)), p=ctrl.probs(k)))] for k, d in self.space.items()}
