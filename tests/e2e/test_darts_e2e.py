"""The DARTS lab in a real browser: a deep link on a fresh server, Start a tiny search on digits and watch
the alpha chart update by itself (a second epoch appears, no reload); presenter mode at 1280x720 puts
the epochs slider and the alpha chart side by side on the first screen."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import IDLE_TIMEOUT_MS, wait_idle

TINY = "dataset=digits&model=lenet5&epochs=3&cells=1&nodes=1&ch=4&pc=2&imgs=128&retrain=1"


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("darts_app")
    return {
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}",
        "OMP_NUM_THREADS": "1",
    }


def _alpha_title(page: Page):  # noqa: ANN202 - a Playwright locator
    return page.locator("[data-testid=stPlotlyChart] .gtitle").filter(has_text="softmax(α) per edge").first


def test_start_a_tiny_search_and_see_the_alpha_chart_update(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/darts?{TINY}")
    wait_idle(page)
    expect(page.get_by_role("heading", name="DARTS lab")).to_be_visible()
    expect(_alpha_title(page)).to_have_text(re.compile("before the search"))

    t0 = time.monotonic()
    page.get_by_role("button", name="Start search").click()
    expect(page).to_have_url(re.compile(r"[?&]job=darts-search-"))
    # the live fragment redraws the chart by itself as epochs end: the first, then a second one
    expect(_alpha_title(page)).to_have_text(re.compile(r"after epoch [1-3] of 3"))
    first = time.monotonic() - t0
    expect(_alpha_title(page)).to_have_text(re.compile(r"after epoch [2-3] of 3"))
    print(f"epoch 1 drawn {first:.1f} s after Start, a later epoch {time.monotonic() - t0:.1f} s after")
    # each edge's stacked area now holds one point per epoch drawn (and the start)
    expect(page.get_by_text("the most decided edge is")).to_be_visible()


def test_presenter_mode_puts_the_epochs_slider_beside_the_alpha_chart(browser: Browser, app_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.set_default_timeout(IDLE_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(f"{app_url}/darts?dataset=digits&model=lenet5&present=1")
        wait_idle(page)
        slider = page.locator("[data-testid=stSlider]", has_text="Search budget (epochs)").first
        chart = page.locator("[data-testid=stPlotlyChart]").first
        expect(chart.locator(".main-svg").first).to_be_visible()
        page.wait_for_timeout(1000)
        s, c = slider.bounding_box(), chart.bounding_box()
        assert s is not None and c is not None
        for box in (s, c):
            assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, box
        assert c["x"] >= s["x"] + s["width"] - 1, "the chart sits beside the slider"
        assert "softmax(α)" in chart.inner_text()
        assert page.locator(".modebar-container").first.is_hidden()
    finally:
        context.close()
