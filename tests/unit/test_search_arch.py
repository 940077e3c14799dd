"""The architecture search space: every strategy proposes valid points of it, one proxy trial on
digits trains and scores, a recorded trial is a run whose file (the architecture named in its
metadata, no pickled code) loads back with the same top-1, and the name round-trips."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from compression import metrics, model_file, models, runs
from compression.search import Problem, Reference, load_context
from compression.search import problem as P
from compression.search import strategies as S
from compression.search import study as St
from compression.search.arch import Arch, ArchSpace
from compression.search.space import grid

torch.set_num_threads(1)
SPACE = ArchSpace.for_dataset("digits", full_epochs=1)  # 1,000 images, 2 epochs: about a second
PROBLEM = Problem(dataset="digits", space=SPACE, objectives=("acc", "size", "latency"), val_images=200)


@pytest.mark.parametrize("name", list(S.STRATEGIES))
def test_each_strategy_proposes_valid_points_of_the_arch_space(name: str) -> None:
    setup = S.Setup(
        PROBLEM, Reference(dense_kb=80.0, macs=0.1, acc=0.98, latency_ms=0.2), [], 0, 6, S.Knobs()
    )
    space = SPACE.distributions()
    study = optuna.create_study(
        directions=["maximize", "minimize", "minimize"], sampler=S.make_sampler(name, setup)
    )

    def objective(trial: optuna.Trial) -> tuple[float, float, float]:  # cheap: params -> the built net's size
        params = {k: St._suggest(trial, k, d) for k, d in space.items()}
        net = models.build(SPACE.arch(params).name, (1, 8, 8), 10)
        n = sum(p.numel() for p in net.parameters())
        return 1 - 1 / (1 + n / 1000), n / 250, float(params["depth"])

    study.optimize(objective, n_trials=6)
    trials = study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert len(trials) == 6
    for t in trials:
        assert set(t.params) == set(space)
        for k, v in t.params.items():
            assert v in grid(space[k]), (k, v)
        arch = SPACE.arch(t.params)
        assert len(arch.blocks) == t.params["depth"] and all(k in SPACE.kernels for _, k in arch.blocks)
        assert Arch.parse(arch.name) == arch
    assert len({SPACE.arch(t.params).name for t in trials}) >= 4  # it searches, not repeats


def test_arch_names_round_trip_and_problems_keep_their_space() -> None:
    arch = Arch(((6, 5), (12, 3)), 48)
    assert arch.name == "archnet:c6k5-c12k3-fc48" and Arch.parse(arch.name) == arch
    assert models.known(arch.name) and not models.known("archnet-nope")
    with pytest.raises(KeyError):
        models.build("archnet:c6", (1, 8, 8), 10)
    assert (
        Problem.from_dict(PROBLEM.as_dict()) == PROBLEM and PROBLEM.key() != Problem(dataset="digits").key()
    )
    with pytest.raises(ValueError, match="offers the costs"):
        Problem(dataset="digits", objectives=("acc", "latency"))  # a policy times like its baseline
    params = {
        "depth": 2,
        "width": 0.5,
        "fc": 64,
        "ch:1": 8,
        "k:1": 5,
        "ch:2": 16,
        "k:2": 3,
        "ch:3": 32,
        "k:3": 3,
    }
    assert SPACE.arch(params).name == "archnet:c4k5-c8k3-fc32"  # width scales channels and fc; depth 2 of 3


def test_one_arch_trial_on_digits_trains_and_scores() -> None:
    ctx = load_context("digits", "lenet5")
    params = {
        "depth": 2,
        "width": 1.0,
        "fc": 32,
        "ch:1": 8,
        "k:1": 3,
        "ch:2": 16,
        "k:2": 3,
        "ch:3": 4,
        "k:3": 3,
    }
    res = P.evaluate(PROBLEM, ctx, params)
    net = models.build(SPACE.arch(params).name, ctx.ds.input_shape, 10)
    assert 0.2 < res.acc <= 1.0  # 32 steps: well above chance (0.1)
    assert res.size_kb == pytest.approx(metrics.artifact_bytes(net) / 1000, rel=0.05)
    assert res.macs == pytest.approx(metrics.macs(net, ctx.ds.input_shape)[1] / 1e6)
    assert res.latency_ms > 0 and res.values == (res.acc, res.size_kb, res.latency_ms)


def test_recorded_arch_trial_is_a_run_whose_file_loads_back_with_the_same_top1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path}/runs.db")
    ctx = load_context("digits", "lenet5")
    problem = Problem(dataset="digits", space=SPACE, val_images=200)
    name = St.create(problem, "random", budget=2, ctx=ctx)
    assert St.run(name, ctx=ctx) == 2
    df = St.trials_frame(St.load(name))
    number = int(df[df["front"]].iloc[0]["number"])
    run_id, m = St.record_trial(name, number, ctx=ctx, latency=False)
    run = runs.open_store().get(run_id)
    arch = SPACE.arch(St.load(name).trials[number].params).name
    assert run.technique == "search-arch" and run.arch == "lenet5" and f"trial-{number}" in run.tags
    assert run.recipe[0]["arch"] == arch and run.recipe[0]["epochs"] == SPACE.full_epochs
    _, meta = model_file.read_state(Path(run.artifact_path))
    assert meta["model"] == arch  # the architecture is in the file, as a name: no pickled code
    loaded = model_file.load(Path(run.artifact_path))
    assert metrics.evaluate(loaded, ctx.ds.x_test, ctx.ds.y_test)[0] == m.top1
    assert St.recorded(St.load(name)) == {number: run_id}
    St._STORAGES.clear()


def test_two_worker_processes_share_an_arch_study_to_the_exact_budget(tmp_path: Path) -> None:
    from tests.unit.test_search import _fork

    url = f"sqlite:///{tmp_path}/studies.db"
    ctx = load_context("digits", "lenet5")
    name = St.create(
        Problem(dataset="digits", space=SPACE, val_images=200), "rl", budget=3, storage_url=url, ctx=ctx
    )
    procs, results = _fork(name, url, [1, 2])
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0, 0]
    ran = [results.get(timeout=5) for _ in procs]  # type: ignore[attr-defined]
    complete = St.load(name, url).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    assert sum(ran) == len(complete) == 3  # exactly the budget, each trial in one worker
    assert all(SPACE.arch(t.params).name.startswith("archnet:") for t in complete)
    St._STORAGES.pop(url, None)
