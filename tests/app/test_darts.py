"""AppTest of the DARTS lab: the URL drives the settings, hostile link values are named once and
corrected, a tiny search on digits runs through the job to completion with every chart, the derived
cell retrains next to a random cell, and "Record as run" puts it in the run store."""

from __future__ import annotations

import json
import re
import time
from functools import partial
from urllib.parse import parse_qsl, urlsplit

import pytest
import torch
from streamlit.testing.v1 import AppTest

from compression import runs
from compression.charts import darts as charts
from compression.search.darts import OPS, TARGET
from tests.app.pages import metric, open_page
from ui import darts, sidebar

torch.set_num_threads(1)
pytestmark = pytest.mark.usefixtures("isolated")
open_darts = partial(open_page, "darts")
TINY = {"epochs": "2", "cells": "1", "nodes": "2", "ch": "4", "pc": "2", "imgs": "128", "retrain": "1"}


def _qp(at: AppTest, key: str) -> str:
    value = at.query_params[key]
    return value[0] if isinstance(value, list) else value


def _titles(at: AppTest) -> list[str]:
    """Every chart's title, a long one's line break read as a space (charts.style.wrap_title)."""
    return [
        json.loads(c.proto.spec)["layout"]["title"]["text"].replace("<br>", " ")
        for c in at.get("plotly_chart")
    ]


def _finish(at: AppTest, job_id: str) -> None:
    job = sidebar.job_manager().wait(job_id, timeout=240)
    assert job.state == "done", (job.state, job.error, job.message)
    at.run()  # AppTest never fires run_every: rerun by hand, as the fragments would
    assert not at.exception, at.exception


def test_url_drives_the_settings_and_the_start_chart_is_uniform() -> None:
    at = open_darts(
        epochs="7",
        cells="3",
        nodes="2",
        ch="16",
        pc="4",
        cure="cap-skips",
        order="2",
        retrain="3",
        alr="3e-4",
        wlr="0.005",
        sel="perturbation",
        size="0.3",
    )
    assert at.selectbox(key="da_size").value == "0.3"
    assert at.slider(key="da_epochs").value == 7
    assert at.slider(key="da_cells").value == 3 and at.slider(key="da_nodes").value == 2
    assert at.select_slider(key="da_ch").value == 16
    assert at.radio(key="da_pc").value == 4 and at.radio(key="da_order").value == 2
    assert at.selectbox(key="da_cure").value == "cap-skips"
    assert at.number_input(key="da_retrain").value == 3
    assert at.selectbox(key="da_alr").value == "3e-4"
    assert at.selectbox(key="da_wlr").value == "0.005"
    assert at.selectbox(key="da_sel").value == "perturbation"
    assert not at.warning
    (title,) = _titles(at)
    assert title.startswith("Normal cell: softmax(α) per edge, before the search")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(spec["data"]) == 5 * 8  # 2 nodes: 5 edges x 8 ops
    at.slider(key="da_epochs").set_value(12).run()
    assert _qp(at, "epochs") == "12"
    at.selectbox(key="da_cure").set_value("early-stop").run()
    assert _qp(at, "cure") == "early-stop"
    at.selectbox(key="da_alr").set_value("1e-1").run()
    assert _qp(at, "alr") == "1e-1"
    at.selectbox(key="da_wlr").set_value("0.05").run()
    assert _qp(at, "wlr") == "0.05"
    at.selectbox(key="da_sel").set_value("alpha").run()
    assert _qp(at, "sel") == "alpha"


def test_hostile_link_values_are_named_once_and_corrected() -> None:
    at = open_darts(
        epochs="999",
        nodes="abc",
        cure="<b>magic</b>",
        ch="7",
        wlr="9",
        sel="<i>magnitude</i>",
        size="-5",
        cell="x",
        job="lowrank-model-x",
    )
    texts = [w.value.replace("\\", "") for w in at.warning]
    assert any("'epochs=999' in the link is outside 1..50; clamped." in t for t in texts)
    assert any("'nodes=abc'" in t and "not a whole number" in t for t in texts)
    assert any("'cure=<b>magic</b>'" in t for t in texts)  # shown as typed, not as HTML
    assert any("'ch=7'" in t for t in texts) and any("'cell=x'" in t for t in texts)
    assert any("'wlr=9'" in t for t in texts) and at.selectbox(key="da_wlr").value == "0.05"
    assert any("'sel=<i>magnitude</i>'" in t for t in texts) and at.selectbox(key="da_sel").value == "alpha"
    assert any("'size=-5'" in t for t in texts) and at.selectbox(key="da_size").value == "0"
    assert any("not a job of this page" in t for t in texts)
    assert at.slider(key="da_epochs").value == 50
    assert _qp(at, "epochs") == "50" and _qp(at, "cure") == "none" and _qp(at, "ch") == "8"
    assert "job" not in at.query_params
    at.run()
    assert not at.warning  # named once


