"""The start-up warm-up measures shipped baselines through the caches the pages read, and runs every page
through the real server so each lab's default result is computed before the first visitor."""

from __future__ import annotations

import json
from pathlib import Path

from bench.first_chart import serve, wait_warm
from compression import train
from ui import warmup

MEASURING = "Measuring the baseline"  # ui.measured's spinner: shown only when the measurement is not cached


def test_warmup_measures_a_shipped_baseline_and_says_when_done(isolated: None, tmp_path: Path) -> None:
    warm = warmup.Warmup(only=("digits__lenet5__",))
    warm.run()
    assert warm.warmed == ["digits/lenet5"] and not warm.errors
    report = json.loads((tmp_path / "warmup.json").read_text())
    assert report["warmed"] == ["digits/lenet5"] and report["seconds"] > 0 and report["visits"] == []


def test_every_shipped_baseline_is_found_and_every_page_but_home_is_warmed() -> None:
    shipped = {p.name for p in train.ASSETS.glob("*.safetensors")}
    found = {p.name for p in warmup.Warmup().baselines()}
    assert found and found <= shipped
    assert any(n.startswith("digits__lenet5__") for n in found)
    assert warmup.pages()[:3] == ["model", "prune", "quantize"]
    assert {"distill", "lowrank", "pipeline", "compare"} <= set(
        warmup.pages()
    ) and "home" not in warmup.pages()


def test_a_warmed_server_answers_a_page_from_its_caches(tmp_path: Path) -> None:
    """A real `python -m ui.warmup` server warms digits LeNet-5: its own page runs raise nothing, and a new
    session's Model page no longer measures (no measuring spinner), while an unwarmed baseline still does."""
    base, proc = serve(True, tmp_path, {"COMPRESSION_WARMUP": "digits__lenet5__"})
    try:
        report = wait_warm(tmp_path, timeout_s=600)
        assert report["warmed"] == ["digits/lenet5"] and not report["errors"], report["errors"]
        assert [v["page"] for v in report["visits"]] == warmup.pages()
        warmed = warmup.visit(base, "model", "dataset=digits&model=lenet5")
        assert not warmed.exceptions and not any(MEASURING in t for t in warmed.cache_misses)
        cold = warmup.visit(base, "model", "dataset=digits&model=lenet-300-100")
        assert not cold.exceptions and any(MEASURING in t for t in cold.cache_misses), cold
    finally:
        proc.terminate()
        proc.wait(timeout=30)
