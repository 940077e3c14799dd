"""The Model page in a real browser on a fresh server: deep links, the dataset switch, bad links."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e import helpers
from tests.e2e.helpers import wait_idle

SCREENSHOTS = Path(__file__).parent / "screenshots"
METRIC = "[data-testid=stMetricValue]"


def _metric_values(page: Page) -> list[str]:
    return [t.strip() for t in page.locator(METRIC).all_inner_texts()]


def _top1(page: Page) -> str:
    """The value of the metric card labelled 'Top-1 accuracy'."""
    card = page.get_by_test_id("stMetric").filter(has_text=re.compile("Top-1", re.IGNORECASE)).first
    return card.get_by_test_id("stMetricValue").inner_text().strip()


def _assert_router_ran(page: Page, path: str) -> None:
    """app.py (st.navigation) ran and served this very page.

    Two Streamlit behaviours break deep links. With a folder named pages/, the first request
    for a page URL on a fresh server runs pages/<x>.py alone (legacy auto-discovery): the tab
    title is the file name and the nav lists 'app'. And the default st.Page always lives at
    '/': a request for its url_path shows a 'Page not found' dialog and rewrites the URL.
    """
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page).to_have_title(re.compile("Compression Lab"))
    links = page.get_by_test_id("stSidebarNavLink")
    expect(links.filter(has_text=re.compile(r"^\s*app\s*$"))).to_have_count(0)
    expect(links.filter(has_text=re.compile("Model"))).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"/{path}\?"))


def _combobox(page: Page, label: str) -> Locator:
    """A sidebar selectbox (Streamlit 1.67 renders it as an ARIA combobox named by its label)."""
    return page.get_by_test_id("stSidebar").get_by_role("combobox", name=label)


def _pick_sidebar(page: Page, label: str, option: re.Pattern[str]) -> None:
    """Open the sidebar selectbox with this label and click the option whose text matches."""
    _combobox(page, label).click()
    page.get_by_role("option", name=option).first.click()
    wait_idle(page)


def test_deep_link_then_switch_dataset(app_url: str, page: Page) -> None:
    # First request on this fresh server is a page URL (the st.navigation deep-link pitfall).
    page.goto(f"{app_url}/model?dataset=digits&model=lenet5")
    wait_idle(page)
    _assert_router_ran(page, "model")
    expect(page.locator(METRIC).first).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    digits_top1 = _top1(page)
    digits_values = _metric_values(page)
    assert re.search(r"\d", digits_top1), digits_top1

    _pick_sidebar(page, "Dataset", re.compile("Fashion"))
    expect(page).to_have_url(re.compile(r"dataset=fashion-mnist"))
    expect(page.locator(METRIC).first).to_be_visible()
    # Retrying: the metric cards re-render with the fashion-mnist baseline's numbers.
    top1_card = page.get_by_test_id("stMetric").filter(has_text=re.compile("Top-1", re.IGNORECASE)).first
    expect(top1_card.get_by_test_id("stMetricValue")).not_to_have_text(digits_top1)
    assert _metric_values(page) != digits_values
    expect(page.get_by_test_id("stException")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "model_fashion.png"), full_page=True)


@pytest.fixture()
def fresh_url(app_env: dict[str, str]) -> Iterator[str]:
    """A server of its own: a copied link must work as the first request a server ever sees."""
    url, proc = helpers.start_server(app_env)
    try:
        yield url
    finally:
        helpers.stop_server(proc)


def test_copied_link_opens_same_view(fresh_url: str, page: Page) -> None:
    page.goto(f"{fresh_url}/model?dataset=fashion-mnist&model=lenet-300-100")
    wait_idle(page)
    _assert_router_ran(page, "model")
    expect(page.locator(METRIC).first).to_be_visible()
    expect(_combobox(page, "Dataset")).to_have_value(re.compile("Fashion"))
    expect(_combobox(page, "Model")).to_have_value(re.compile("LeNet-300-100"))
    expect(page).to_have_url(re.compile(r"dataset=fashion-mnist"))
    expect(page).to_have_url(re.compile(r"model=lenet-300-100"))
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_absurd_link_value_warns(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/model?dataset=nope&model=lenet5")
    wait_idle(page)
    expect(page.get_by_test_id("stAlertContentWarning").first).to_contain_text("nope")
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    # The app fell back to the default dataset and still shows the page.
    expect(page.locator(METRIC).first).to_be_visible()
    expect(page).to_have_url(re.compile(r"dataset=digits"))


def test_every_tab_opens_at_the_first_click_and_the_link_names_it(app_url: str, page: Page) -> None:
    """The page writes the open tab into the URL; a tab whose default followed that URL became a new
    widget on the next run, so the click after a tab switch was lost (every second click did nothing)."""
    page.goto(f"{app_url}/model?dataset=digits&model=lenet5")
    wait_idle(page)
    tabs = page.get_by_role("tab")
    names = [t.strip() for t in tabs.all_inner_texts()]
    assert len(names) == 4, names
    for name in [*names[1:], names[0], names[2]]:
        tabs.filter(has_text=name).click()
        wait_idle(page)
        expect(tabs.filter(has_text=name)).to_have_attribute("aria-selected", "true")
        if name == names[0]:
            expect(page).not_to_have_url(re.compile(r"view="))  # the first tab drops the parameter
        else:
            expect(page).to_have_url(re.compile(rf"view={re.escape(name.split()[0])}"))
    expect(page.get_by_test_id("stException")).to_have_count(0)
    # a link that opened the Weights tab, a click back to the first, a visit elsewhere, the page again:
    # its first tab, as its address says (not the Weights of the earlier link)
    page.goto(f"{app_url}/model?dataset=digits&model=lenet5&view=Weights")
    wait_idle(page)
    tabs.filter(has_text=names[0]).click()
    wait_idle(page)
    links = page.get_by_test_id("stSidebarNavLink")
    links.filter(has_text="Pruning").click()
    wait_idle(page)
    links.filter(has_text="Model").click()
    wait_idle(page)
    expect(page.get_by_role("tab").filter(has_text=names[0])).to_have_attribute("aria-selected", "true")
