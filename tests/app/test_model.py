"""AppTest of the Model page: metrics render, the URL drives the view, uploads are checked."""

from __future__ import annotations

import io
import re
from functools import partial
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from compression import models, train
from tests.app.pages import APP, TIMEOUT, metric, open_page

pytestmark = pytest.mark.usefixtures("isolated")


open_model = partial(open_page, "model")


def test_model_page_shows_every_measurement() -> None:
    at = open_model()
    labels = {m.label for m in at.metric}
    assert {"Top-1 accuracy", "Top-5 accuracy", "Parameters", "Size on disk", "MACs / image"} <= labels
    top1 = float(metric(at, "Top-1 accuracy").rstrip("%"))
    assert top1 >= 97.0  # the shipped digits LeNet-5 baseline target
    assert len(at.dataframe) >= 1
    # no chart with the numbers: a new browser shows no number until every chart sent with it is drawn
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("view", ["Weights", "Mistakes", "Examples"])
def test_each_tab_draws_its_chart_when_opened(view: str) -> None:
    at = open_model(view=view)  # a link to the tab, as a lesson or a copied URL gives it
    assert len(at.get("plotly_chart")) == 1 and not at.dataframe


def test_switching_model_changes_numbers_and_url() -> None:
    at = open_model()
    params_lenet5 = metric(at, "Parameters")
    at.selectbox(key="sb_model").set_value("lenet-300-100").run()
    assert not at.exception
    assert at.query_params["model"] == "lenet-300-100"
    assert metric(at, "Parameters") != params_lenet5


def test_absurd_url_values_warn_and_fall_back() -> None:
    at = open_model(dataset="nope", model="lenet5", layer="zzz")
    warnings = " ".join(w.value for w in at.warning)
    assert "nope" in warnings
    assert at.query_params["dataset"] == "digits"


def test_log_scale_toggle_changes_histogram() -> None:
    at = open_model(view="Weights")
    spec_linear = at.get("plotly_chart")[0].proto.spec
    at.toggle(key="log").set_value(True).run()
    spec_log = at.get("plotly_chart")[0].proto.spec
    assert '"type":"log"' in spec_log.replace(" ", "") and spec_linear != spec_log


def _state_dict_bytes(model_name: str, shape: tuple[int, int, int] = (1, 8, 8)) -> bytes:
    model = models.build(model_name, shape, 10)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getvalue()


def test_upload_good_weights_switches_model() -> None:
    at = open_model()
    baseline_top1 = metric(at, "Top-1 accuracy")
    at.get("file_uploader")[0].set_value(("mine.pt", _state_dict_bytes("lenet5"), "application/octet-stream"))
    at.run()
    at.run()
    assert not at.exception
    assert "weights" in at.query_params
    assert metric(at, "Top-1 accuracy") != baseline_top1  # untrained weights score near chance
    next(b for b in at.button if b.label == "Back to the trained baseline").click().run()
    at.run()  # the uploader still holds the file: it was applied once, it is not applied again
    assert not at.exception
    assert "weights" not in at.query_params
    assert metric(at, "Top-1 accuracy") == baseline_top1


def test_upload_mismatched_weights_refused() -> None:
    at = open_model()
    at.get("file_uploader")[0].set_value(
        ("other.pt", _state_dict_bytes("lenet-300-100"), "application/octet-stream")
    )
    at.run()
    errors = " ".join(e.value for e in at.error)
    assert "Upload refused" in errors and ("Missing key" in errors or "mismatch" in errors)
    assert "weights" not in at.query_params


def test_home_page_links_every_lab() -> None:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"dataset": "digits", "model": "lenet5"})
    at.run()
    assert not at.exception
    assert "98." in at.info[0].value  # the shipped digits LeNet-5's test top-1
    links = {link.proto.page for link in at.get("page_link")}
    router = Path(__file__).parents[2] / "app.py"
    pages = set(re.findall(r'url_path="([a-z]+)"', router.read_text()))  # the navigation
    assert len(pages) >= 10 and links == pages


def test_baseline_training_panel_when_not_cached() -> None:
    assert train.baseline_path(train.default_config("digits", "mobilenet_v3_small")) is None  # not shipped
    at = open_model(model="mobilenet_v3_small")
    assert any("No trained" in i.value for i in at.info)
    assert any(b.label == "Train baseline" for b in at.button)
