"""Studies in Optuna's RDB storage, and the worker loop that any number of processes can run.

Storage: by default its own SQLite file (`studies.db`) beside the run store's, or any
SQLAlchemy URL (COMPRESSION_STUDIES or --storage); with PostgreSQL, workers on several
machines share one study. Optuna's tables have generic names (studies, trials, ...), so the
URL must never be the run store's: give it its own file, database or schema.

A study keeps everything a worker needs in its user attributes (the problem, strategy, seed,
budget, the baseline's hash and reference costs), so `search worker --study NAME` needs nothing
else. The budget counts completed trials: each worker checks it before every trial, so a
killed worker's trial (failed by Optuna's heartbeat) is simply replaced. The budget is exact
across workers: Optuna numbers trials uniquely in the storage, so a trial runs only if fewer than
`budget` trials before it (by number) hold a slot (complete, running or waiting); two workers
that both saw budget - 1 done cannot both run one more: the later number is told PRUNED without
compute (`within_budget`).
"""

from __future__ import annotations

import math
import os
import re
import socket
import threading
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd
import sqlalchemy
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.trial import TrialState

from compression import metrics, runs
from compression.search import problem as P
from compression.search import strategies as S
from compression.train import Progress, StopFlag

ENV = "COMPRESSION_STUDIES"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # safe in a link, a command line and Markdown
HEARTBEAT_S = 5  # a running trial's heartbeat; one silent for GRACE_S is failed (its worker died)
GRACE_S = 20
WAIT_LIMIT_S = 6  # in grace periods: how long a worker waits on others' last running trials before giving up
optuna.logging.set_verbosity(optuna.logging.WARNING)


def default_storage() -> str:
    return os.environ.get(ENV) or f"sqlite:///{runs.data_dir() / 'studies.db'}"


def shown(url: str) -> str:
    """A storage URL as a page or message may show it: without its password."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:  # not a URL at all: nothing to hide
        return url


_STORAGES: dict[str, optuna.storages.RDBStorage] = {}
_LOCK = threading.Lock()


def storage(url: str | None = None) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage for `url` (one per process), refused if it is the run store's URL."""
    url = url or default_storage()
    if url == runs.default_url():
        raise ValueError(
            "The study storage must not be the run store (Optuna's tables have generic names): "
            f"use another file, database or schema than {shown(url)}"
        )
    with _LOCK:
        if url not in _STORAGES:
            if url.startswith("sqlite:///"):
                from pathlib import Path

                Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            kwargs: dict[str, Any] = {"pool_pre_ping": True}
            if url.startswith("sqlite"):
                kwargs["connect_args"] = {"timeout": 60}
            elif url.startswith("postgresql"):  # a host that does not answer: say so in seconds, not minutes
                kwargs["connect_args"] = {"connect_timeout": 10}
            try:
                _STORAGES[url] = optuna.storages.RDBStorage(
                    url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
                )
            except (sqlalchemy.exc.SQLAlchemyError, ImportError) as exc:  # a mistyped URL, a missing driver
                raise ValueError(f"cannot open the study storage {shown(url)}: {exc}") from exc
        return _STORAGES[url]


@dataclass(frozen=True)
class Info:
    """What a study is about, read back from its user attributes."""

    name: str
    problem: P.Problem
    strategy: str
    seed: int
    budget: int
    knobs: S.Knobs
    ref: P.Reference
    layers: list[str]
    weights_hash: str
    stopped: bool

    @classmethod
    def of(cls, study: optuna.Study) -> Info:
        return cls.from_attrs(study.study_name, study.user_attrs)

    @classmethod
    def from_attrs(cls, name: str, attrs: dict[str, Any]) -> Info:
        a = attrs["search"]  # written once at creation; budget and stopped change later
        return cls(
            name=name,
            problem=P.Problem.from_dict(a["problem"]),
            strategy=a["strategy"],
            seed=int(a["seed"]),
            budget=int(attrs.get("budget", a["budget"])),
            knobs=S.Knobs(**a.get("knobs", {})),
            ref=P.Reference(**a["ref"]),
            layers=list(a["layers"]),
            weights_hash=a["weights_hash"],
            stopped=bool(attrs.get("stopped", False)),
        )

    def setup(self, worker_index: int = 0, trials_before: int = 0) -> S.Setup:
        """The sampler's setup. Its seed is the study's for the first worker of a new study, so a seed
        gives the same trials in any process; another worker, or a resumed run (`trials_before` trials
        already in the study), draws from a stream of its own instead of repeating the first trials."""
        shared = S.STRATEGIES[self.strategy].shared
        seed = self.seed if shared else self.seed + 7919 * worker_index + 104729 * trials_before
        return S.Setup(self.problem, self.ref, self.layers, seed, self.budget, self.knobs)


