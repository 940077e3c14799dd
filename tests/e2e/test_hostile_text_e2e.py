"""Hostile text in a real browser: URL values and teammates' runs render as text, never as links,
images or markup (the DOM is read, not the script's output)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

from compression import data, metrics, models, runs
from tests.e2e.helpers import wait_idle

EVIL = "[Click here](https://evil.example/x) ![img](http://evil.example/i.png) <b>bold</b> https://bare.evil.example"


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A store holding one run whose who, notes, tags and layer names are hostile."""
    root = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{root / 'runs.db'}"
    ds = data.load("digits")
    model = models.build("lenet-300-100", ds.input_shape, ds.num_classes)
    m = metrics.measure(model, ds, latency=False)
    layers = [
        {"layer": "<a href='https://evil.example/l'>fc1</a>", "params": 10, "sparsity": 0.5, "bits": 32}
    ]
    store = runs.RunStore(url)
    store.add(
        runs.new_row(
            dataset="digits", arch="lenet-300-100", baseline_hash="abc", technique="magnitude-prune",
            recipe=[{"technique": "magnitude-prune", "amount": 0.5}], measurement=m, who=EVIL, notes=EVIL,
            tags=["[t](https://evil.example/t)"], layers=layers,
        )
    )  # fmt: skip
    yield {"COMPRESSION_CACHE": str(root / "cache"), "COMPRESSION_STORE": url}


def _no_evil_links_or_images(page: Page) -> None:
    hrefs = [a.get_attribute("href") or "" for a in page.locator("a").all()]
    srcs = [i.get_attribute("src") or "" for i in page.locator("img").all()]
    assert not [h for h in hrefs if "evil" in h], hrefs
    assert not [s for s in srcs if "evil" in s], srcs
    assert page.locator("b", has_text="bold").count() == 0


def test_url_values_show_as_text(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/model?dataset={quote(EVIL)}&model={quote('![x](http://evil.example/m.png)')}")
    wait_idle(page)
    expect(page.get_by_text("[Click here](https", exact=False).first).to_be_visible()
    _no_evil_links_or_images(page)


def test_teammates_text_in_the_compare_table_and_charts_shows_as_text(page: Page, app_url: str) -> None:
    page.goto(f"{app_url}/compare?sel=1")
    wait_idle(page)
    table = page.locator("[data-testid=stTable]").first
    expect(table).to_contain_text("[Click here](https")
    expect(table).to_contain_text("[t](https")
    _no_evil_links_or_images(page)
    layer_chart = page.locator(".js-plotly-plot").last
    expect(layer_chart).to_contain_text("<a href=")  # the layer name, shown literally
    assert layer_chart.locator("a").count() == 0
