"""AppTest of the Low-rank lab (rank slider -> numbers and the cut) and the Pipeline page (builder,
job, waterfall, both orders)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from tests.app.pages import metric, open_page
from ui import sidebar

torch.set_num_threads(1)


def _charts(at) -> list[dict]:  # type: ignore[no-untyped-def]
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_rank_slider_changes_numbers_cut_and_url(isolated: None) -> None:
    at = open_page("lowrank", model="lenet-300-100", method="svd", layer="fc1", rank="8")
    assert at.slider(key="lr_rank").value == 8
    energy8, weights8 = metric(at, "Energy kept"), metric(at, "Layer weights")
    cut = [s for s in _charts(at)[0]["layout"]["shapes"] if s["type"] == "line"]
    assert cut[0]["x0"] == pytest.approx(8.5)
    at.slider(key="lr_rank").set_value(32).run()
    assert not at.exception
    assert metric(at, "Energy kept") != energy8 and metric(at, "Layer weights") != weights8
    assert at.query_params["rank"] in ("32", ["32"])
    cut = [s for s in _charts(at)[0]["layout"]["shapes"] if s["type"] == "line"]
    assert cut[0]["x0"] == pytest.approx(32.5)


def test_tucker_on_a_conv_from_the_link(isolated: None) -> None:
    at = open_page("lowrank", model="lenet5", method="tucker", layer="features.3", rank="3")
    assert (
        at.selectbox(key="lr_method").value == "tucker" and at.selectbox(key="lr_layer").value == "features.3"
    )
    assert "x of" in str(next(m.delta for m in at.metric if m.label == "Layer MACs / image"))


def _values(v: object) -> list[float]:
    """Plotly JSON arrays: a list, or {"dtype", "bdata"} (base64 of the raw values)."""
    if isinstance(v, dict):
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).tolist()
    return list(v)  # type: ignore[call-overload]


def _recipe(at) -> list[dict]:  # type: ignore[no-untyped-def]
    raw = at.query_params["recipe"]
    return json.loads(raw if isinstance(raw, str) else raw[0])


def _wait(prefix: str) -> None:
    for job in [j for j in sidebar.job_manager().list() if j.id.startswith(prefix)]:
        sidebar.job_manager().wait(job.id, timeout=240)


RECIPE = json.dumps([{"technique": "magnitude-prune", "amount": 0.8}, {"technique": "huffman"}])


def test_pipeline_job_draws_the_waterfall_for_both_orders(isolated: None) -> None:
    at = open_page("pipeline", model="lenet-300-100", recipe=RECIPE, both="1")
    assert any(m.value.startswith("**1.** magnitude") for m in at.markdown)
    assert at.checkbox(key="pl_both").value
    next(b for b in at.button if b.label == "Run pipeline").click().run()
    _wait("pipeline-")
    at.run()
    assert not at.exception
    figs = _charts(at)
    assert len(figs) == 2  # the order built and its reverse
    for fig in figs:
        sizes = _values(fig["data"][0]["y"])
        assert len(sizes) == 3 and sizes[0] > sizes[1]
        assert fig["layout"]["yaxis"]["type"] == "log"
    assert at.query_params["job"]


def test_builder_adds_moves_and_removes_stages(isolated: None) -> None:
    at = open_page("pipeline", model="lenet-300-100", recipe=RECIPE)
    at.selectbox(key="pl_kind").set_value("share").run()
    next(b for b in at.button if b.label == "Add stage").click().run()
    stages = json.loads(
        at.query_params["recipe"]
        if isinstance(at.query_params["recipe"], str)
        else at.query_params["recipe"][0]
    )
    assert [s["technique"] for s in stages] == ["magnitude-prune", "huffman", "sparse-sharing"]
    at.button(key="pl_up_2").click().run()
    stages = json.loads(
        at.query_params["recipe"]
        if isinstance(at.query_params["recipe"], str)
        else at.query_params["recipe"][0]
    )
    assert [s["technique"] for s in stages] == ["magnitude-prune", "sparse-sharing", "huffman"]
    at.button(key="pl_rm_0").click().run()
    stages = json.loads(
        at.query_params["recipe"]
        if isinstance(at.query_params["recipe"], str)
        else at.query_params["recipe"][0]
    )
    assert [s["technique"] for s in stages] == ["sparse-sharing", "huffman"]


def test_a_bad_recipe_in_the_link_is_named_and_replaced(isolated: None) -> None:
    at = open_page("pipeline", model="lenet-300-100", recipe='[{"technique": "nope"}]')
    assert any("Ignoring the recipe" in w.value for w in at.warning)


def test_whole_model_factorisation_job_with_kd_measures_and_offers_recording(isolated: None) -> None:
    at = open_page(
        "lowrank", model="lenet-300-100", method="svd", layer="fc1", rank="8", rule="rank", ft="1", kd="1"
    )
    assert at.checkbox(key="lr_kd").value
    at.button(key="lr_go").click().run()
    _wait("lowrank-model-")
    at.run()
    assert not at.exception
    assert metric(at, "Parameters") and metric(at, "Top-1")
    assert any(b.label == "Record as run" for b in at.button)


def test_builder_wraps_a_fine_tuned_stage_in_kd(isolated: None) -> None:
    at = open_page("pipeline", model="lenet-300-100", recipe=RECIPE)
    at.selectbox(key="pl_kind").set_value("share").run()
    at.number_input(key="pl_epochs").set_value(1).run()
    at.checkbox(key="pl_kd").check().run()
    next(b for b in at.button if b.label == "Add stage").click().run()
    last = _recipe(at)[-1]
    assert last["technique"] == "kd-recovery" and json.loads(last["step"])["technique"] == "sparse-sharing"
