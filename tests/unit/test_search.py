"""Search engine: every strategy proposes valid points, SA's cooling and acceptance law, REINFORCE
learns, the hypervolume of a hand case, studies run and record, and two worker processes share
one real PostgreSQL study without losing or duplicating a trial."""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
import sqlalchemy as sa
import torch

from compression import runs
from compression.search import PolicySpace, Problem, Reference, load_context, samplers
from compression.search import problem as P
from compression.search import strategies as S
from compression.search import study as St
from compression.search.space import grid
from tests.pg import pg_base_url

torch.set_num_threads(1)
LAYERS = ["conv1", "conv2", "fc1"]
REF = Reference(dense_kb=100.0, macs=1.0, acc=0.95)


def _setup(budget: int = 12, problem: Problem | None = None) -> S.Setup:
    return S.Setup(problem or Problem(dataset="digits"), REF, LAYERS, 0, budget, S.Knobs())


def _fake_objective(space: dict) -> object:
    """Cheap, smooth stand-in for a policy's (accuracy, size): more bits and less pruning cost size."""

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        keep = bits = 0.0
        for k, d in space.items():
            v = St._suggest(trial, k, d)
            keep += 1 - v if k.startswith("prune:") else 0
            bits += v if k.startswith("bits:") else 0
        size = 100 * keep / len(LAYERS) * bits / (8 * len(LAYERS)) + 1
        trial.set_user_attr("size_kb", size)
        return 0.5 + 0.4 * math.tanh(keep * bits / 10), size

    return objective


@pytest.mark.parametrize("name", list(S.STRATEGIES))
def test_each_strategy_proposes_valid_points(name: str) -> None:
    setup = _setup(budget=8)  # GP: 4 random start-up trials, then 4 fitted ones
    space = setup.problem.space.distributions(LAYERS)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=S.make_sampler(name, setup))
    study.optimize(_fake_objective(space), n_trials=8)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 8
    for t in trials:
        assert set(t.params) == set(space)
        for k, v in t.params.items():
            assert min(abs(v - g) for g in grid(space[k])) < 1e-9, (k, v)  # on the grid
            assert space[k]._contains(space[k].to_internal_repr(v))
    distinct = {tuple(sorted(t.params.items())) for t in trials}
    assert len(distinct) >= 5  # a strategy that proposes one point over and over is not searching


def test_policy_recipe_applies_existing_techniques() -> None:
    space = PolicySpace()
    params = space.uniform(LAYERS, 0.5, 4)
    recipe = space.recipe(LAYERS, params)
    assert [type(c).technique for c in recipe] == ["magnitude-prune", "quant-linear"]
    assert dict(recipe[0].layer_amounts) == dict.fromkeys(LAYERS, 0.5)
    assert dict(recipe[1].layer_bits) == dict.fromkeys(LAYERS, 4)
    assert [type(c).technique for c in space.recipe(LAYERS, space.uniform(LAYERS, 0.0, 8))] == [
        "quant-linear"
    ]


def test_sa_cools_geometrically_and_accepts_with_metropolis_probability() -> None:
    assert samplers.temperature(0.02, 0.9, 0) == 0.02
    assert samplers.temperature(0.02, 0.9, 3) == pytest.approx(0.02 * 0.9**3)
    assert samplers.accept_probability(0.80, 0.79, 0.01) == 1.0  # better: always
    assert samplers.accept_probability(0.78, 0.80, 0.01) == pytest.approx(math.exp(-2.0))
    hot, cold = (samplers.accept_probability(0.78, 0.80, t) for t in (0.05, 0.005))
    assert hot > cold  # the same drop is accepted less often as the walk cools
    # Seeded: the second trial is 0.01 worse at T_1 = 0.02 x 0.5 = 0.01, so p = e^-1; over 4,000
    # seeds the walk accepts it that often (binomial, 5 sigma).
    steps = [samplers.sa_trace([(0, 0.9), (1, 0.89)], 0.02, 0.5, seed) for seed in range(4000)]
    assert all(s[1].p_accept == pytest.approx(math.exp(-1.0)) for s in steps)
    assert steps[0][1].temperature == pytest.approx(0.01)
    rate = np.mean([s[1].accepted for s in steps])
    p = math.exp(-1.0)
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / 4000)
    # the same seed replays the same decisions (every worker sees the same walk)
    assert samplers.sa_trace([(0, 0.9), (1, 0.89)], 0.02, 0.5, 7) == steps[7]
    rejected = next(s for s in steps if not s[1].accepted)
    assert rejected[1].current == 0.9 and rejected[1].best == 0.9


