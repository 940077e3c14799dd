"""AppTest of the Compare page's take-away block: report (HTML, PDF), chosen runs only, the view's link."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.report_runs import make_store

APP = "../../app.py"
TIMEOUT = 120


@pytest.fixture
def store_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path / 'runs.db'}")
    return make_store(tmp_path, 4)[1]


def open_compare(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/compare.py")
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def labels(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.get("download_button")] + [b.label for b in at.button]


def test_report_and_chosen_exports_for_the_chosen_runs(
    store_ids: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sel = ",".join(map(str, store_ids[1:3]))
    at = open_compare(ds="digits", sel=sel)
    shown = labels(at)
    assert "Download report (HTML)" in shown
    assert (
        "Export chosen runs only (2) (CSV)" in shown
        and "Export chosen runs only (2) (JSON, importable)" in shown
    )
    assert any("covers the 2 chosen run(s)" in c.value for c in at.caption)
    link = at.get("code")[-1].proto.code_text
    assert f"sel={sel.replace(',', '%2C')}" in link and "ds=digits" in link  # the exact view
    monkeypatch.setenv(
        "CHROMIUM", "/nonexistent/chromium"
    )  # no browser: a clear message, nothing else breaks
    at.button(key="cmp_report_pdf").click().run()
    assert not at.exception and "Chromium" in at.error[0].value


def test_report_of_a_tag_when_nothing_is_chosen(store_ids: list[int]) -> None:
    at = open_compare(ds="digits", tag="tag1")
    assert "Download report (HTML)" in labels(at)
    assert any("shown run(s) of tag tag1" in c.value for c in at.caption)
    at = open_compare(ds="digits")
    assert "Download report (HTML)" not in labels(at)  # nothing chosen, no tag: nothing to report
