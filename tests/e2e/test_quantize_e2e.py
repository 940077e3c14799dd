"""The Quantization lab in a real browser: the bit-width slider, moved with the keyboard, changes the grid and numbers."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle

METRIC = "[data-testid=stMetricValue]"


def metric(page: Page, label: str) -> str:
    card = page.get_by_test_id("stMetric").filter(has_text=label).first
    return card.get_by_test_id("stMetricValue").inner_text().strip()


def grid_lines(page: Page) -> int:
    """Vertical level lines drawn on the first chart (the quantization grid)."""
    chart = page.get_by_test_id("stPlotlyChart").first
    expect(chart.locator(".shapelayer path").first).to_be_attached()
    return chart.locator(".shapelayer path").count()


def bits_slider(page: Page) -> object:
    return page.get_by_test_id("stSlider").filter(has_text="Bits per weight").get_by_role("slider")


def test_bit_width_slider_moves_grid_and_numbers(app_url: str, page: Page) -> None:
    # The first request on this fresh server is the page's deep link (DESIGN.md section 5 pitfall).
    page.goto(f"{app_url}/quantize?dataset=digits&model=lenet5&bits=4")
    wait_idle(page)
    expect(page).to_have_title(re.compile("Compression Lab"))
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("simulated: runs in float")).to_be_visible()
    slider = bits_slider(page)
    expect(slider).to_have_attribute("aria-valuetext", "4")
    size_4, lines_4 = metric(page, "File size"), grid_lines(page)

    slider.focus()
    for _ in range(2):  # 4 -> 3 -> 2 bits
        page.keyboard.press("ArrowLeft")
        wait_idle(page)
    expect(
        page.get_by_test_id("stMetric").filter(has_text="File size").get_by_test_id("stMetricValue")
    ).not_to_have_text(size_4)
    assert re.search(r"bits=2\b", page.url), page.url
    lines_2 = grid_lines(page)
    assert lines_2 < lines_4  # 2 bits: 3 levels (+ the clipping band) instead of 15
    expect(page.get_by_test_id("stException")).to_have_count(0)

    page.reload()  # the URL reproduces the view
    wait_idle(page)
    expect(page.get_by_text("simulated: runs in float")).to_be_visible()
    expect(bits_slider(page)).to_have_attribute("aria-valuetext", "2")