def test_sa_walks_from_the_accepted_point() -> None:
    setup = _setup()
    space = setup.problem.space.distributions(LAYERS)
    sampler = S.make_sampler("sa", setup)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    study.optimize(_fake_objective(space), n_trials=8)
    trace = sampler.trace(study)
    assert len(trace) == 8 and trace[0].accepted
    trials = sorted(study.trials, key=lambda t: t.number)
    for k in range(1, 8):  # each proposal is a neighbour of the current point: at most 2 parameters moved
        current = max(s.number for s in trace[:k] if s.accepted)
        moved = [p for p in space if trials[k].params[p] != trials[current].params[p]]
        assert 1 <= len(moved) <= 2


def test_reinforce_shifts_probability_to_rewarded_choices() -> None:
    space = {"bits:a": optuna.distributions.IntDistribution(2, 8)}
    history = [({"bits:a": b}, 1.0 if b == 5 else 0.0) for b in [2, 5, 3, 5, 8, 4, 5, 6, 7, 5, 2, 5]]
    ctrl = samplers.replay_controller(space, history, lr=0.3, decay=0.9)
    probs = ctrl.probs("bits:a")
    assert probs.sum() == pytest.approx(1.0)
    assert int(np.argmax(probs)) == grid(space["bits:a"]).index(5)
    assert probs[3] > 1 / 7


def test_hypervolume_hand_case_through_compression_pareto() -> None:
    problem = Problem(dataset="digits")
    values = [(0.8, 20.0), (0.9, 50.0), (0.7, 60.0)]  # the third is dominated by the first
    # boxes to the corner (0 acc, 100 KB): 0.8 x 80 + (0.9 - 0.8) x 50 = 69, over the 1 x 100 box
    assert P.hv(problem, REF, values, [v[1] for v in values]) == pytest.approx(0.69)
    assert P.hv_history(problem, REF, values, [v[1] for v in values]) == pytest.approx([0.64, 0.69, 0.69])
    capped = Problem(dataset="digits", max_size_kb=30)  # only the 20 KB point is feasible
    assert P.hv(capped, REF, values, [v[1] for v in values]) == pytest.approx(0.64)
    assert P.front_mask(problem, values, [20, 50, 60]) == [True, True, False]


def test_scalar_trades_accuracy_for_log_size_or_penalises_the_budget() -> None:
    problem = Problem(dataset="digits")
    assert P.scalar(problem, REF, (0.9, 10.0), lam=0.02) == pytest.approx(0.9 + 0.02 * math.log(10))
    capped = Problem(dataset="digits", max_size_kb=20)
    assert P.scalar(capped, REF, (0.9, 20.0), 0.02) == 0.9
    assert P.scalar(capped, REF, (0.9, 20.2), 0.02) == pytest.approx(0.9 - 0.02)  # 1 % over: 2 points
    assert P.scalar(capped, REF, (0.9, 30.0), 0.02) < P.scalar(capped, REF, (0.5, 20.0), 0.02)


@pytest.fixture()
def digits_ctx() -> P.EvalContext:
    return load_context("digits", "lenet5")


def test_reference_names_the_images_really_scored(digits_ctx) -> None:
    n_val = len(digits_ctx.ds.y_val)  # digits' split is smaller than the default subset of 1,000
    assert digits_ctx.reference(Problem(dataset="digits")).images == n_val < 1000
    assert digits_ctx.reference(Problem(dataset="digits", val_images=100)).images == 100


