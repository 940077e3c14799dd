"""ui.early_plotly's page list is true: the pages it names draw a Plotly chart on their first screen, the others
draw none there (their first numbers would wait for Plotly's evaluation), and the real server edits only those."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from compression import data, metrics, runs, train
from tests.app.pages import open_page
from ui import warmup
from ui.early_plotly import CHART_FIRST


def test_the_list_names_pages_of_the_app() -> None:
    router = (Path(__file__).parents[2] / "app.py").read_text()
    assert set(re.findall(r'url_path="(\w+)"', router)) >= CHART_FIRST


def _record_the_baseline() -> None:
    """One real run in the (isolated) store: the shipped digits LeNet-5, measured without latency."""
    ds = data.load("digits")
    base = train.load_baseline(train.default_config("digits", "lenet5"))
    assert base is not None
    m = metrics.measure(base, ds, latency=False)
    runs.record_run(
        base, dataset="digits", arch="lenet5", baseline_hash=train.weights_hash(base), recipe=[], measurement=m,
        technique="baseline",
    )  # fmt: skip


@pytest.mark.parametrize("page", ["home", *warmup.pages()])
def test_a_page_is_listed_when_its_default_first_screen_draws_plotly(isolated: None, page: str) -> None:
    if page == "compare":  # its first screen is the front of the recorded runs
        _record_the_baseline()
    at = open_page(page)
    assert bool(at.get("plotly_chart")) == (page in CHART_FIRST)


def test_the_served_page_starts_plotly_on_a_lab_only(tmp_path: Path) -> None:
    from bench.first_chart import serve, stop

    base, proc = serve(False, tmp_path)  # `streamlit run serve.py`, as scripts/start.sh serves the app
    try:
        lab = urllib.request.urlopen(f"{base}/prune?dataset=digits").read().decode()
        model = urllib.request.urlopen(f"{base}/model").read().decode()
        chunk = re.search(r'import\("\./(static/js/PlotlyChart\.[^"]+\.js)"\)', lab)
        assert chunk and lab.index(chunk.group(0)) < lab.index("</head>")
        assert "import(" not in model and "PlotlyChart" not in model
        with urllib.request.urlopen(f"{base}/{chunk.group(1)}") as js:
            assert js.status == 200 and len(js.read()) > 1_000_000
    finally:
        stop(proc)
