"""Search strategies: one registry of sampler factories, the page and the CLI both iterate it.

Optuna's samplers are passed explicitly (Optuna 5 changed the default). A size budget reaches
them through `Trial.set_constraint` (Optuna 5 deprecated `constraints_func`). NSGA-II's population
is sized for small budgets (Optuna's default of 50 would spend a 40-trial budget on its
random first generation). Simulated annealing and REINFORCE are ours (compression.search.samplers).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.samplers import BaseSampler

from compression.search import problem as P
from compression.search import samplers

# Optuna's notices for its experimental parts (RDB heartbeat, stale-trial failing, GPSampler, NSGA-II's
# mutation), filtered once for the process (`warnings.catch_warnings()` per call is not thread-safe)
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@dataclass(frozen=True)
class Knobs:
    """Strategy settings a study keeps (so every worker builds the same sampler)."""

    lam: float = 0.02  # SA / RL scalar: accuracy traded per log-unit of cost (10x smaller ~ 4.6 lam)
    sa_t0: float = 0.02  # SA initial temperature, in score units (0.02 = 2 accuracy points)
    sa_cooling: float = 0.96  # SA: T_k = t0 x cooling^k
    rl_lr: float = 0.3  # REINFORCE step on the logits per normalised advantage
    population: int = 0  # NSGA-II population; 0: budget / 5, clamped to 4..20
    nsga_eta: float = 20.0  # NSGA-II polynomial mutation index (local steps on ordered grids); 0: resample
    seeded: bool | None = (
        None  # first trials = a spread of uniform policies (enqueued); None: the strategy's default
    )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Setup:
    """Everything a sampler needs: the problem, its reference, the seed, the budget."""

    problem: P.Problem
    ref: P.Reference
    layers: list[str]
    seed: int
    budget: int
    knobs: Knobs

    def score(self, values: Any) -> float:
        return P.scalar(self.problem, self.ref, values, self.knobs.lam)


@dataclass(frozen=True)
class Strategy:
    name: str
    title: str
    make: Callable[[Setup], BaseSampler]
    note: str  # one line for the page and --help
    shared: bool = False  # state replayed from the study: every worker uses the study's seed as is
    seeded: bool = False  # by default, the first trials are a spread of uniform policies (first_generation)


def _population(s: Setup) -> int:
    return s.knobs.population or max(4, min(20, s.budget // 5))


def _nsga2(s: Setup) -> BaseSampler:
    """Polynomial mutation (Deb's NSGA-II, eta = knobs.nsga_eta) moves a choice a few grid steps from
    its parent; Optuna's default re-draws it uniformly, which at 40 trials is mostly random search."""
    mutation = None
    if s.knobs.nsga_eta > 0:
        mutation = optuna.samplers.nsgaii.PolynomialMutation(eta=s.knobs.nsga_eta)
    return optuna.samplers.NSGAIISampler(population_size=_population(s), seed=s.seed, mutation=mutation)


def first_generation(name: str, setup: Setup) -> list[dict[str, Any]]:
    """Points a study enqueues at creation: with `seeded` (NSGA-II's default), a population's worth of
    uniform policies from the widest to the narrowest. At 40 trials NSGA-II lives on its first
    generation; a random one of 8 rarely reaches the small end of the size axis, these span it (the
    uniform policies AMC and HAQ compare against), and evolution then trades choices between layers.
    The architecture space has no uniform policies: its first generation stays random."""
    seeded = STRATEGIES[name].seeded if setup.knobs.seeded is None else setup.knobs.seeded
    if not seeded:
        return []
    spread = getattr(setup.problem.space, "spread", None)
    return spread(setup.layers, min(_population(setup), setup.budget)) if spread else []


def _gp(s: Setup) -> BaseSampler:
    return optuna.samplers.GPSampler(seed=s.seed, n_startup_trials=min(10, max(4, s.budget // 4)))


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy(
            "random",
            "Random",
            lambda s: optuna.samplers.RandomSampler(seed=s.seed),
            "uniform on every grid: the baseline",
        ),
        Strategy(
            "tpe",
            "TPE",
            lambda s: optuna.samplers.TPESampler(
                seed=s.seed,
                n_startup_trials=min(10, max(4, s.budget // 4)),
                multivariate=True,
            ),
            "Tree-structured Parzen estimator (Optuna), multivariate, multi-objective",
        ),
        Strategy(
            "nsga2",
            "NSGA-II",
            _nsga2,
            "evolutionary, non-dominated sorting (Optuna); population = budget / 5 (4..20), polynomial mutation, "
            "first generation = uniform policies from widest to narrowest",
            seeded=True,
        ),
        Strategy("gp", "Gaussian process", _gp, "Bayesian optimisation with logEHVI (Optuna's GPSampler)"),
        Strategy(
            "sa",
            "Simulated annealing",
            lambda s: samplers.SimulatedAnnealingSampler(
                space_of(s), s.score, seed=s.seed, t0=s.knobs.sa_t0, cooling=s.knobs.sa_cooling
            ),
            "ours (Optuna ships none): PaddleSlim SANAS-style walk, T0 and cooling rate",
            shared=True,
        ),
        Strategy(
            "rl",
            "REINFORCE controller",
            lambda s: samplers.ReinforceSampler(space_of(s), s.score, seed=s.seed, lr=s.knobs.rl_lr),
            "ours (Optuna has no RL): a softmax policy per layer choice, policy gradient",
            shared=True,
        ),
    )
}


def space_of(s: Setup) -> dict[str, Any]:
    return s.problem.space.distributions(s.layers)


def make_sampler(name: str, setup: Setup) -> BaseSampler:
    if name not in STRATEGIES:
        raise ValueError(f"Unknown strategy '{name}'. Known: {', '.join(STRATEGIES)}")
    return STRATEGIES[name].make(setup)
