"""The review report in a real browser: downloaded from the Compare page, opened with the network off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from compression import report
from tests.e2e.helpers import wait_idle
from tests.report_runs import make_store

CHOSEN = 10


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A store with a baseline and ten runs (hostile notes, tags, who) before the server starts."""
    root = tmp_path_factory.mktemp("report-e2e")
    make_store(root, CHOSEN)
    return {"COMPRESSION_CACHE": str(root / "cache"), "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}"}


def open_offline(browser: Browser, path: Path) -> tuple[Page, list[str]]:
    """A page in a context with the network off; every request that is not the file itself is aborted."""
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
    asked: list[str] = []

    def only_the_file(route, request) -> None:  # type: ignore[no-untyped-def]
        if request.url.startswith("file://"):
            route.continue_()
        else:
            asked.append(request.url)
            route.abort()

    context.route("**/*", only_the_file)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    return page, asked + dialogs


def test_downloaded_report_opens_offline_with_every_run(
    app_url: str, page: Page, browser: Browser, tmp_path: Path
) -> None:
    ids = list(range(2, 2 + CHOSEN))  # the baseline is run 1
    page.goto(f"{app_url}/compare?ds=digits&sel={','.join(map(str, ids))}")
    wait_idle(page)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download report (HTML)").click()
    saved = tmp_path / "review-report.html"
    dl.value.save_as(saved)
    assert saved.stat().st_size <= 5 * 1024 * 1024  # the target for 10 chosen runs

    offline, requests = open_offline(browser, saved)
    try:
        plots = offline.locator(".js-plotly-plot")
        expect(plots).to_have_count(3)  # the front and the per-layer charts, drawn from the inlined plotly.js
        expect(plots.first.locator(".scatterlayer .point").first).to_be_attached()
        expect(plots.nth(1).locator(".bars .point").first).to_be_attached()
        for rid in ids:
            expect(offline.get_by_role("heading", name=re.compile(rf"^Run #{rid}:"))).to_be_visible()
        expect(
            offline.get_by_text('<script>alert("x")</script>', exact=False).first
        ).to_be_visible()  # as text
        assert requests == []  # nothing fetched, no script from a note ran
    finally:
        offline.context.close()


@pytest.mark.skipif(report.chromium_path() is None, reason="chromium is installed by scripts/test.sh")
def test_pdf_from_the_page(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/compare?ds=digits&sel=2,3")
    wait_idle(page)
    page.get_by_role("button", name="Make the report as PDF").click()
    wait_idle(page)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download report (PDF)").click()
    pdf = Path(dl.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
