"""Presenter mode at 1280x720 (a projector): each lab's main slider and main chart are both on the
first screen, side by side, with no scrolling."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.helpers import IDLE_TIMEOUT_MS, wait_idle

LABS = {
    "prune": ("dataset=digits&model=lenet5&amount=0.5", "Prune rate"),
    "quantize": ("dataset=digits&model=lenet5&scheme=linear&bits=4", "Bits per weight"),
}


@pytest.mark.parametrize("lab", list(LABS))
def test_main_slider_and_chart_fit_the_first_screen_side_by_side(
    browser: Browser, app_url: str, lab: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.set_default_timeout(IDLE_TIMEOUT_MS)
    page = context.new_page()
    try:
        query, slider_label = LABS[lab]
        page.goto(f"{app_url}/{lab}?{query}&present=1")
        wait_idle(page)
        slider = page.locator("[data-testid=stSlider]", has_text=slider_label).first
        chart = page.locator("[data-testid=stPlotlyChart]").first
        expect(chart.locator(".main-svg").first).to_be_visible()
        page.wait_for_timeout(1000)
        s, c = slider.bounding_box(), chart.bounding_box()
        assert s is not None and c is not None
        for box in (s, c):
            assert box["y"] >= 0 and box["y"] + box["height"] <= 720, (lab, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= 1280, (lab, box)
        assert c["x"] >= s["x"] + s["width"] - 1, "the chart sits beside the slider"
        sidebar = page.locator("[data-testid=stSidebar]").first.bounding_box()
        assert sidebar is None or sidebar["width"] == 0 or sidebar["x"] + sidebar["width"] <= 0  # collapsed
        assert page.locator(".modebar-container").first.is_hidden()
    finally:
        context.close()
