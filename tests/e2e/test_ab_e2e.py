"""The A/B view in a real browser: a review meeting opens ONE link on a fresh server and sees both
settings' main charts side by side and the A-vs-B differences table; moving B's slider moves B only."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("ab_app")
    return {
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}",
        "OMP_NUM_THREADS": "1",
    }


def _titles(page: Page) -> list[str]:
    """Every drawn Plotly chart's title, in page order."""
    return [
        str(el.evaluate("el => (el.layout && el.layout.title && el.layout.title.text) || ''"))
        for el in page.locator(".js-plotly-plot").all()
    ]


def _card(page: Page, label: str, side: int) -> str:
    cards = page.get_by_test_id("stMetric").filter(has_text=re.compile(label))
    return cards.nth(side).get_by_test_id("stMetricValue").inner_text().strip()


def test_an_ab_link_shows_both_charts_and_the_differences(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/prune?dataset=digits&model=lenet5&amount=0.30&ab=1&b_amount=0.90")
    wait_idle(page)
    expect(page.get_by_role("heading", name="A: this page's setting")).to_be_visible()
    expect(page.get_by_role("heading", name="B: the setting to compare")).to_be_visible()
    table = page.get_by_test_id("stTable")
    expect(table).to_contain_text("B better")  # smaller file
    expect(table).to_contain_text("B worse")  # lower accuracy
    expect(page.get_by_test_id("stMarkdown").filter(has_text="What changed:")).to_contain_text("0.30 → 0.90")

    titles = _titles(page)
    main = [next(i for i, t in enumerate(titles) if f"{side}: size, MACs and latency" in t) for side in "AB"]
    plots = page.locator(".js-plotly-plot")
    a_box, b_box = plots.nth(main[0]).bounding_box(), plots.nth(main[1]).bounding_box()
    assert a_box and b_box and b_box["x"] > a_box["x"] + a_box["width"] / 2  # side by side: B on the right
    assert abs(b_box["y"] - a_box["y"]) < 40
    assert any("Setting A: weights after" in t for t in _titles(page))

    acc_a, acc_b = _card(page, "Top-1 accuracy", 0), _card(page, "Top-1 accuracy", 1)
    b_slider = page.get_by_role("slider").nth(1)  # A's prune rate first, B's second
    b_slider.focus()
    for _ in range(5):
        b_slider.press("ArrowRight")
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"b_amount=0\.95"))
    expect(page.get_by_test_id("stMarkdown").filter(has_text="What changed:")).to_contain_text("0.30 → 0.95")
    assert _card(page, "Top-1 accuracy", 0) == acc_a  # A did not move
    assert _card(page, "Top-1 accuracy", 1) != acc_b
