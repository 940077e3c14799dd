"""AppTest of the Pruning lab: the page runs, the slider changes the numbers, the URL drives the view."""

from __future__ import annotations

import re
from functools import partial

import pytest
import torch
from streamlit.testing.v1 import AppTest

from tests.app.pages import metric, open_page

torch.set_num_threads(1)  # AppTest runs the page in this process; one thread avoids spin-waits on a busy CPU


pytestmark = pytest.mark.usefixtures("isolated")


open_prune = partial(open_page, "prune")


def chart_json(at: AppTest, index: int) -> str:
    return at.get("plotly_chart")[index].proto.spec


def test_page_runs_and_slider_changes_the_numbers() -> None:
    at = open_prune(amount="0.3")
    assert at.slider(key="p_amount").value == pytest.approx(0.3)
    gone = metric(at, "Weights gone")
    size = metric(at, "Measured size (artifact)")
    hist = chart_json(at, 1)
    assert gone.startswith("30")
    at.slider(key="p_amount").set_value(0.9).run()
    assert not at.exception, at.exception
    assert metric(at, "Weights gone").startswith("90")
    card = next(m for m in at.metric if m.label == "Weights gone")
    left, total = (int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", card.proto.delta))
    assert 1 - left / total == pytest.approx(
        0.9, abs=5e-4
    )  # the line under the share counts the same weights
    assert metric(at, "Measured size (artifact)") != size
    assert chart_json(at, 1) != hist  # the histogram moved with the slider
    assert at.query_params["amount"] == ["0.90"] or at.query_params["amount"] == "0.90"
    # the main chart and the open tab's only (hidden tabs send nothing: a new browser draws less)
    assert [c.key for c in at.get("plotly_chart")] == ["p_size_latency", "p_hist"]


@pytest.mark.parametrize(
    ("view", "drawn"),
    [("Sparsity per layer", "p_sparsity"), ("One layer's weights", "p_matrix"), ("<b>nope</b>", "p_hist")],
)
def test_the_url_opens_a_chart_tab_and_a_wrong_one_falls_back(view: str, drawn: str) -> None:
    at = open_prune(amount="0.5", view=view)
    assert not at.exception, at.exception
    assert [c.key for c in at.get("plotly_chart")] == ["p_size_latency", drawn]
    kept = at.query_params.get("view")
    kept = kept[-1] if isinstance(kept, list) else kept
    assert kept == (None if drawn == "p_hist" else view)  # a wrong value is dropped from the link


def test_structured_method_shrinks_and_explains_speed() -> None:
    at = open_prune(amount="0.5", method="l1-filter")
    assert at.selectbox(key="p_method").value == "l1-filter"
    text = " ".join(m.value for m in at.markdown)
    assert "Removed channels really run faster" in text
    macs = metric(at, "MACs / image")
    at.slider(key="p_amount").set_value(0.0).run()
    assert metric(at, "MACs / image") != macs


def test_full_measurement_offers_recording() -> None:
    at = open_prune(amount="0.8")
    at.toggle[0].set_value(True).run()
    assert not at.exception, at.exception
    assert "Latency, batch 256" in {m.label for m in at.metric}
    assert any(b.label == "Record as run" for b in at.button)


def test_bad_url_values_warn_and_clamp() -> None:
    at = open_prune(amount="7", method="nope", exclude="not_a_layer")
    assert at.slider(key="p_amount").value == pytest.approx(0.99)
    warnings = " ".join(w.value for w in at.warning).replace("\\", "")  # as shown: Markdown escapes removed
    assert "amount" in warnings and "method" in warnings and "not_a_layer" in warnings


def test_finetuning_runs_as_a_job_with_progress() -> None:
    at = open_prune(amount="0.5", ft="1")
    start = [b for b in at.button if b.label == "Run pruning with fine-tuning"]
    assert start, "a fine-tuning config must offer a background job"
    start[0].click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("job")
    from ui import sidebar

    job_id = at.query_params["job"]
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    sidebar.job_manager().wait(job_id, timeout=240)
    at.run()
    assert not at.exception, at.exception
    assert metric(at, "Weights gone").startswith("50")


def test_slimming_needs_batchnorm_message() -> None:
    at = open_prune(method="slimming")  # LeNet-5 has no BatchNorm
    assert any("method=slimming" in w.value for w in at.warning)
    assert any("needs BatchNorm" in c.value for c in at.caption)
    assert "slimming" not in at.selectbox(key="p_method").options
    assert metric(at, "Weights gone")  # the page is not blank
    v = at.query_params["method"]
    assert (v if isinstance(v, str) else v[-1]) == "magnitude"  # the link follows what is shown


def _wait_job(at: AppTest, prefix: str) -> None:
    from ui import sidebar

    jobs = [j for j in sidebar.job_manager().list() if j.id.startswith(prefix)]
    assert jobs, f"no {prefix} job was started"
    for job in jobs:
        sidebar.job_manager().wait(job.id, timeout=240)
        assert job.state == "done", job.error


def test_sensitivity_scan_and_method_curves_run_as_jobs() -> None:
    at = open_prune(amount="0.5")
    n_charts = len(at.get("plotly_chart"))
    next(b for b in at.button if b.label == "Run the 10-level sensitivity scan").click().run()
    next(b for b in at.button if b.label == "Compute accuracy-vs-sparsity curves").click().run()
    _wait_job(at, "sens-")
    _wait_job(at, "curves-")
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == n_charts + 3  # curves, sensitivity heatmap and curves
    assert at.slider(key="p_drop").value == 1.0
    rates = at.dataframe[0].value
    assert len(rates) == 5  # one row per LeNet-5 layer
    at.button(key="p_sens_apply").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == n_charts + 4  # + the per-layer sparsity of the result
    assert metric(at, "Top-1 (full test set)").endswith("%") and metric(at, "Latency, batch 256").endswith(
        "ms"
    )
    at.button(key="p_sens_rates_record").click().run()  # the result outlives the button's rerun: recordable
    assert any("Recorded as run #2 (its baseline: run #1)" in s.value for s in at.success)


def test_fine_tuning_not_run_yet_keeps_the_live_preview() -> None:
    at = open_prune(amount="0.6", ft="2")
    assert any("before** fine-tuning" in c.value or "before fine-tuning" in c.value for c in at.caption)
    assert metric(at, "Weights gone").startswith("60")  # the preview is drawn, not a blank page
    assert "Run pruning with fine-tuning" in [b.label for b in at.button]
    assert "Record as run" not in [b.label for b in at.button]  # only the fine-tuned result is recordable
