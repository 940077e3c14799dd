"""AppTest of the Search lab: the URL drives the controls, Start runs a small search as a job whose
trials appear, a reload with the study in the URL reattaches, Stop/Resume, and chosen trials
become runs."""

from __future__ import annotations

import base64
import json
import time
from functools import partial

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from compression import runs
from compression.search import study as St
from tests.app.pages import metric, open_page
from ui import sidebar

torch.set_num_threads(1)
pytestmark = pytest.mark.usefixtures("isolated")
open_search = partial(open_page, "search")


def _qp(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[0] if isinstance(value, list) else value


def _array(value: object) -> list[float]:
    """A Plotly JSON array: a list, or a typed array {'dtype', 'bdata'} (base64)."""
    if isinstance(value, dict):
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).tolist()
    return list(value)  # type: ignore[call-overload]


def _wait_done(name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        c = St.counts(St.load(name))
        if c.done and c.running == 0:
            return
        time.sleep(0.3)
    raise AssertionError(f"study {name} did not finish: {St.counts(St.load(name))}")


def test_url_drives_the_controls_and_no_study_yet() -> None:
    at = open_search(strategy="sa", budget="10", val="250", cap="30")
    assert at.selectbox(key="s_strategy").value == "sa"
    assert at.slider(key="s_budget").value == 10
    assert at.number_input(key="s_cap").value == 30.0
    assert any("Start new search" in i.value for i in at.info)
    at.selectbox(key="s_strategy").set_value("nsga2").run()
    assert _qp(at, "strategy") == "nsga2"


def test_start_shows_trials_reattaches_and_records() -> None:
    at = open_search(strategy="random", budget="5", val="250", tlimit="120")
    at.button(key="s_start").click().run()
    assert not at.exception, at.exception
    name = _qp(at, "study")
    assert name.startswith("digits-lenet5-random-s0-")
    _wait_done(name)
    at.run()  # AppTest never fires run_every: rerun by hand, as the fragment would
    assert not at.exception, at.exception
    assert metric(at, "Trials done") == "5/5"
    space = json.loads(at.get("plotly_chart")[0].proto.spec)
    shown = [t for t in space["data"] if t["name"] in ("trials", "over the size budget")]
    assert sorted(n for t in shown for n in _array(t["customdata"])) == [0, 1, 2, 3, 4]  # every trial, once
    assert float(metric(at, "Hypervolume")) > 0

    # a reload (a new session with the study in the URL) reattaches to the same study
    again = open_search(study=name)
    assert metric(again, "Trials done") == "5/5"
    chosen = again.multiselect(key=f"s_chosen_{name}").value
    assert chosen  # the front by default
    again.button(key="s_record").click().run()
    assert not again.exception, again.exception
    assert any("Recorded" in s.value for s in again.success)
    original, *stored = runs.open_store().runs()  # the lineage's baseline is recorded first
    assert original.technique == "baseline"
    assert len(stored) == len(chosen) and all(
        r.technique == "search-policy" and name in r.tags for r in stored
    )

    # Resume with a larger budget continues the same study
    again.slider(key="s_budget").set_value(10)
    again.button(key="s_resume").click().run()
    assert not again.exception, again.exception
    _wait_done(name)
    again.run()
    assert metric(again, "Trials done") == "10/10"
    charts_before = len(again.get("plotly_chart"))
    again.button(key="s_importance").click().run()  # Optuna's fANOVA importances, on demand
    assert not again.exception, again.exception
    assert len(again.get("plotly_chart")) == charts_before + 2


def test_stale_study_link_warns() -> None:
    at = open_search(study="no-such-study")
    assert any(
        "No study 'no-such-study'" in w.value.replace("\\", "") for w in at.warning
    )  # as shown: escapes removed
    assert "study" not in at.query_params


def test_another_programs_optuna_study_in_the_storage_is_refused() -> None:
    import optuna

    optuna.create_study(study_name="not-ours", storage=St.storage())  # no search lab attributes
    at = open_search(study="not-ours")
    assert not at.exception, at.exception
    assert any("Not a search lab study: 'not-ours'" in w.value.replace("\\", "") for w in at.warning)
    assert "study" not in at.query_params


def test_a_study_made_outside_the_controls_ranges_opens_within_them() -> None:
    """The CLI accepts budgets, seeds, size budgets and validation subsets the page's widgets do not."""
    from compression.search import Problem, load_context

    problem = Problem(dataset="digits", model="lenet5", max_size_kb=2e6, val_images=5000)
    name = St.create(problem, "random", seed=20_000, budget=400, ctx=load_context("digits", "lenet5"))
    at = open_search(study=name)
    assert not at.exception, at.exception
    assert at.slider(key="s_budget").value == 300 and at.number_input(key="s_seed").value == 10_000
    assert at.number_input(key="s_cap").value == 1e6 and at.selectbox(key="s_val").value == "1000"


def test_studies_of_the_same_problem_can_be_switched_and_stopped_ones_resume() -> None:
    from compression.search import Problem, load_context

    ctx = load_context("digits", "lenet5")
    problem = Problem(dataset="digits", model="lenet5", val_images=250)
    first = St.create(problem, "sa", budget=5, ctx=ctx)
    second = St.create(problem, "rl", budget=5, ctx=ctx)
    St.run(first, ctx=ctx, timeout_s=60)  # 5 annealing trials: the page draws the walk
    St.set_stopped(first, True)
    at = open_search(study=first, val="250")
    # the controls show the study opened (the URL named no strategy or budget: tpe, 30 otherwise)
    assert at.selectbox(key="s_strategy").value == "sa" and at.slider(key="s_budget").value == 5
    sa = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "annealing" in c.proto.spec)
    walked = [n for t in sa["data"] if t["name"] in ("accepted", "rejected") for n in _array(t["x"])]
    assert sorted(walked) == [0, 1, 2, 3, 4]
    shown = at.selectbox(key=f"s_shown_{first}")
    assert set(shown.options) >= {
        f"Simulated annealing, seed 0, budget 5 ({first})",
        f"REINFORCE controller, seed 0, budget 5 ({second})",
    }
    assert "page worker: stopped" in at.get("progress")[0].proto.text
    assert not at.button(key="s_resume").disabled and at.button(key="s_stop").disabled
    shown.set_value(second).run()
    assert _qp(at, "study") == second
    assert at.selectbox(key="s_strategy").value == "rl"  # switched: the controls follow
    at.slider(key="s_budget").set_value(20).run()  # then they are the user's again (Resume's budget)
    assert at.slider(key="s_budget").value == 20 and _qp(at, "budget") == "20"


