"""bench/results/*.json are written compactly: short lists on one line, everything else as indent=2."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.common import dumps


def test_dumps_round_trips_and_keeps_short_lists_on_one_line() -> None:
    value = {
        "genotype": {"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]]},
        "curve": [0.5, 0.25, None],
        "records": [{"epoch": 1, "acc": 0.9}],
        "long": list(range(60)),
        "empty": {},
    }
    text = dumps(value)
    assert json.loads(text) == value
    assert '"normal": [["skip_connect", 0], ["sep_conv_3x3", 1]]' in text
    assert '"curve": [0.5, 0.25, null]' in text
    assert text.startswith('{\n  "genotype": {\n    "normal": ')  # a dict: one key per line
    assert '\n  "records": [{"epoch": 1, "acc": 0.9}],\n' in text  # short enough for one line
    assert len(text) < len(json.dumps(value, indent=2))


def test_dumps_writes_what_json_cannot_as_text() -> None:
    assert json.loads(dumps({"path": Path("a/b"), "x": math.pi})) == {
        "path": "a/b",
        "x": math.pi,
    }
