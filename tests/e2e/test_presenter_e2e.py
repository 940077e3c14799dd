"""Each lab's main slider and main chart are both on the first screen, side by side, with no scrolling:
in presenter mode at 1280x720 (a projector, the sidebar folded) and in the normal view at 1600x1000 (a laptop,
the sidebar open)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from compression import data, metrics, runs, train
from tests.e2e.helpers import sized_page, wait_idle

LABS = {
    "prune": ("dataset=digits&model=lenet5&amount=0.5", "Prune rate"),
    "quantize": ("dataset=digits&model=lenet5&scheme=linear&bits=4", "Bits per weight"),
    "distill": ("dataset=digits&model=lenet5&T=4", "Temperature T"),
    "lowrank": ("dataset=digits&model=lenet5&method=svd&rank=8", "Rank"),
    "pipeline": ("dataset=digits&model=lenet5", "Run pipeline"),
    "compare": ("dataset=digits&model=lenet5", "Cost axis"),
    "darts": ("dataset=digits&model=lenet5", "Search budget (epochs)"),
}
# The main control is a slider, a select box or a button, found by its label. A page whose main chart
# appears only after an action is given the button to click first.
CONTROLS = "[data-testid=stSlider], [data-testid=stSelectbox], [data-testid=stButton]"
CLICK_FIRST = {"pipeline": "Run pipeline"}
CHART_TEXT = {"darts": "softmax(α)"}  # a page with several charts: the one beside the control


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh cache and a store holding the shipped digits LeNet-5 baseline as a run (Compare needs one)."""
    root = tmp_path_factory.mktemp("presenter")
    env = {"COMPRESSION_CACHE": str(root / "cache"), "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}"}
    base = train.load_baseline(train.default_config("digits", "lenet5"))
    assert base is not None, "the digits LeNet-5 baseline ships in assets/baselines"
    runs.record_run(
        base, dataset="digits", arch="lenet5", baseline_hash=train.weights_hash(base), recipe=[],
        measurement=metrics.measure(base, data.load("digits"), latency=False), technique="baseline",
        store=runs.RunStore(env["COMPRESSION_STORE"]),
    )  # fmt: skip
    return env


def _stage_fits(browser: Browser, app_url: str, lab: str, width: int, height: int, present: bool) -> None:
    with sized_page(browser, width, height) as page:
        query, slider_label = LABS[lab]
        elsewhere: list[str] = []  # a lecture hall may be offline: nothing may come from another host
        page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(app_url) else None)
        page.goto(f"{app_url}/{lab}?{query}" + ("&present=1" if present else ""))
        wait_idle(page)
        if lab in CLICK_FIRST:
            page.get_by_role("button", name=CLICK_FIRST[lab]).click()
            wait_idle(page)
        slider = page.locator(CONTROLS, has_text=slider_label).first
        chart = page.locator("[data-testid=stPlotlyChart]").first
        expect(chart.locator(".main-svg").first).to_be_visible()
        page.wait_for_timeout(1000)
        s, c = slider.bounding_box(), chart.bounding_box()
        assert s is not None and c is not None
        for box in (s, c):
            assert box["y"] >= 0 and box["y"] + box["height"] <= height, (lab, box)
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (lab, box)
        assert c["x"] >= s["x"] + s["width"] - 1, "the chart sits beside the slider"
        assert CHART_TEXT.get(lab, "") in chart.inner_text()
        sidebar = page.locator("[data-testid=stSidebar]").first.bounding_box()
        folded = sidebar is None or sidebar["width"] == 0 or sidebar["x"] + sidebar["width"] <= 0
        assert folded == present
        assert not elsewhere, elsewhere  # the tab's icon came from fonts.gstatic.com
        if present:  # the toolbar overprinted titles (elsewhere it shows on hover)
            assert page.locator(".modebar-container").first.is_hidden()


@pytest.mark.parametrize("lab", list(LABS))
def test_presenter_mode_puts_the_main_slider_and_chart_side_by_side_on_a_projector(
    browser: Browser, app_url: str, lab: str
) -> None:
    _stage_fits(browser, app_url, lab, 1280, 720, present=True)


@pytest.mark.parametrize("lab", list(LABS))
def test_the_normal_view_puts_the_main_slider_and_chart_side_by_side_on_a_laptop(
    browser: Browser, app_url: str, lab: str
) -> None:
    _stage_fits(browser, app_url, lab, 1600, 1000, present=False)


def test_a_lecture_stays_in_presenter_mode_from_a_lesson_into_its_lab_and_the_switch_turns_it_off(
    browser: Browser, app_url: str
) -> None:
    # Every page draws its own switch: the lab's new one started off and wrote present=0 into the link
    with sized_page(browser, 1280, 720) as page:
        page.goto(f"{app_url}/lessons?lesson=why-prune&step=2&present=1")
        wait_idle(page)
        page.get_by_role("link", name="Open the Pruning lab at this step").click()
        wait_idle(page)
        expect(page.get_by_role("heading", name="Pruning lab")).to_be_visible()
        page.wait_for_timeout(500)
        assert "present=1" in page.url, page.url
        assert page.locator(".modebar-container").first.is_hidden()  # presenter styling, not just the link
        page.get_by_test_id("stExpandSidebarButton").click()  # open the sidebar
        page.locator("[data-testid=stSidebar]").get_by_text("Presenter mode").click()
        wait_idle(page)
        expect(page).to_have_url(re.compile(r"present=0"))
