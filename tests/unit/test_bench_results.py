"""bench/results/*.json are written compactly: short lists on one line, everything else as indent=2; the
benchmarks without options answer --help."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

from bench.common import dumps, machine_line


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


@pytest.mark.parametrize("name", ["artifacts", "first_chart", "quant_correct", "report", "workbench"])
def test_a_benchmark_without_options_answers_help_instead_of_running(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = importlib.import_module(f"bench.{name}")
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as done:
        module.main()  # would start a run of minutes (first_chart: a server, a browser) without the parser
    assert done.value.code == 0
    assert module.__doc__.strip().splitlines()[0] in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", [name, "--rounds", "9"])
    with pytest.raises(SystemExit) as bad:
        module.main()
    assert bad.value.code == 2


def test_a_results_file_names_its_machine_in_one_readable_line() -> None:
    line = machine_line(
        {"cpu": "x", "cpu_isa": "Intel Xeon (AVX2, AMX), 2 cores", "torch": "2.14.1", "python": "3.11.7",
         "torch_threads": 2, "load_average_1m": 1.26, "date": "2026-11-30 22:00:00 UTC", "platform": "Linux"}
    )  # fmt: skip
    assert line == (
        "Machine: Intel Xeon (AVX2, AMX), 2 cores; torch 2.14.1, Python 3.11.7, 2 torch threads; "
        "load average 1.3; 2026-11-30 22:00:00 UTC (Linux)."
    )
    assert "1 torch thread;" in machine_line({"cpu_isa": "c", "torch_threads": 1, "load_average_1m": None})
