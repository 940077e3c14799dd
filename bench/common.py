"""Shared by the benchmarks: the machine description, result writing and the browser benches' floor apps."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from compression import latency

RESULTS = Path(__file__).resolve().parent / "results"
REPO_ROOT = RESULTS.parents[1]
# a floor page is served like the app's labs: its one page starts Plotly's JavaScript early (ui.early_plotly)
FLOOR_SERVER = """import streamlit as st
from starlette.middleware import Middleware

from ui.early_plotly import EarlyPlotly

app = st.App("app.py", middleware=[Middleware(EarlyPlotly, pages=frozenset({""}))])
"""


def write_floor(folder: Path, code: str) -> dict[str, str]:
    """A one-page Streamlit app `code` in `folder`, as serve.py (`streamlit run serve.py` there); returns the
    environment to serve it with (this repository importable)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(code)
    (folder / "serve.py").write_text(FLOOR_SERVER)
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def usage(doc: str | None) -> None:
    """For a benchmark without options: `--help` prints what it measures and exits, and an unknown
    option is an error, instead of starting a run of many minutes."""
    argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()


def machine() -> dict[str, object]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_isa": latency.cpu_info().describe(),  # model and AVX2 / AVX-512 VNNI / AMX flags
        "measurement_threads": latency.measurement_threads(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "load_average_1m": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def dumps(value: object, indent: str = "") -> str:
    """JSON indented like `indent=2`, but a list of plain values, or a short list, on one line (a curve, a genotype):
    with `json.dumps(indent=2)` every number of a per-epoch record took its own line."""
    inner = indent + "  "
    flat = json.dumps(value, default=str)
    if len(flat) <= 100 and not isinstance(value, dict):
        return flat
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(str(k))}: {dumps(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) and v for v in value):
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + f"\n{indent}]"
    return flat


def machine_line(m: dict[str, object]) -> str:
    """The machine as one readable line of a results file (the .json keeps every field)."""
    load = m.get("load_average_1m")
    return (
        f"Machine: {m.get('cpu_isa') or m.get('cpu')}; torch {m.get('torch')}, Python {m.get('python')}, "
        f"{m.get('torch_threads')} torch thread{'' if m.get('torch_threads') == 1 else 's'}"
        + (f"; load average {load:.1f}" if isinstance(load, float | int) else "")
        + f"; {m.get('date')} ({m.get('platform')})."
    )


def write_results(name: str, results: dict[str, object], summary_md: str) -> None:
    """bench/results/<name>.json (everything) and <name>.md (the table the README quotes)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(dumps(results) + "\n")
    header = f"# {name}\n\n{machine_line(results.get('machine') or machine())}\n\n"  # type: ignore[arg-type]
    (RESULTS / f"{name}.md").write_text(header + summary_md + "\n")
    print(header + summary_md)