def test_run_every_strategy_creates_one_study_each_and_stop_ends_the_group() -> None:
    from compression.search import STRATEGIES

    at = open_search(budget="5", val="250", seed="3")
    at.button(key="s_every").click().run()
    assert not at.exception, at.exception
    group = _qp(at, "group")
    studies = St.studies()
    assert sorted(i.strategy for i in studies) == sorted(STRATEGIES)
    assert {i.seed for i in studies} == {3} and {i.budget for i in studies} == {5}
    assert len({i.problem.key() for i in studies}) == 1  # the same problem: comparable fronts
    assert _qp(at, "study") in {i.name for i in studies}
    at.button(key="s_stop").click().run()
    assert not at.exception, at.exception
    job = sidebar.job_manager().wait(group, timeout=60)  # AppTest runs the page in this process
    assert job.state == "cancelled"
    assert sum(St.counts(St.load(i.name)).complete for i in studies) < 6 * 5  # it stopped early


def test_space_selector_searches_architectures_and_names_the_proxy() -> None:
    at = open_search(space="arch", obj="acc,latency", strategy="random", budget="5", val="250", tlimit="300")
    assert at.radio(key="s_kind").value == "arch"
    assert (
        "accuracy vs latency" in at.selectbox(key="s_obj").options
        and at.selectbox(key="s_obj").value == "acc,latency"
    )
    assert any("trained 2 epoch(s) from scratch on 1,000 training images" in c.value for c in at.caption)
    at.radio(key="s_kind").set_value("policy").run()  # the policy space offers no latency: back to size
    assert _qp(at, "space") == "policy" and _qp(at, "obj") == "acc,size"
    assert "accuracy vs latency" not in at.selectbox(key="s_obj").options
    at.radio(key="s_kind").set_value("arch").run()
    at.button(key="s_start").click().run()
    assert not at.exception, at.exception
    name = _qp(at, "study")
    _wait_done(name, timeout=240)
    at.run()
    assert not at.exception, at.exception
    info = St.Info.of(St.load(name))
    assert info.problem.space.kind == "arch" and info.problem.objectives == ("acc", "size")
    assert metric(at, "Trials done") == "5/5"
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    parallel = next(t for f in figures for t in f["data"] if t.get("type") == "parcoords")
    labels = [d["label"] for d in parallel["dimensions"]]
    assert {"depth", "width", "fc", "ch:1", "k:1"} <= set(labels)
    table = at.dataframe[0].value
    assert all(a.startswith("archnet:c") for a in table["architecture"])  # the chosen trials, named


def test_an_earlier_study_of_this_model_opens_before_a_search() -> None:
    at = open_search()
    with pytest.raises(KeyError):  # nothing searched yet: only the hint
        at.selectbox(key="s_earlier")
    first = open_search(strategy="random", budget="5", val="250", tlimit="120")
    first.button(key="s_start").click().run()
    name = _qp(first, "study")
    _wait_done(name)

    at = open_search()  # a new visit, no study in the URL: the column offers the earlier one
    assert any("Start new search" in i.value for i in at.info)
    assert at.selectbox(key="s_earlier").value == name
    at.button(key="s_open_earlier").click().run()
    assert not at.exception, at.exception
    assert _qp(at, "study") == name
    assert metric(at, "Trials done") == "5/5"
    # the controls show the study's settings, not this visit's defaults (tpe, 30 trials, 1000 images)
    assert at.selectbox(key="s_strategy").value == "random"
    assert at.slider(key="s_budget").value == 5 and at.selectbox(key="s_val").value == "250"


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("/tmp/studies.db", "Could not parse SQLAlchemy URL"),  # a path where a URL belongs
        (
            "postgresql://lab:s3cret@127.0.0.1:1/studies",
            "postgresql://lab:***@127.0.0.1:1/studies",
        ),  # nobody there
    ],
)
def test_a_study_storage_that_does_not_open_is_explained_not_raised(
    monkeypatch: pytest.MonkeyPatch, url: str, said: str
) -> None:
    monkeypatch.setenv(St.ENV, url)
    at = open_search()  # fails on any exception
    (error,) = at.error
    shown = error.value.replace("\\", "").replace("\u2060", "")  # as the page shows it
    assert shown.startswith("The search lab cannot open the study storage") and said in shown
    assert "s3cret" not in error.value
    assert not at.button  # nothing to start a search with
