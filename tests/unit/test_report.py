"""The review report: every chosen run in it, user text escaped, no local paths, plotly.js once, small; PDF."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import plotly.offline
import pytest

from compression import report
from compression.runs import RunStore, exchange
from tests.report_runs import make_store

BUNDLE = plotly.offline.get_plotlyjs()


def without_bundle(page: str) -> str:
    """The report minus the inlined plotly.js (whose own text holds URLs and markup examples)."""
    assert page.count(BUNDLE) == 1  # inlined exactly once
    return page.replace(BUNDLE, "")


@pytest.fixture
def built(tmp_path: Path) -> tuple[str, list[int], Path, RunStore]:
    store, ids = make_store(tmp_path)
    chosen = store.frame(ids=ids[1:], with_layers=True)
    page = report.build_html(chosen, store.frame(), view_url="http://127.0.0.1:8501/compare?sel=2,3")
    return without_bundle(page), ids, tmp_path, store


def test_every_chosen_run_is_in_the_report(built: tuple[str, list[int], Path, RunStore]) -> None:
    page, ids, _, _ = built
    for rid in ids[1:]:
        assert f'id="run-{rid}"' in page and f"Run #{rid}:" in page
    assert f'id="run-{ids[0]}"' not in page  # the baseline is context, not chosen
    assert "Test CPU (AVX2), 2 cores" in page and "1 thread(s)" in page  # the machine is named
    assert "1.60x (IQR 1.40-1.70x)" in page  # paired speed-up with its spread (run 1)
    assert "-1.00 pts" in page  # top-1 delta against the run's own baseline (0.95 -> 0.94)
    assert "&quot;amount&quot;: 0.05" in page  # the recipe in full


def test_user_text_is_escaped(built: tuple[str, list[int], Path, RunStore]) -> None:
    page, _, _, _ = built
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page  # notes, who, recipe: shown as typed
    assert "&lt;b&gt;bold&lt;/b&gt;" in page
    # in the figures' JSON, Plotly labels are escaped too (a "</script>" would end the script element)
    assert "</script><img" not in page


def test_no_local_paths_in_report_and_exports(built: tuple[str, list[int], Path, RunStore]) -> None:
    page, ids, folder, store = built
    assert str(folder) not in page and "artifact-1.cla" not in page
    csv = exchange.csv_frame(store.frame(ids=ids)).to_csv(index=False)
    js = exchange.export_json(store, ids)
    for text in (csv, js):
        assert str(folder) not in text and "artifact-" not in text and "base.cla" not in text
    assert exchange.parse_export(js)  # the export still imports


def test_plotly_js_inlined_once_and_small(tmp_path: Path) -> None:
    store, ids = make_store(tmp_path, 10)
    page = report.build_html(store.frame(ids=ids[1:], with_layers=True), store.frame())
    rest = without_bundle(page)
    assert rest.count("Plotly.newPlot(") == 3  # the front and two per-layer charts
    assert len(page.encode()) <= 5 * 1024 * 1024  # the target for 10 chosen runs
    assert not re.search(r"<(script|img|iframe|link)\b[^>]*\b(src|href)=", rest)  # nothing to fetch
    assert "cdn.plot.ly" not in rest


def test_no_runs_refused() -> None:
    with pytest.raises(report.ReportError):
        report.build_html(pd.DataFrame())


def test_view_url_only_as_a_web_link(tmp_path: Path) -> None:
    store, ids = make_store(tmp_path, 1)
    page = report.build_html(store.frame(ids=ids, with_layers=True), view_url="javascript:alert(1)")
    assert "javascript:alert" not in without_bundle(page)


def test_missing_chromium_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(report.ReportError, match="Chromium"):
        report.to_pdf("<p>x</p>", chromium=str(tmp_path / "no-such-browser"))


@pytest.mark.skipif(report.chromium_path() is None, reason="chromium is installed by scripts/test.sh")
def test_pdf_renders(built: tuple[str, list[int], Path, RunStore]) -> None:
    store = built[3]
    pdf = report.to_pdf(report.build_html(store.frame(ids=built[1][1:4], with_layers=True)))
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000


def test_the_cli_writes_the_report_of_chosen_or_tagged_runs(tmp_path: Path) -> None:
    from compression.cli import main

    _, ids = make_store(tmp_path)
    url, out = f"sqlite:///{tmp_path / 'runs.db'}", tmp_path / "review.html"
    assert (
        main(["runs", "report", "--store", url, "--id", str(ids[2]), "--id", str(ids[5]), "--out", str(out)])
        == 0
    )
    page = without_bundle(out.read_text(encoding="utf-8"))
    assert f'id="run-{ids[2]}"' in page and f'id="run-{ids[5]}"' in page and f'id="run-{ids[3]}"' not in page
    assert str(tmp_path) not in page  # no local path, as from the Compare page
    tagged = tmp_path / "tag.html"
    assert main(["runs", "report", "--store", url, "--tag", "tag4", "--out", str(tagged)]) == 0
    tagged_page = without_bundle(tagged.read_text(encoding="utf-8"))
    assert f'id="run-{ids[4]}"' in tagged_page
    assert "-4.00 pts" in tagged_page  # against its baseline, which the tag filter left out (0.95 -> 0.91)
    missing = tmp_path / "missing.html"
    assert main(["runs", "report", "--store", url, "--id", "99999", "--out", str(missing)]) == 1
    assert main(["runs", "report", "--store", url, "--tag", "no-such-tag", "--out", str(missing)]) == 1
    assert not missing.exists()  # an error writes nothing


def test_a_run_recorded_without_timing_is_not_called_ok(tmp_path: Path) -> None:
    store, ids = make_store(tmp_path, n=2)
    chosen = store.frame(ids=ids[1:], with_layers=True)
    chosen.loc[chosen["id"] == ids[2], ["latency_b1_ms", "latency_b256_ms"]] = float("nan")
    rows = report.summary_rows(chosen, store.frame())
    assert [r["Timing"] for r in rows] == ["ok", "not timed"]
    page = without_bundle(report.build_html(chosen, store.frame()))
    assert page.count("not timed") == 2  # the table's column and the run's own section


def test_what_a_run_executes_is_named_for_its_kind() -> None:
    """A structurally pruned run read 'dense float (masks or fake quantization)'."""
    from types import SimpleNamespace as M

    assert "real quantized" in report.runs_as(M(runs_dense=False, baseline_params=100, params_total=100))
    assert "smaller network" in report.runs_as(M(runs_dense=True, baseline_params=100, params_total=30))
    assert "every weight" in report.runs_as(M(runs_dense=True, baseline_params=100, params_total=100))
    assert "every weight" in report.runs_as(M(runs_dense=True, baseline_params=None, params_total=100))