def test_study_runs_to_budget_and_records_a_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_ctx
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path}/runs.db")
    problem = Problem(dataset="digits", val_images=200)
    name = St.create(problem, "rl", budget=5, ctx=digits_ctx)
    assert (tmp_path / "studies.db").exists() and St.default_storage() != runs.default_url()
    assert St.run(name, ctx=digits_ctx) == 5
    study = St.load(name)
    df = St.trials_frame(study)
    assert len(df) == 5 and df["front"].any()
    assert 0 < St.hv_history(df, St.Info.of(study))[-1] <= 1
    # resume with a larger budget: only the missing trials run
    St.set_budget(name, 7)
    assert St.run(name, ctx=digits_ctx) == 2
    number = int(df[df["front"]].iloc[0]["number"])
    run_id, m = St.record_trial(name, number, ctx=digits_ctx, latency=False)
    run = runs.open_store().get(run_id)
    assert run.technique == "search-policy" and name in run.tags and f"trial-{number}" in run.tags
    assert [step["technique"] for step in run.recipe][-1] == "quant-linear"
    assert St.recorded(St.load(name)) == {number: run_id}
    assert m.top1 > 0.1
    # the optional short fine-tune: prune, fine-tune with masks kept, then quantize
    tuned_id, tuned = St.record_trial(name, number, ctx=digits_ctx, latency=False, finetune_epochs=1)
    tuned_run = runs.open_store().get(tuned_id)
    assert (
        tuned_run.recipe[0]["technique"] == "magnitude-prune" and tuned_run.recipe[0]["finetune_epochs"] == 1
    )
    assert "fine-tuned" in tuned_run.tags and tuned.top1 > 0.1


def test_a_seed_gives_the_same_trials_in_any_process_and_a_resume_draws_new_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_ctx
) -> None:
    """The page and the CLI (other worker names, other processes) search the same seed alike; a resumed
    study goes on with new points instead of repeating its first ones."""
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    problem = Problem(dataset="digits", val_images=100)

    def params(name: str) -> list[dict[str, object]]:
        return [t.params for t in St.load(name).trials]

    names = [St.create(problem, "random", seed=3, budget=4, ctx=digits_ctx) for _ in range(2)]
    St.run(names[0], ctx=digits_ctx, worker="page")
    St.run(names[1], ctx=digits_ctx, worker=f"cli-host:{os.getpid() + 1}")
    assert params(names[0]) == params(names[1]) and len(params(names[0])) == 4
    St.set_budget(names[0], 8)
    St.run(names[0], ctx=digits_ctx, worker="page")
    first, resumed = params(names[0])[:4], params(names[0])[4:]
    assert len(resumed) == 4 and not any(p in first for p in resumed)


def test_storage_refuses_the_run_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/runs.db"
    monkeypatch.setenv("COMPRESSION_STORE", url)
    with pytest.raises(ValueError, match="must not be the run store"):
        St.storage(url)


def _worker(name: str, url: str, index: int, results: object) -> None:
    """A worker process forked from the test (torch and the data already loaded: starts at once)."""
    St._STORAGES.clear()  # never share the parent's database connections
    torch.set_num_threads(1)
    ran = St.run(
        name, url, ctx=load_context("digits", "lenet5"), worker=f"worker-{index}", worker_index=index
    )
    results.put(ran)  # type: ignore[attr-defined]


def _fork(name: str, url: str, indices: list[int]) -> tuple[list[mp.process.BaseProcess], object]:
    """Worker processes on one study (fork: no second torch import on a busy machine)."""
    stored = St._STORAGES.pop(url, None)
    if stored is not None:
        stored.engine.dispose()
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(name, url, i, results)) for i in indices]
    for p in procs:
        p.start()
    return procs, results


