"""Shared AppTest plumbing for the page tests: open a page with URL parameters, read a metric."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

APP = "../../app.py"  # AppTest resolves a relative path from the calling file's folder: this one
TIMEOUT = 300


def open_page(page: str, *, dataset: str = "digits", model: str = "lenet5", **params: str) -> AppTest:
    """Run views/<view>.py through the router with these URL parameters; fail on any exception."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({"dataset": dataset, "model": model, **params})
    at.switch_page(f"views/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)
