"""A freshly started server, warmed in the background (`python -m ui.warmup`, what scripts/start.sh runs):
time from opening a deep link in a new browser to its first chart, for every lab and both datasets,
against the same links on a server started without the warm-up. Writes bench/results/first_chart.md.

Run: .venv/bin/python -m bench.first_chart
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from compression import latency
from tests.e2e.helpers import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, free_port

LINKS = {
    "model (digits)": "model?dataset=digits&model=lenet5",
    "pruning lab (digits)": "prune?dataset=digits&model=lenet5&amount=0.5",
    "quantization lab (digits)": "quantize?dataset=digits&model=lenet5&scheme=linear&bits=4",
    "model (fashion-mnist)": "model?dataset=fashion-mnist&model=lenet-300-100",
    "pruning lab (fashion-mnist)": "prune?dataset=fashion-mnist&model=lenet5&amount=0.5",
    "quantization lab (fashion-mnist)": "quantize?dataset=fashion-mnist&model=lenet-300-100&scheme=linear&bits=4",
}
OUT = Path(__file__).parent / "results"


def serve(warm: bool, root: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    env = {
        **os.environ,
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root}/runs.db",
    }
    opts = ["--server.port", str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
            "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]  # fmt: skip
    cmd = (
        [sys.executable, "-m", "ui.warmup", *opts]
        if warm
        else [sys.executable, "-m", "streamlit", "run", "app.py", *opts]
    )
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(240):
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                return url, proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start")


def first_chart_s(browser: object, url: str) -> float:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.locator("[data-testid=stPlotlyChart] .main-svg").first.wait_for(state="visible", timeout=180_000)
    took = time.perf_counter() - start
    context.close()
    return took


def run_server(warm: bool) -> tuple[dict[str, float], float | None]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base, proc = serve(warm, root)
        warm_s = None
        try:
            if warm:
                report = root / "cache" / "warmup.json"
                while not report.exists():
                    time.sleep(0.5)
                warm_s = float(json.loads(report.read_text())["seconds"])
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                times = {name: first_chart_s(browser, f"{base}/{link}") for name, link in LINKS.items()}
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return times, warm_s


def main() -> None:
    load_before = os.getloadavg()[0]
    warm, warm_s = run_server(True)
    cold, _ = run_server(False)
    load_after = os.getloadavg()[0]
    rows = "\n".join(
        f"| {name} | {warm[name]:.2f} s | {cold[name]:.2f} s | {'met' if warm[name] < 3 else 'missed'} |"
        for name in LINKS
    )
    text = f"""# First chart of a deep link on a freshly started server

{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC · {latency.cpu_info().describe()} · load average {load_before:.1f} before,
{load_after:.1f} after · `python -m bench.first_chart`

Each link is opened in a new browser context (no cookies, no session) on a server started for this run, in
the order below (so the fashion-mnist lines are also "switching to fashion-mnist"), and timed until the first
Plotly chart is drawn. *Warmed*: `python -m ui.warmup` (what `scripts/start.sh` runs), after its background
warm-up finished ({warm_s:.1f} s: every shipped baseline loaded and measured once, paired latency included).
*Cold*: `streamlit run app.py` with nothing warmed.

| deep link | warmed | cold | target < 3 s (warmed) |
|---|---|---|---|
{rows}

Median warmed {statistics.median(warm.values()):.2f} s, cold {statistics.median(cold.values()):.2f} s.
"""
    OUT.mkdir(exist_ok=True)
    (OUT / "first_chart.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
