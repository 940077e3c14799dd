"""The Distillation lab in a real browser: a deep link on a fresh server, then the temperature
slider moved with the keyboard changes the soft-target chart and the entropy; the URL follows."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle


def _entropy(page: Page) -> str:
    card = page.get_by_test_id("stMetric").filter(has_text="Entropy at T (this image)").first
    return card.get_by_test_id("stMetricValue").inner_text().strip()


def _soft_targets(page: Page) -> str:
    """The soft-target chart's title and bar heights, read from the Plotly element in the page."""
    return str(
        page.locator(".js-plotly-plot").first.evaluate(
            "el => JSON.stringify([el.layout.title.text, (el.data || []).map(t => t.y)])"
        )
    )


def test_temperature_slider_moves_soft_targets_and_entropy(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/distill?dataset=digits&model=lenet5&T=2&img=3")
    wait_idle(page)
    expect(page).to_have_title(re.compile("Compression Lab"))
    expect(page.get_by_role("heading", name="Distillation lab")).to_be_visible()
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    entropy, chart = _entropy(page), _soft_targets(page)
    assert "soft targets at T = 2" in chart

    slider = page.get_by_role("slider").first  # the temperature select-slider
    slider.focus()
    for _ in range(3):  # 2 -> 3 -> 4 -> 5
        slider.press("ArrowRight")
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"[?&]T=5(&|$)"))
    expect(
        page.get_by_test_id("stMetric")
        .filter(has_text="Entropy at T (this image)")
        .get_by_test_id("stMetricValue")
    ).not_to_have_text(entropy)
    after = _soft_targets(page)
    assert "soft targets at T = 5" in after and after != chart
