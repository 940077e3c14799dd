"""The Compare page in a real browser: two recorded runs, box-select them on the chart, compare side by side."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from compression import data, metrics, models, runs, train
from tests.e2e.helpers import wait_idle

SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The server's cache and store, seeded with two real runs BEFORE the server starts."""
    root = tmp_path_factory.mktemp("compare-e2e")
    env = {"COMPRESSION_CACHE": str(root / "cache"), "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}"}
    mp = pytest.MonkeyPatch()
    mp.setenv(
        "COMPRESSION_CACHE", env["COMPRESSION_CACHE"]
    )  # so a trained baseline lands where the server looks
    try:
        ds = data.load("digits")
        cfg = train.default_config("digits", "lenet5")
        base = train.load_baseline(cfg)
        if base is None:  # no shipped baseline: a quickly trained real one, cached for the server
            base = models.build("lenet5", ds.input_shape, ds.num_classes)
            train.fit(base, ds, epochs=4, optimizer="adam", lr=3e-3)
            train.save_baseline(base, cfg)
        pruned = train.clone(base)
        with torch.no_grad():
            for p in pruned.parameters():
                if p.dim() > 1:
                    p.mul_(p.abs() > p.abs().flatten().kthvalue(int(0.8 * p.numel())).values)
        store = runs.RunStore(env["COMPRESSION_STORE"])
        for tech, model, recipe in (
            ("baseline", base, []),
            ("magnitude-prune", pruned, [{"technique": "magnitude-prune", "amount": 0.8}]),
        ):
            runs.record_run(
                model, dataset="digits", arch="lenet5", baseline_hash=train.weights_hash(base), recipe=recipe,
                measurement=metrics.measure(model, ds, latency=False), technique=tech, store=store,
            )  # fmt: skip
    finally:
        mp.undo()
    return env


def test_box_select_two_runs_shows_them_side_by_side(app_url: str, page: Page) -> None:
    page.goto(f"{app_url}/compare?dataset=digits&model=lenet5")  # a deep link as the server's first request
    wait_idle(page)
    expect(page).to_have_title(re.compile("Compression Lab"))
    expect(page.get_by_test_id("stException")).to_have_count(0)
    chart = page.get_by_test_id("stPlotlyChart").first
    points = chart.locator(".scatterlayer .point")
    expect(points).to_have_count(2)  # both recorded runs are drawn
    expect(page.get_by_text("Drag a box over points on the chart (or click a point)")).to_be_visible()
    expect(page.get_by_test_id("stTable")).to_have_count(0)  # nothing chosen yet

    # Drag a selection box with the mouse over the whole plot area.
    box = chart.locator(".nsewdrag").first.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, steps=8)
    page.mouse.move(box["x"] + box["width"] - 3, box["y"] + box["height"] - 3, steps=8)
    page.mouse.up()
    wait_idle(page)

    table = page.get_by_test_id("stTable")
    expect(table).to_have_count(1)
    expect(table).to_contain_text("#1 baseline")
    expect(table).to_contain_text("#2 magnitude-prune")
    expect(table).to_contain_text("Parameters gone (zero or removed)")
    expect(page).to_have_url(re.compile(r"sel=1(%2C|,)2"))  # the selection lives in the URL
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(2)  # + the per-layer comparison
    expect(page.get_by_test_id("stException")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "compare_selected.png"), full_page=True)

    # The same link in a fresh tab reproduces the choice.
    other = page.context.new_page()
    other.goto(page.url)
    wait_idle(other)
    expect(other.get_by_test_id("stTable")).to_contain_text("#2 magnitude-prune")
    other.close()
