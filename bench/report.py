"""Review report bench: size for 10 chosen runs, offline open in chromium, PDF time (targets: <= 5 MB, opens
offline, PDF < 30 s). Run: .venv/bin/python -m bench.report"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import machine, usage, write_results
from bench.synthetic_runs import synthetic_rows
from compression import latency, report
from tests.e2e.helpers import launch_browser
from tests.report_runs import make_store

CHOSEN = 10


def offline_open(path: Path, ids: list[int]) -> dict[str, object]:
    """Open the file with the network off; count drawn charts and run sections, and any request made."""
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        try:
            context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
            asked: list[str] = []
            context.route("**/*", lambda r, q: r.continue_() if q.url.startswith("file://") else (asked.append(q.url), r.abort()))  # fmt: skip
            page = context.new_page()
            t0 = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3", timeout=60_000
            )
            drawn = time.perf_counter() - t0
            runs_found = sum(page.locator(f"#run-{i}").count() for i in ids)
            plots = page.locator(".js-plotly-plot").count()
            context.close()
        finally:
            browser.close()
    ok = plots == 3 and runs_found == len(ids) and not asked
    return {"ok": ok, "charts": plots, "runs_found": runs_found, "requests": asked, "seconds_to_drawn": drawn}


def main() -> None:
    usage(__doc__)
    results: dict[str, object] = {"machine": machine(), "cpu": latency.cpu_info().describe()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store, ids = make_store(root, CHOSEN)
        chosen_ids = ids[1:]
        chosen = store.frame(ids=chosen_ids, with_layers=True)
        t0 = time.perf_counter()
        page = report.build_html(chosen, store.frame())
        build_s = time.perf_counter() - t0
        store.bulk_insert(synthetic_rows(10_000))  # the same 10 chosen among 10,000 shown runs
        t0 = time.perf_counter()
        page_big = report.build_html(chosen, store.frame())
        build_big_s = time.perf_counter() - t0
        path = root / "report.html"
        path.write_text(page, encoding="utf-8")
        path_big = root / "report-10k.html"
        path_big.write_text(page_big, encoding="utf-8")
        opened = offline_open(path, chosen_ids)
        opened_big = offline_open(path_big, chosen_ids)
        pdf_times, pdf_sizes = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            pdf = report.to_pdf(page)
            pdf_times.append(time.perf_counter() - t0)
            pdf_sizes.append(len(pdf))
        assert pdf.startswith(b"%PDF")
    mb = 1024 * 1024
    results.update(
        size_bytes=len(page.encode()),
        size_bytes_10k_context=len(page_big.encode()),
        build_s=build_s,
        build_10k_context_s=build_big_s,
        offline=opened,
        offline_10k_context=opened_big,
        pdf_s=pdf_times,
        pdf_bytes=pdf_sizes,
    )
    pdf_med = statistics.median(pdf_times)
    load = os.getloadavg()
    md = f"""CPU: {results["cpu"]}; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min);
{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}. Ten chosen runs with per-layer tables, recipes, notes (tests/report_runs.py).

| target | result |
|---|---|
| report for 10 chosen runs <= 5 MB | **{len(page.encode()) / mb:.2f} MB**: {"met" if len(page.encode()) <= 5 * mb else "MISSED"} (plotly.js {len(report.pio.to_html(report.charts.go.Figure(), include_plotlyjs=True, full_html=False).encode()) / mb:.2f} MB of it, inlined once) |
| the same 10 chosen among 10,000 shown runs (front drawn from {report.MAX_CONTEXT:,}) | {len(page_big.encode()) / mb:.2f} MB: {"met" if len(page_big.encode()) <= 5 * mb else "MISSED"} |
| opens offline (chromium, network off, every request aborted) | {"**OK**" if opened["ok"] else "FAILED"}: {opened["charts"]} charts drawn, {opened["runs_found"]}/{CHOSEN} runs, {len(opened["requests"])} requests; drawn in {opened["seconds_to_drawn"]:.2f} s (10,000-run context: {"OK" if opened_big["ok"] else "FAILED"}, {opened_big["seconds_to_drawn"]:.2f} s) |
| PDF (headless chromium `--print-to-pdf`) < 30 s | **{pdf_med:.1f} s** median of 3 ({", ".join(f"{t:.1f}" for t in pdf_times)} s): {"met" if pdf_med < 30 else "MISSED"}; {statistics.median(pdf_sizes) / 1024:.0f} KB |
| build the HTML (server side) | {build_s:.2f} s ({build_big_s:.2f} s with the 10,000-run context) |
"""
    write_results("report", results, md)


if __name__ == "__main__":
    main()
