"""The start-up warm-up measures shipped baselines through the caches the pages read."""

from __future__ import annotations

import json
from pathlib import Path

from ui import warmup


def test_warmup_measures_a_shipped_baseline_and_says_when_done(isolated: None, tmp_path: Path) -> None:
    warm = warmup.Warmup(only=("digits__lenet5__",))
    warm.run()
    assert warm.warmed == ["digits/lenet5"] and not warm.errors
    report = json.loads((tmp_path / "warmup.json").read_text())
    assert report["warmed"] == ["digits/lenet5"] and report["seconds"] > 0
