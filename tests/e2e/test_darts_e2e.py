"""The DARTS lab in a real browser: a deep link on a fresh server, Start a tiny search on digits and watch
the alpha chart update by itself (a second epoch appears, no reload). Presenter mode: test_presenter_e2e."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle

# the slider's maximum, so that even on a quiet machine (12 epochs of this took under 2 s, one poll) the
# live view catches the search between two epochs; the test cancels it once it has seen two
EPOCHS = 50
TINY = f"dataset=digits&model=lenet5&epochs={EPOCHS}&cells=1&nodes=1&ch=4&pc=2&imgs=1200&retrain=1"


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
    # the live fragment redraws the chart by itself as epochs end: some epoch k, then a later one
    title = _alpha_title(page)
    expect(title).to_have_text(re.compile(rf"after epoch \d+ of {EPOCHS}"))
    first = int(re.search(r"after epoch (\d+)", title.text_content() or "").group(1))  # type: ignore[union-attr]
    seen = time.monotonic() - t0
    assert first < EPOCHS, "the search ended before the live view drew an epoch in between"
    later = "|".join(str(e) for e in range(first + 1, EPOCHS + 1))
    expect(title).to_have_text(re.compile(rf"after epoch ({later}) of {EPOCHS}"))
    print(f"epoch {first} drawn {seen:.1f} s after Start, a later one {time.monotonic() - t0:.1f} s after")
    # the caption says what the chart shows now
    expect(page.get_by_text("the most decided edge is")).to_be_visible()
    cancel = page.get_by_role("button", name="Cancel")
    if cancel.count():  # still running: stop it, so it does not load the machine for the next tests
        cancel.first.click()
