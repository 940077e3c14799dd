"""A whole lesson in a real browser: every step, its live check, its lab link and the chart it names."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from compression import lessons as L
from tests.e2e.helpers import wait_idle

LESSON = "why-prune"


def test_walk_one_whole_lesson(app_url: str, page: Page) -> None:
    lesson = next(x for x in L.load_dir() if x.id == LESSON)
    page.goto(f"{app_url}/lessons?lesson={LESSON}&step=1")  # a deep link as the server's first request
    wait_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    for n, step in enumerate(lesson.steps, start=1):
        expect(page.get_by_role("heading", name=f"{n}. {step.title}")).to_be_visible()
        expect(page).to_have_url(re.compile(rf"step={n}\b"))
        if step.check:
            expect(page.get_by_text("Checked live")).to_be_visible()
            expect(page.get_by_test_id("stMetricValue").first).to_be_visible()
        expect(page.get_by_text(f"Look at the chart {step.chart_title}.")).to_be_visible()

        page.get_by_role("link", name=re.compile("Open the Pruning lab at this step")).click()
        wait_idle(page)
        expect(page.get_by_role("heading", name="Pruning lab")).to_be_visible()
        expect(page.get_by_test_id("stException")).to_have_count(0)
        wanted = step.params
        expect(page).to_have_url(re.compile(r"/prune\?"))
        got = {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}
        for key in ("model", "method", "scope"):
            assert got.get(key) == wanted[key], (key, got)
        assert abs(float(got["amount"]) - float(wanted["amount"])) < 1e-9  # the lab took the lesson's setting
        chart = page.locator(f".st-key-{step.chart} .js-plotly-plot")
        expect(chart).to_be_visible()  # the one chart the step names is on the page
        chart.scroll_into_view_if_needed()

        page.get_by_test_id("stSidebarNav").get_by_role("link", name="Lessons").click()  # resumes at the step
        wait_idle(page)
        expect(page.get_by_role("heading", name=f"{n}. {step.title}")).to_be_visible()
        if n < len(lesson.steps):
            page.get_by_role("button", name="Next").last.click()  # the one under the step
            wait_idle(page)
            main = page.get_by_test_id("stMain")  # the next step starts at its title, not scrolled past it
            expect(main).to_have_js_property("scrollTop", 0)
    page.get_by_role("button", name="Finish").last.click()
    wait_idle(page)
    expect(page.get_by_role("button", name="Start").first).to_be_visible()  # back at the list


def test_a_projected_lesson_has_back_and_next_on_its_first_screen(app_url: str, page: Page) -> None:
    """At 1280x720 in presenter mode the step's own Back and Next are a scroll away: a pair sits above the step
    too, and it moves the lesson on."""
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{app_url}/lessons?lesson={LESSON}&step=2&present=1")
    wait_idle(page)
    nxt = page.get_by_role("button", name="Next")
    expect(nxt).to_have_count(2)
    box = nxt.first.bounding_box()
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, box
    nxt.first.click()
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"step=3\b"))
    expect(page.get_by_role("heading", name=re.compile(r"^3\. "))).to_be_visible()
    # the step's lab opens with its named chart on screen (it sits a tab below the fold)
    step = next(x for x in L.load_dir() if x.id == LESSON).steps[2]
    page.get_by_role("link", name=re.compile("Open the Pruning lab at this step")).click()
    wait_idle(page)
    chart = page.locator(f".st-key-{step.chart} .js-plotly-plot")
    expect(chart).to_be_visible()
    page.wait_for_function(
        "sel => { const b = document.querySelector(sel)?.getBoundingClientRect();"
        " return b && b.top >= 0 && b.top < window.innerHeight; }",
        arg=f".st-key-{step.chart} .js-plotly-plot",
    )
    expect(page).not_to_have_url(re.compile(r"focus="))  # used once: a rerun does not scroll again


def test_browser_back_steps_back_through_a_lesson(app_url: str, page: Page) -> None:
    """Each Next adds a history entry, so the browser's Back goes back one step; opening a lesson from the list
    and resuming it from the sidebar replace theirs, so Back never lands on the bare list (which would resume
    the lesson again, a Back button that goes nowhere)."""
    lesson = next(x for x in L.load_dir() if x.id == LESSON)
    page.goto(f"{app_url}/model?dataset=digits&model=lenet5")
    wait_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Lessons").click()
    wait_idle(page)
    page.get_by_role("button", name="Start").first.click()  # the first card: why-prune
    wait_idle(page)
    expect(page).to_have_url(re.compile(rf"lesson={LESSON}&step=1\b"))
    for n in (2, 3):
        page.get_by_role("button", name="Next").first.click()
        wait_idle(page)
        expect(page).to_have_url(re.compile(rf"step={n}\b"))

    def at_step(n: int) -> None:
        expect(page).to_have_url(re.compile(rf"/lessons\?.*step={n}\b"))
        wait_idle(page)
        expect(page.get_by_role("heading", name=f"{n}. {lesson.steps[n - 1].title}")).to_be_visible()

    page.go_back()
    at_step(2)
    page.go_back()
    at_step(1)
    page.go_forward()
    at_step(2)
    # to the step's lab and back through the sidebar: the lesson resumes at step 2
    page.get_by_role("link", name=re.compile("Open the Pruning lab at this step")).click()
    wait_idle(page)
    expect(page).to_have_url(re.compile(r"/prune\?"))
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Lessons").click()
    wait_idle(page)
    at_step(2)
    page.go_back()  # to the lab, not to a bare list that would resume the lesson again
    expect(page).to_have_url(re.compile(r"/prune\?"))
    wait_idle(page)
    expect(page.get_by_role("heading", name="Pruning lab")).to_be_visible()
    page.go_back()
    at_step(2)
    page.go_back()
    at_step(1)
    page.go_back()  # "Start" replaced the list's entry: one more Back leaves the Lessons page
    expect(page).to_have_url(re.compile(r"/model\?"))
    wait_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