def new_name(problem: P.Problem, strategy: str, seed: int) -> str:
    return f"{problem.dataset}-{problem.model}-{strategy}-s{seed}-{uuid.uuid4().hex[:6]}"


def create(
    problem: P.Problem,
    strategy: str,
    *,
    seed: int = 0,
    budget: int = 40,
    knobs: S.Knobs | None = None,
    name: str | None = None,
    storage_url: str | None = None,
    ctx: P.EvalContext | None = None,
) -> str:
    """Create a study for this problem and strategy; returns its name."""
    if strategy not in S.STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'. Known: {', '.join(S.STRATEGIES)}")
    if budget < 1:
        raise ValueError("budget must be at least 1 trial")
    ctx = ctx or P.load_context(problem.dataset, problem.model)
    name = name or new_name(problem, strategy, seed)
    if not NAME.fullmatch(name):
        raise ValueError(
            f"A study name is 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit; "
            f"not {name[:100]!r}."
        )
    ref = ctx.reference(problem)
    directions = ["maximize" if d == "max" else "minimize" for d in problem.directions]
    study = optuna.create_study(study_name=name, storage=storage(storage_url), directions=directions)
    attrs = {
        "problem": problem.as_dict(),
        "problem_key": problem.key(),
        "strategy": strategy,
        "seed": seed,
        "budget": budget,
        "knobs": (knobs or S.Knobs()).as_dict(),
        "ref": ref.__dict__,
        "layers": ctx.layers,
        "weights_hash": ctx.weights_hash,
        "created": time.time(),
    }
    study.set_user_attr("search", attrs)  # one write: a new study is ready sooner
    study.set_user_attr("budget", budget)
    setup = S.Setup(problem, ref, ctx.layers, seed, budget, knobs or S.Knobs())
    for point in S.first_generation(strategy, setup):  # NSGA-II seeded: taken first by any worker
        study.enqueue_trial(point, skip_if_exists=True)
    return name


def load(name: str, storage_url: str | None = None) -> optuna.Study:
    """The study called `name`; ValueError when the storage holds none."""
    store = storage(storage_url)
    try:
        return optuna.load_study(study_name=name, storage=store)
    except KeyError as exc:
        raise ValueError(f"no study named {name!r} in {storage_url or default_storage()}") from exc


def set_budget(name: str, budget: int, storage_url: str | None = None) -> None:
    load(name, storage_url).set_user_attr("budget", int(budget))


def set_stopped(name: str, stopped: bool, storage_url: str | None = None) -> None:
    """Stop asks every worker of the study (page, CLI, other machines) to end after its trial."""
    load(name, storage_url).set_user_attr("stopped", bool(stopped))


SLOTLESS = (TrialState.FAIL, TrialState.PRUNED)  # a failed trial is redone; a pruned one was skipped


def within_budget(study: optuna.Study, number: int, budget: int) -> bool:
    """May trial `number` run? Only if fewer than `budget` trials numbered before it hold a slot."""
    taken = sum(1 for t in study.get_trials(deepcopy=False) if t.number < number and t.state not in SLOTLESS)
    return taken < budget


@dataclass(frozen=True)
class Counts:
    complete: int
    running: int
    failed: int
    budget: int

    @property
    def done(self) -> bool:
        return self.complete >= self.budget


def counts(study: optuna.Study, budget: int | None = None) -> Counts:
    by: dict[TrialState, int] = {}
    for t in study.get_trials(deepcopy=False):
        by[t.state] = by.get(t.state, 0) + 1
    b = int(study.user_attrs.get("budget", 0)) if budget is None else budget
    return Counts(
        by.get(TrialState.COMPLETE, 0), by.get(TrialState.RUNNING, 0), by.get(TrialState.FAIL, 0), b
    )


def _suggest(trial: optuna.Trial, name: str, dist: Any) -> Any:
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step)
    assert isinstance(dist, FloatDistribution)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step)


