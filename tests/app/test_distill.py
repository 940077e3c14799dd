"""AppTest of the Distillation lab: the explorer follows the temperature, the URL drives the view,
training runs as a job that yields a distilled student and its scratch twin, recordable as runs."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from streamlit.testing.v1 import AppTest

from compression import runs
from tests.app.pages import metric, open_page
from ui import sidebar

torch.set_num_threads(1)  # AppTest runs the page in this process; one thread avoids spin-waits on a busy CPU

pytestmark = pytest.mark.usefixtures("isolated")

open_distill = partial(open_page, "distill")


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _title(spec: dict) -> str:
    return spec["layout"]["title"]["text"]


def test_temperature_changes_soft_targets_entropy_and_url() -> None:
    at = open_distill(T="1")
    assert at.select_slider(key="d_T").value == 1
    entropy = metric(at, "Entropy at T (this image)")
    soft = next(s for s in _charts(at) if "soft targets" in _title(s))
    at.select_slider(key="d_T").set_value(20).run()
    assert not at.exception, at.exception
    assert metric(at, "Entropy at T (this image)") != entropy
    soft2 = next(s for s in _charts(at) if "soft targets" in _title(s))
    assert soft2["data"][1]["y"] != soft["data"][1]["y"]
    assert "T = 20" in _title(soft2)
    assert at.query_params["T"] in ("20", ["20"])
    assert [c.key for c in at.get("plotly_chart")] == ["d_soft", "d_entropy"]  # the closed tab draws nothing
    at = open_distill(T="20", view="Class similarity")  # a link (a lesson's step) opens the other tab
    text = " ".join(m.value for m in at.markdown)
    assert "looks like" in text  # dark knowledge in words
    assert any("Dark knowledge" in _title(s) for s in _charts(at))
    assert [c.key for c in at.get("plotly_chart")] == ["d_soft", "d_similarity"]


def test_url_sets_the_controls_and_bad_values_warn() -> None:
    at = open_distill(
        T="8", alpha="0.5", loss="mse", student="lenet5", width="1/2", epochs="3", labels="500", jitter="2"
    )
    assert at.select_slider(key="d_T").value == 8
    assert at.slider(key="d_alpha").value == pytest.approx(0.5)
    assert at.selectbox(key="d_loss").value == "mse"
    assert at.selectbox(key="d_student").value == "lenet5"
    assert at.selectbox(key="d_labels").value == "500"
    assert at.number_input(key="d_jitter").value == 2
    at.selectbox(key="d_loss").set_value("hint").run()
    assert at.number_input(key="d_jitter").disabled  # FitNets hints need the cached teacher features
    bad = open_distill(T="900", loss="l7")
    assert bad.select_slider(key="d_T").value == 50
    assert len(bad.warning) >= 2


def test_distillation_runs_as_a_job_and_records_both_students() -> None:
    at = open_distill(epochs="1", width="1/4", T="4")
    go = next(b for b in at.button if b.label.startswith("Distil"))
    go.click().run()
    assert not at.exception, at.exception
    job_id = at.query_params["job"]
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    job = sidebar.job_manager().wait(job_id, timeout=240)
    assert job.state == "done", job.error
    at.run()
    assert not at.exception, at.exception
    assert metric(at, "Distilled top-1").endswith("%")
    assert "Scratch twin top-1" in {m.label for m in at.metric}
    why = " ".join(i.value for i in at.info)
    assert "20 optimizer steps" in why and ("twin" in why or "helped" in why)  # the gap is explained
    curves = [s for s in _charts(at) if "scratch" in _title(s)]
    assert curves and [t["name"] for t in curves[0]["data"]][:2] == ["distilled", "scratch twin"]
    records = [b for b in at.button if b.label == "Record as run"]
    assert len(records) == 2
    records[0].click().run()
    assert not at.exception, at.exception
    df = runs.open_store().frame()
    assert sorted(df["technique"]) == ["baseline", "distill"]  # the teacher, recorded as its baseline
    assert df.set_index("technique")["arch"].to_dict() == {"baseline": "lenet5", "distill": "lenet-300-100"}


def test_temperature_sweep_draws_a_curve_and_records_every_student() -> None:
    at = open_distill(epochs="1", width="1/4")
    next(b for b in at.button if b.label == "Run the sweep").click().run()
    assert not at.exception, at.exception
    jobs = [j for j in sidebar.job_manager().list() if j.id.startswith("dsweep-temperature-1-")]
    assert jobs
    job = sidebar.job_manager().wait(jobs[-1].id, timeout=240)
    assert job.state == "done", job.error
    at.run()
    assert not at.exception, at.exception
    sweep = [s for s in _charts(at) if "Accuracy against temperature" in _title(s)]
    assert sweep and list(sweep[0]["data"][0]["x"]) == [1, 2, 4, 8, 16, 20]
    df = runs.open_store().frame()
    assert sorted(df["technique"].value_counts().to_dict().items()) == [
        ("baseline", 1),
        ("distill", 6),
        ("scratch-twin", 6),
    ]
    assert df["baseline_hash"].nunique() == 1