def test_tiny_search_runs_to_completion_then_retrains_and_records() -> None:
    at = open_darts(**TINY)
    at.button(key="da_start").click().run()
    assert not at.exception, at.exception
    job_id = _qp(at, "job")
    assert job_id.startswith("darts-search-")
    _finish(at, job_id)
    titles = _titles(at)
    assert titles[0] == "Normal cell: softmax(α) per edge, after epoch 2 of 2"
    assert any(t.startswith("Derived normal cell") for t in titles)
    assert "Search and validation accuracy of the supernet" in titles
    assert "Skips and all parameter-free ops in the derived normal cell" in titles
    assert metric(at, "Epochs done") == "2/2"
    assert any("Search done on **cpu**" in s.value for s in at.success)
    assert any("most decided edge" in c.value for c in at.caption)
    at.get("button_group")[0].set_value("reduce").run()  # the cell picker
    assert not at.exception, at.exception
    assert _titles(at)[0] == "Reduction cell: softmax(α) per edge, after epoch 2 of 2"
    assert any(t.startswith("Derived reduction cell") for t in _titles(at))
    assert _qp(at, "cell") == "reduce"

    # a reload (a new session with the job in the URL) reattaches to the same search
    again = open_darts(**TINY, job=job_id)
    assert metric(again, "Epochs done") == "2/2"

    at.button(key="da_retrain_go").click().run()
    at.button(key="da_random_go").click().run()
    assert not at.exception, at.exception
    manager = sidebar.job_manager()
    retrain_id = next(j.id for j in manager.list() if j.id.startswith("darts-retrain-"))
    random_id = next(j.id for j in manager.list() if j.id.startswith("darts-random-"))
    _finish(at, retrain_id)
    _finish(at, random_id)
    top1 = metric(at, "DARTS: test top-1")
    assert top1.endswith("%") and 0 <= float(top1.rstrip("%")) <= 100
    assert metric(at, "Random cells (mean of 3): test top-1").endswith("%")  # on digits 3, as the issue asks
    assert "Retrained with the same budget: DARTS vs random cells" in _titles(at)
    record = next(b for b in at.button if b.label == "Record as run")
    record.click().run()
    assert not at.exception, at.exception
    original, run = runs.open_store().runs()  # the lineage's baseline is recorded first
    assert original.technique == "baseline" and original.baseline_hash == run.baseline_hash
    assert run.technique == "darts" and run.arch == "darts" and "darts" in run.tags
    assert run.recipe[0]["technique"] == "darts" and run.recipe[0]["epochs"] == 2


def test_cancel_stops_the_search_and_keeps_the_epochs_it_drew() -> None:
    at = open_darts(**{**TINY, "epochs": "50", "seed": "7"})
    at.button(key="da_start").click().run()
    job_id = _qp(at, "job")
    manager = sidebar.job_manager()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # cancel after the first epoch, so the chart has something to keep
        found = darts.live(job_id)
        if found is not None and found.records:
            break
        time.sleep(0.1)
    at.button(key=f"cancel-{job_id}").click().run()
    job = manager.wait(job_id, timeout=120)
    assert job.state == "cancelled"
    at.run()
    assert not at.exception, at.exception
    assert any("cancelled" in w.value for w in at.warning)
    assert not at.button(key="da_start").disabled  # a new search can start
    assert re.match(r"Normal cell: softmax\(α\) per edge, after epoch \d+ of 50$", _titles(at)[0])  # kept
    assert not any(b.label == "Retrain the derived cell" for b in at.button)


def test_a_search_with_perturbation_selection_shows_the_cell_it_chose() -> None:
    at = open_darts(**TINY, sel="perturbation", cure="cap-skips")
    at.button(key="da_start").click().run()
    job_id = _qp(at, "job")
    _finish(at, job_id)
    result = sidebar.job_manager().get(job_id).result
    assert result.selection_scores is not None and result.config.selection == "perturbation"
    assert any("chosen by perturbation (DARTS-PT)" in s.value for s in at.success)
    assert result.genotype.normal != result.records[-1].genotype.normal  # here the two ways differ
    chosen = charts.cell_data(result.genotype.normal, 2, "normal")  # the chosen cell, not the alphas'
    assert charts.cell_caption(chosen, 2, perturbation=True) in [c.value for c in at.caption]
    assert metric(at, "Skips in the chosen cell") == str(result.genotype.skip_count())
    title = "Removal test, normal cell: how much the validation loss rises without each op"
    assert title in _titles(at)
    removal = charts.removal_data(result.selection_scores["normal"], result.genotype.normal, OPS, 2)
    assert charts.removal_caption(removal) in [c.value for c in at.caption]


def test_a_lesson_can_set_every_control_of_the_page() -> None:
    from compression import lessons

    assert set(lessons.LABS["darts"].params) == set(darts.DEFAULTS)


def test_the_target_link_opens_the_recorded_search_and_the_warm_up_stays_shorter_than_it() -> None:
    """The page's link to the recorded fashion-mnist target search seeds every control with its settings
    (a new tab's widgets start from its URL); a warm-up as long as the search is cut to one epoch less."""
    at = open_darts()
    assert any("The recorded fashion-mnist target search" in c.value for c in at.caption)
    query = dict(parse_qsl(urlsplit(darts.target_link()).query))
    at = open_darts(**query)
    assert not at.warning
    assert at.slider(key="da_epochs").value == TARGET.epochs == 10
    assert at.number_input(key="da_warm").value == 4 and at.select_slider(key="da_imgs").value == 10_000
    assert at.radio(key="da_pc").value == 4 and at.selectbox(key="da_cure").value == "cap-skips"
    assert at.number_input(key="da_retrain").value == 15 and at.selectbox(key="da_alr").value == "3e-2"
    assert {k: _qp(at, k) for k in query} == query  # the link is what the page writes back
    at = open_darts(epochs="3", warm="9")
    assert at.number_input(key="da_warm").value == 2 and _qp(at, "warm") == "2"
    at.slider(key="da_epochs").set_value(1).run()
    assert at.number_input(key="da_warm").value == 0 and _qp(at, "warm") == "0"