def run(
    name: str,
    storage_url: str | None = None,
    *,
    ctx: P.EvalContext | None = None,
    timeout_s: float | None = None,
    should_stop: StopFlag | None = None,
    progress: Progress | None = None,
    worker: str | None = None,
    worker_index: int | None = 0,
) -> int:
    """Run trials of study `name` until its budget is complete, the time is up, or Stop.

    Any number of processes may call this on one study. Returns the trials this worker ran.
    worker_index: 0 for the study's own worker (the page, the CLI), 1.. for the helpers it starts;
    None for a worker that joins on its own (its index is derived from its name).
    """
    study = load(name, storage_url)
    info = Info.of(study)
    ctx = ctx or P.load_context(info.problem.dataset, info.problem.model)
    if ctx.weights_hash != info.weights_hash:
        raise ValueError(
            f"Study {name} searched a baseline with weights {info.weights_hash}, not {ctx.weights_hash}"
        )
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    index = zlib.crc32(worker.encode()) % 1000 + 1 if worker_index is None else worker_index
    begun = sum(t.state != optuna.trial.TrialState.WAITING for t in study.trials)  # not the enqueued
    study.sampler = S.make_sampler(info.strategy, info.setup(index, trials_before=begun))
    space = info.problem.space.distributions(info.layers)

    def objective(trial: optuna.Trial) -> tuple[float, ...]:
        if not within_budget(study, trial.number, int(study.user_attrs.get("budget", info.budget))):
            skipped.append(trial.number)  # another worker took the last slot: no compute
            raise optuna.TrialPruned(f"trial {trial.number} is past the budget")
        params = {k: _suggest(trial, k, d) for k, d in space.items()}
        res = P.evaluate(info.problem, ctx, params)
        for key, value in (
            ("acc", res.acc),
            ("size_kb", res.size_kb),
            ("macs", res.macs),
            ("latency_ms", res.latency_ms),
            ("seconds", res.seconds),
        ):
            trial.set_user_attr(key, value)
        trial.set_user_attr("worker", worker)
        if info.problem.max_size_kb is not None:  # <= 0 is feasible; TPE, NSGA-II and GP read it
            trial.set_constraint("size_over_budget_kb", res.size_kb - info.problem.max_size_kb)
        finished.append(trial.number)
        return res.values

    finished: list[int] = []
    skipped: list[int] = []
    started = time.monotonic()
    ran = failures = 0
    waited = 0.0  # since when this worker has only waited on others' running trials
    while True:
        if should_stop and should_stop():
            break
        if timeout_s is not None and time.monotonic() - started >= timeout_s:
            break
        optuna.storages.fail_stale_trials(study)  # a dead worker's trial: failed, so it is redone
        attrs = study.user_attrs
        budget = int(attrs.get("budget", info.budget))
        if attrs.get("stopped"):
            break
        c = counts(study, budget)
        if c.complete + c.running >= budget:
            if c.running == 0 or c.complete >= budget:
                break
            waited = waited or time.monotonic()
            if time.monotonic() - waited > WAIT_LIMIT_S * GRACE_S:  # never hang on a trial nobody finishes
                raise RuntimeError(
                    f"study {name}: {c.running} trial(s) stayed running for {WAIT_LIMIT_S * GRACE_S} s with no "
                    "heartbeat to age out (a worker killed before its first heartbeat); stop and resume the study"
                )
            time.sleep(0.5)  # another worker is finishing the last trials: one may fail and need a redo
            continue
        waited = 0.0
        finished.clear()
        skipped.clear()
        study.optimize(objective, n_trials=1, catch=(Exception,), gc_after_trial=False)
        if skipped:  # back to the counts: stop, or wait on the other workers' last trials
            continue
        if not finished:
            failures += 1
            if failures >= 5:
                raise RuntimeError(f"5 trials failed in a row in study {name}; see the trials' fail reasons")
        else:
            failures = 0
            ran += 1
        if progress:
            progress(min(1.0, (c.complete + 1) / budget), f"{c.complete + 1}/{budget} trials")
    return ran


# ---------------------------------------------------------------- reading a study


def trials_frame(study: optuna.Study, info: Info | None = None) -> pd.DataFrame:
    """Completed trials, one row each: objectives, feasibility, front membership, per-layer choices."""
    info = info or Info.of(study)
    rows = []
    for t in sorted(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), key=lambda t: t.number):
        row: dict[str, Any] = {
            "number": t.number,
            "acc": t.user_attrs.get("acc", t.values[0]),
            "size_kb": t.user_attrs.get("size_kb", math.nan),
            "macs": t.user_attrs.get("macs", math.nan),
            "latency_ms": t.user_attrs.get("latency_ms", math.nan),
            "seconds": t.user_attrs.get("seconds", math.nan),
            "worker": t.user_attrs.get("worker", ""),
            "started": t.datetime_start,
            "completed": t.datetime_complete,
            "values": list(t.values),
        }
        row.update(t.params)
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["feasible"] = [P.feasible(info.problem, s) for s in df["size_kb"]]
    df["front"] = P.front_mask(info.problem, list(df["values"]), list(df["size_kb"]))
    df["score"] = [P.scalar(info.problem, info.ref, v, info.knobs.lam) for v in df["values"]]
    return df


