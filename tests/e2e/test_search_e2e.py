"""The Search lab in a real browser: a deep link on a fresh server, Start a small search, watch
trials appear through the live fragment (no manual reload), then reload and find the same study."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle


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
