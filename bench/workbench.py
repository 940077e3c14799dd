"""Workbench benchmark (issue #2).

1. Our evaluation (`metrics.evaluate`) against a plain torch loop at batch 1000 over the same
   test data, interleaved in one run: throughput ratio ours / plain (target >= 0.95).
2. Time from opening the Model page in a real browser (fresh server) to the metrics shown.

Run: .venv/bin/python -m bench.workbench   (writes bench/results/workbench.json and .md)
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch

from bench.common import machine, usage, write_results
from compression import data, metrics, train


def plain_loop(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """The reference: what anyone would write by hand."""
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), 1000):
            correct += int((model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum())
    return correct / len(x)


def eval_ratio(dataset: str, model_name: str, repeats: int = 7) -> dict[str, object]:
    ds = data.load(dataset)
    model = train.get_baseline(train.default_config(dataset, model_name))
    x, y = ds.x_test, ds.y_test
    ours_t: list[float] = []
    plain_t: list[float] = []
    for _ in range(repeats):  # interleaved so both see the same machine state
        t = time.perf_counter()
        top1, _, _ = metrics.evaluate(model, x, y, batch_size=1000)
        ours_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = plain_loop(model, x, y)
        plain_t.append(time.perf_counter() - t)
    assert abs(top1 - ref) < 1e-9, (top1, ref)
    ours, plain = statistics.median(ours_t), statistics.median(plain_t)
    return {
        "dataset": dataset,
        "model": model_name,
        "images": len(x),
        "ours_images_per_s": len(x) / ours,
        "plain_images_per_s": len(x) / plain,
        "throughput_ratio": plain / ours,
        "target": 0.95,
        "met": plain / ours >= 0.95,
        "note": "ours also computes top-5 and the loss",
    }


def browser_first_metrics(samples: int = 3) -> dict[str, object]:
    """Fresh server each time; open /model, wait until the first metric value is visible."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.helpers import launch_browser, start_server, stop_server

    times: list[float] = []
    with sync_playwright() as pw:
        browser = launch_browser(pw)
        for _ in range(samples):
            with tempfile.TemporaryDirectory() as tmp:
                url, proc = start_server({"COMPRESSION_STORE": f"sqlite:///{tmp}/runs.db"})
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    t = time.perf_counter()
                    page.goto(f"{url}/model?dataset=digits&model=lenet5")
                    page.locator("[data-testid=stMetricValue]").first.wait_for(timeout=120_000)
                    times.append(time.perf_counter() - t)
                    page.close()
                finally:
                    stop_server(proc)
        browser.close()
    return {
        "samples_s": times,
        "median_s": statistics.median(times),
        "what": "fresh server, cold caches: page open to first metric card shown (includes measuring)",
    }


def main() -> None:
    usage(__doc__)
    results = {
        "machine": machine(),
        "evaluation": [eval_ratio("digits", "lenet5"), eval_ratio("fashion-mnist", "lenet5")],
        "browser_open_to_metrics": browser_first_metrics(),
    }
    lines = ["| dataset | model | ours img/s | plain img/s | ratio (>= 0.95) |", "|---|---|---|---|---|"]
    for r in results["evaluation"]:  # type: ignore[union-attr]
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['ours_images_per_s']:,.0f} | "
            f"{r['plain_images_per_s']:,.0f} | {r['throughput_ratio']:.2f} |"
        )
    b = results["browser_open_to_metrics"]
    lines.append(f"\nOpen Model page in a real browser to metrics shown: median {b['median_s']:.2f} s")  # type: ignore[index]
    write_results("workbench", results, "\n".join(lines))


if __name__ == "__main__":
    main()
