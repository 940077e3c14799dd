"""The Pruning lab in a real browser: open a deep link on a fresh server, move the slider with the
keyboard, and see a metric card and a chart change; the URL follows."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle

METRIC = "[data-testid=stMetricValue]"


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("prune_app")
    return {
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}",
        "OMP_NUM_THREADS": "1",  # tiny models on a shared 2-core machine: one thread is faster
    }


def _card(page: Page, label: str) -> str:
    card = page.get_by_test_id("stMetric").filter(has_text=re.compile(label)).first
    return card.get_by_test_id("stMetricValue").inner_text().strip()


def _histogram_title(page: Page) -> str:
    """The histogram's trace names count the zero weights: they change with the slider."""
    plot = page.locator(".js-plotly-plot").nth(1)
    return str(plot.evaluate("el => JSON.stringify((el.data || []).map(t => t.name))"))


def test_deep_link_on_a_fresh_server_runs_the_router(app_url: str, page: Page) -> None:
    """First request of the module's fresh server: the router (app.py) must run, not views/prune.py alone."""
    page.goto(f"{app_url}/prune?dataset=digits&model=lenet5&amount=0.40")
    wait_idle(page)
    expect(page).to_have_title(re.compile("Compression Lab"))
    expect(page.get_by_role("heading", name="Pruning lab")).to_be_visible()


def test_slider_moves_numbers_and_chart(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/prune?dataset=digits&model=lenet5&amount=0.50")
    wait_idle(page)
    expect(page.get_by_role("heading", name="Pruning lab")).to_be_visible()
    expect(page.locator(METRIC).first).to_be_visible()
    assert _card(page, "Weights gone").startswith("50")
    size_before = _card(page, "Measured size")
    legend_before = _histogram_title(page)
    assert "are 0" in legend_before

    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(3):
        slider.press("ArrowRight")
    wait_idle(page)
    expect(
        page.get_by_test_id("stMetric").filter(has_text="Weights gone").get_by_test_id("stMetricValue")
    ).to_have_text(re.compile(r"^53"))
    assert _card(page, "Measured size") != size_before
    assert _histogram_title(page) != legend_before
    expect(page).to_have_url(re.compile(r"amount=0\.53"))


def test_structured_deep_link_explains_real_speedup(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/prune?dataset=digits&model=lenet5&amount=0.5&method=l1-filter")
    wait_idle(page)
    expect(page.get_by_text("Removed channels really run faster")).to_be_visible()
    macs = _card(page, "MACs")
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("Home")  # to 0: nothing removed
    wait_idle(page)
    expect(
        page.get_by_test_id("stMetric").filter(has_text="MACs").get_by_test_id("stMetricValue")
    ).not_to_have_text(macs)
