"""Fixtures for real-browser tests: a fresh streamlit server per module and a chromium page per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e import helpers

SCREENSHOTS = Path(__file__).parent / "screenshots"
# expect() retries up to this long: a rerun can load a dataset or model on a busy 2-core machine.
expect.set_options(timeout=60_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e is an e2e test (select or skip them with `-m e2e`)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Keep each phase's report on the item so the page fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def app_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for the module's server: caches and the run store in a fresh tmp dir.

    A test module can override this fixture (define its own `app_env`) to point elsewhere.
    """
    root = tmp_path_factory.mktemp("app")
    return {
        "COMPRESSION_CACHE": str(root / "cache"),
        "COMPRESSION_STORE": f"sqlite:///{root / 'runs.db'}",
    }


@pytest.fixture(scope="module")
def app_server(app_env: dict[str, str]) -> Iterator[tuple[str, object]]:
    """A FRESH streamlit server for each test module (deep links must work on a fresh server)."""
    url, proc = helpers.start_server(app_env)
    try:
        yield url, proc
    finally:
        helpers.stop_server(proc)


@pytest.fixture(scope="module")
def app_url(app_server: tuple[str, object]) -> str:
    """Base URL of the module's fresh server, e.g. http://127.0.0.1:41234."""
    return app_server[0]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        b = helpers.launch_browser(pw)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a new browser context (1400x1000); a failing test leaves a screenshot behind."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(helpers.IDLE_TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        rep = getattr(request.node, "rep_call", None)
        name = request.node.nodeid.split("::")[-1].replace("/", "_").replace("[", "-").strip("]")
        shot = SCREENSHOTS / f"FAILED-{name}.png"
        if rep is not None and rep.failed:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            try:
                pg.screenshot(path=str(shot), full_page=True)
            except Exception as exc:  # noqa: BLE001 - a screenshot must never hide the real failure
                print(f"could not save failure screenshot: {exc}")
        elif rep is not None and rep.passed:
            shot.unlink(missing_ok=True)  # a stale screenshot of an old failure would mislead
        context.close()
