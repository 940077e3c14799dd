"""Browser Back from a lab to the Model page: the Model page's link keeps only its own parameters."""

from __future__ import annotations

import contextlib
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.e2e.helpers import wait_idle


def test_back_from_the_pruning_lab_leaves_no_lab_parameters_on_the_model_page(
    page: Page, app_url: str
) -> None:
    page.goto(f"{app_url}/model?dataset=digits&model=lenet5")
    wait_idle(page)
    expect(page.get_by_text("Top-1 accuracy").first).to_be_visible()
    page.get_by_role("link", name="Pruning lab").click()
    wait_idle(page)
    expect(page.get_by_text("Prune rate").first).to_be_visible()
    assert "amount" in parse_qs(urlparse(page.url).query)
    for _ in range(8):  # a page writes its parameters in one URL change: a few Backs reach the Model page
        before = page.evaluate("location.href")
        page.go_back()  # returns before a same-document Back has moved: wait, or the next Back overshoots
        with contextlib.suppress(PlaywrightTimeout):  # two entries may hold the same address
            page.wait_for_function("u => location.href !== u", arg=before, timeout=5_000)
        if urlparse(page.evaluate("location.href")).path.endswith("/model"):
            break
    assert urlparse(page.url).path.endswith("/model"), f"8 Backs did not leave the lab: {page.url}"
    wait_idle(page)
    expect(page.get_by_text("Connection error")).to_have_count(0)
    expect(page.get_by_text("Top-1 accuracy").first).to_be_visible()
    page.wait_for_timeout(1000)
    wait_idle(page)
    assert urlparse(page.url).path.endswith("/model"), page.url
    assert not {"amount", "method", "scope", "ft"} & set(parse_qs(urlparse(page.url).query)), page.url