@pytest.fixture()
def pg_study_url() -> Iterator[str]:
    """A fresh database for Optuna's tables (never the run store's), dropped afterwards."""
    base = sa.make_url(pg_base_url())
    name = f"cla_optuna_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        st = St._STORAGES.pop(url, None)
        if st is not None:
            st.engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_two_workers_share_one_postgresql_study(pg_study_url: str, tmp_path: Path, digits_ctx) -> None:
    budget = 10
    name = St.create(
        Problem(dataset="digits", val_images=200),
        "tpe",
        budget=budget,
        storage_url=pg_study_url,
        ctx=digits_ctx,
    )
    procs, results = _fork(name, pg_study_url, [1, 2])
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    ran = [results.get(timeout=5) for _ in procs]  # type: ignore[attr-defined]
    study = St.load(name, pg_study_url)
    trials = study.get_trials()
    states = [t.state for t in trials]
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    skipped = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    # no lost trial: every trial a worker ran is complete in the study, nothing left running or failed;
    # a worker that asked for one past the budget was told PRUNED before any compute (no params)
    assert sum(ran) == len(complete) == len(trials) - len(skipped), (ran, states)
    assert all(not t.params and t.number >= budget for t in skipped), skipped
    # the budget is exact across workers: not one trial more
    assert len(complete) == budget and max(t.number for t in complete) == budget - 1
    # no duplicate: trial numbers are unique and contiguous, each trial ran in exactly one worker
    assert sorted(t.number for t in trials) == list(range(len(trials)))
    workers = {t.user_attrs["worker"] for t in complete}
    assert len(workers) == 2 and all(r > 0 for r in ran)


# the test plays two workers with bare ask() calls; Optuna warns that heartbeats belong to optimize()
@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_trial_runs_only_while_fewer_than_budget_trials_before_it_hold_a_slot(
    tmp_path: Path, digits_ctx
) -> None:
    url = f"sqlite:///{tmp_path}/studies.db"
    name = St.create(
        Problem(dataset="digits", val_images=200), "random", budget=2, storage_url=url, ctx=digits_ctx
    )
    assert St.run(name, url, ctx=digits_ctx) == 2
    St.set_budget(name, 3, url)
    study = St.load(name, url)
    first, second = study.ask(), study.ask()  # two workers that both saw 2/3 done ask for one more
    assert (first.number, second.number) == (2, 3)
    assert St.within_budget(study, 2, 3) and not St.within_budget(study, 3, 3)
    study.tell(first, state=optuna.trial.TrialState.FAIL)  # the first worker's trial fails: its slot frees
    assert St.within_budget(study, 3, 3)
    study.tell(second, state=optuna.trial.TrialState.PRUNED)  # a skipped trial holds no slot either
    assert St.within_budget(study, 4, 3) and not St.within_budget(study, 4, 2)
    assert St.run(name, url, ctx=digits_ctx) == 1  # the free slot is filled once, then the study is done
    assert St.counts(St.load(name, url)).complete == 3
    St._STORAGES.pop(url).engine.dispose()


def test_nsga2_starts_from_uniform_policies_from_widest_to_narrowest(tmp_path: Path, digits_ctx) -> None:
    url = f"sqlite:///{tmp_path}/studies.db"
    problem = Problem(dataset="digits", val_images=200)
    name = St.create(problem, "nsga2", budget=10, storage_url=url, ctx=digits_ctx)  # population 4 (the floor)
    first = sorted(
        St.load(name, url).get_trials(states=(optuna.trial.TrialState.WAITING,)), key=lambda t: t.number
    )
    assert [t.number for t in first] == [0, 1, 2, 3]
    fixed = [
        t.system_attrs["fixed_params"] for t in first
    ]  # what enqueue_trial stores until a worker runs it
    points = [(sorted({v for k, v in f.items() if k.startswith("prune:")}), sorted({
        v for k, v in f.items() if k.startswith("bits:")})) for f in fixed]  # fmt: skip
    assert points == [
        ([0.0], [8]),
        ([0.3], [6]),
        ([0.65], [4]),
        ([0.95], [2]),
    ]  # uniform, widest to narrowest
    assert St.run(name, url, ctx=digits_ctx) == 10
    done = sorted(St.load(name, url).get_trials(), key=lambda t: t.number)
    assert [t.params for t in done[:4]] == fixed and len(done) == 10
    plain = St.create(
        problem, "nsga2", budget=10, storage_url=url, ctx=digits_ctx, knobs=S.Knobs(seeded=False)
    )
    assert (
        not St.load(plain, url).get_trials()
        and not St.load(
            St.create(problem, "random", budget=10, storage_url=url, ctx=digits_ctx), url
        ).get_trials()
    )  # the control: random search gets them only when asked (Knobs(seeded=True))
    St._STORAGES.pop(url).engine.dispose()


