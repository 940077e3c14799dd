"""The Search lab in a real browser: a deep link on a fresh server, Start a small search, watch
trials appear through the live fragment (no manual reload), then reload and find the same study;
in presenter mode at 1280x720 the budget slider and the live front share the first screen."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import sized_page, wait_idle


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("search_app")
    return {
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}",
        "OMP_NUM_THREADS": "1",
    }


def _trials_done(page: Page):  # noqa: ANN202 - a Playwright locator
    return page.get_by_test_id("stMetric").filter(has_text="Trials done").get_by_test_id("stMetricValue")


def test_start_a_search_and_see_trials_appear_live(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/search?dataset=digits&model=lenet5&strategy=random&budget=5&val=250")
    wait_idle(page)
    expect(page).to_have_title(re.compile("Compression Lab"))
    expect(page.get_by_role("heading", name="Search lab")).to_be_visible()

    t0 = time.monotonic()
    page.get_by_role("button", name="Start new search").click()
    expect(page).to_have_url(re.compile(r"[?&]study=digits-lenet5-random-s0-"))
    # the live fragment refreshes by itself: the first trial shows up, then all five
    expect(_trials_done(page)).to_have_text(re.compile(r"^[1-5]/5$"))
    print(f"first trial visible {time.monotonic() - t0:.1f} s after Start")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(_trials_done(page)).to_have_text("5/5")
    study = re.search(r"study=([^&]+)", page.url).group(1)  # type: ignore[union-attr]

    page.reload()  # a reload reattaches: the study is in the URL
    wait_idle(page)
    assert f"study={study}" in page.url
    expect(_trials_done(page)).to_have_text("5/5")
    expect(page.get_by_role("button", name="Record chosen trials as runs")).to_be_enabled()


def test_presenter_mode_puts_the_budget_slider_beside_the_live_front(app_url: str, browser: Browser) -> None:
    with sized_page(browser, 1280, 720) as page:
        page.goto(f"{app_url}/search?dataset=digits&model=lenet5&strategy=random&budget=5&val=250&present=1")
        wait_idle(page)
        page.get_by_role("button", name="Start new search").click()
        chart = page.locator("[data-testid=stPlotlyChart]").first  # the live objective-space chart
        expect(chart.locator(".main-svg").first).to_be_visible()
        expect(chart).to_contain_text("trials in objective space")
        expect(_trials_done(page)).to_have_text("5/5")
        page.wait_for_timeout(1000)
        slider = page.locator("[data-testid=stSlider]", has_text="Search budget (trials)").first
        s, c = slider.bounding_box(), chart.bounding_box()
        assert s is not None and c is not None
        for box in (s, c):  # both on the first screen, no scrolling
            assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, box
        assert c["x"] >= s["x"] + s["width"] - 1, "the chart sits beside the slider"
        assert c["y"] < s["y"] + s["height"], "side by side, not one under the other"
