"""The Pipeline page in a real browser: a deep link on a fresh server with a one-stage recipe, add a
Huffman stage with the builder, run the two-stage pipeline and see its waterfall (three bars)."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import wait_idle


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("pipeline_app")
    return {
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}",
        "OMP_NUM_THREADS": "1",
    }


def test_build_a_two_stage_pipeline_and_see_the_waterfall(app_url: str, page: Page) -> None:
    one = urllib.parse.quote(json.dumps([{"technique": "magnitude-prune", "amount": 0.8}]))
    page.goto(f"{app_url}/pipeline?dataset=digits&model=lenet-300-100&recipe={one}")
    wait_idle(page)
    expect(page).to_have_title(re.compile("Compression Lab"))
    expect(page.get_by_role("heading", name="Pipeline")).to_be_visible()
    expect(page.get_by_text(re.compile(r"^1\. magnitude-prune"))).to_be_visible()

    page.get_by_role("combobox", name="Add a stage").click()
    page.get_by_role("option", name=re.compile("Huffman")).first.click()
    wait_idle(page)
    page.get_by_role("button", name="Add stage").click()
    wait_idle(page)
    expect(page.get_by_text(re.compile(r"^2\. huffman"))).to_be_visible()
    assert "huffman" in urllib.parse.unquote(page.url)

    page.get_by_role("button", name="Run pipeline").click()
    plot = page.locator(".js-plotly-plot").first
    expect(plot).to_be_visible(timeout=180_000)
    wait_idle(page)
    bars = plot.evaluate("el => el.querySelectorAll('.barlayer .point').length")
    assert bars == 3  # dense fp32, pruned, Huffman-coded: each a file really written
    expect(page.get_by_text(re.compile(r"smaller than the dense fp32 file"))).to_be_visible()