def test_killed_worker_leaves_its_trial_failed_and_the_study_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits_ctx
) -> None:
    url = f"sqlite:///{tmp_path}/studies.db"
    budget = 6
    name = St.create(
        Problem(dataset="digits", val_images=200), "random", budget=budget, storage_url=url, ctx=digits_ctx
    )
    procs, _ = _fork(name, url, [1])
    try:
        deadline = time.monotonic() + 120
        beating = sa.text(  # a running trial whose heartbeat thread has written at least once
            "SELECT count(*) FROM trials t JOIN trial_heartbeats h ON h.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
        )
        engine = sa.create_engine(url)
        while time.monotonic() < deadline:  # kill -9 while a trial runs (it spends most of its time in one)
            c = St.counts(St.load(name, url))
            if c.complete >= 1 and c.running == 1:
                with engine.connect() as conn:  # not in the instant between ask() and the first heartbeat:
                    if conn.execute(beating).scalar():  # a worker killed there is the bounded wait's case
                        break
            time.sleep(0.02)
        engine.dispose()
        os.kill(procs[0].pid, signal.SIGKILL)
    finally:
        procs[0].join(timeout=30)
    left = St.counts(St.load(name, url))
    assert left.complete < budget and left.running <= 1
    # the survivor fails the stale trial once its heartbeat is older than the grace period, then redoes it
    St._STORAGES.pop(url).engine.dispose()
    monkeypatch.setattr(St, "GRACE_S", 1)
    monkeypatch.setattr(St, "HEARTBEAT_S", 1)
    time.sleep(1.5)
    St.run(name, url, ctx=digits_ctx)
    final = St.counts(St.load(name, url))
    assert final.complete == budget and final.running == 0
    assert final.failed == left.running  # exactly the killed trial, nothing else lost
    St._STORAGES.pop(url).engine.dispose()


def test_a_size_budget_reaches_optuna_as_a_trial_constraint(tmp_path: Path, digits_ctx) -> None:
    url = f"sqlite:///{tmp_path}/studies.db"
    problem = Problem(dataset="digits", val_images=200, max_size_kb=15.0)
    name = St.create(problem, "nsga2", budget=4, storage_url=url, ctx=digits_ctx)
    St.run(name, url, ctx=digits_ctx)
    study = St.load(name, url)
    df = St.trials_frame(study)
    for t in study.get_trials():
        assert t.constraints == {"size_over_budget_kb": pytest.approx(t.user_attrs["size_kb"] - 15.0)}
    assert list(df["feasible"]) == [
        t.user_attrs["size_kb"] <= 15.0 for t in sorted(study.trials, key=lambda t: t.number)
    ]
    assert not df.loc[~df["feasible"], "front"].any()  # the front holds feasible trials only
    St._STORAGES.pop(url).engine.dispose()


def test_a_storage_url_is_shown_without_its_password() -> None:
    from compression.search import study

    assert study.shown("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert study.shown("sqlite:////tmp/s.db") == "sqlite:////tmp/s.db"
    assert study.shown("not a url") == "not a url"