def hv_history(df: pd.DataFrame, info: Info) -> list[float]:
    if df.empty:
        return []
    return P.hv_history(info.problem, info.ref, list(df["values"]), list(df["size_kb"]))


def studies(storage_url: str | None = None, problem_key: str | None = None) -> list[Info]:
    """Every search study in the storage (optionally only those of one problem), newest first."""
    out = []
    for s in optuna.get_all_study_summaries(storage(storage_url), include_best_trial=False):
        a = s.user_attrs.get("search")
        if not isinstance(a, dict) or (problem_key and a.get("problem_key") != problem_key):
            continue
        try:
            out.append((a.get("created", 0), Info.from_attrs(s.study_name, s.user_attrs)))
        except (KeyError, TypeError, ValueError):
            continue
    return [i for _, i in sorted(out, key=lambda x: -x[0])]


def sa_trace(study: optuna.Study, info: Info) -> list[Any]:
    """The annealing walk of an SA study, replayed (empty for other strategies)."""
    sampler = S.make_sampler(info.strategy, info.setup())
    trace = getattr(sampler, "trace", None)
    return trace(study) if trace else []


# ---------------------------------------------------------------- recording chosen trials


def rebuild(
    study: optuna.Study,
    number: int,
    ctx: P.EvalContext,
    info: Info | None = None,
    finetune_epochs: int = 0,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> tuple[Any, list[object]]:
    """The trial's model and recipe: a policy re-applied to the baseline (optionally fine-tuned after
    pruning), an architecture trained on the full training split (finetune_epochs or its full_epochs)."""
    info = info or Info.of(study)
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    if trial is None or trial.state != TrialState.COMPLETE:
        raise ValueError(f"Study {study.study_name} has no completed trial {number}")
    return info.problem.space.build(ctx, trial.params, finetune_epochs, progress, should_stop)


def record_trial(
    name: str,
    number: int,
    storage_url: str | None = None,
    *,
    ctx: P.EvalContext | None = None,
    store: Any = None,
    latency: bool = True,
    who: str = "search",
    finetune_epochs: int = 0,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> tuple[int, metrics.Measurement]:
    """Re-measure a trial in full (test split, real file, paired latency) and record it as a run.

    finetune_epochs > 0: the short fine-tune of a chosen trial (after pruning, before quantizing).
    """
    study = load(name, storage_url)
    info = Info.of(study)
    ctx = ctx or P.load_context(info.problem.dataset, info.problem.model)
    model, recipe = rebuild(study, number, ctx, info, finetune_epochs, progress, should_stop)
    space = info.problem.space
    if space.kind == "arch":
        tuned = f", then trained {recipe[0]['epochs']} epoch(s) on the full training split"  # type: ignore[index]
    else:
        tuned = f", then fine-tuned {finetune_epochs} epoch(s) after pruning" if finetune_epochs else ""
    m = metrics.measure(model, ctx.ds, baseline=ctx.baseline, latency=latency)
    run_id = runs.record_run(
        model,
        dataset=info.problem.dataset,
        arch=info.problem.model,
        baseline_hash=ctx.weights_hash,
        recipe=recipe,
        measurement=m,
        technique=space.technique,
        who=who,
        tags=[name, f"trial-{number}", f"strategy-{info.strategy}"]
        + (["fine-tuned"] if finetune_epochs and space.kind == "policy" else []),
        notes=f"Search study {name} ({info.strategy}, seed {info.seed}, {space.title} space), trial {number}: "
        f"{space.proxy_text()}, scored on {info.ref.images or info.problem.val_images} validation images{tuned}.",
        store=store,
        baseline=lambda: (ctx.baseline, metrics.measure(ctx.baseline, ctx.ds, latency=latency)),
    )
    if not finetune_epochs or space.kind == "arch":
        study.set_user_attr(f"run:{number}", run_id)
    return run_id, m


def recorded(study: optuna.Study) -> dict[int, int]:
    """trial number -> run id of the trials already recorded as runs."""
    return {int(k[4:]): int(v) for k, v in study.user_attrs.items() if k.startswith("run:")}
