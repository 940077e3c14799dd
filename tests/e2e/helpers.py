"""Real-browser test plumbing: a real `streamlit run` server and Debian's chromium via Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from playwright.sync_api import Browser, Page, Playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-extensions",
]
HEALTH_TIMEOUT_S = 60.0
IDLE_TIMEOUT_MS = 120_000  # a rerun may load a dataset or a model on a busy 2-core machine


def free_port() -> int:
    """A port nobody listens on right now (bind port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _read_log(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-8000:]


def start_server(
    env: dict[str, str] | None = None, cwd: Path | str = REPO_ROOT
) -> tuple[str, subprocess.Popen[bytes]]:
    """Start `streamlit run serve.py` (the app as scripts/start.sh serves it) on a free port; wait for health.

    Returns (base_url, process). The server's output goes to a temporary file (a pipe could fill
    up and block the server); it is attached to the process as `proc.log` for error messages.
    """
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "serve.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--global.developmentMode",
        "false",
    ]
    full_env = {**os.environ, **(env or {})}
    log = tempfile.TemporaryFile()  # noqa: SIM115 - it must outlive this function (closed in stop_server)
    proc = subprocess.Popen(cmd, cwd=str(cwd), env=full_env, stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}:\n{_read_log(log)}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.read().decode().strip() == "ok":
                    return url, proc
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError(f"streamlit was not healthy after {HEALTH_TIMEOUT_S:.0f} s:\n{_read_log(log)}")


def server_log(proc: subprocess.Popen[bytes]) -> str:
    """The last part of what the server printed (useful in assertion messages)."""
    log = getattr(proc, "log", None)
    return _read_log(log) if log is not None else ""


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server; kill it if it does not exit within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    log = getattr(proc, "log", None)
    if log is not None:
        log.close()


def wait_idle(page: Page, timeout_ms: int = IDLE_TIMEOUT_MS) -> None:
    """Wait for a rerun to finish: debounce, then script state notRunning and no skeletons.

    The status widget appears only after ~0.5 s, so it is not a reliable signal (RECIPES.md).
    """
    page.wait_for_timeout(250)
    page.wait_for_selector(
        "[data-testid=stApp][data-test-script-state=notRunning]", state="attached", timeout=timeout_ms
    )
    page.wait_for_selector("[data-testid=stSkeleton]", state="detached", timeout=timeout_ms)


def launch_browser(playwright: Playwright) -> Browser:
    """Headless Debian chromium with the flags that work in containers."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextmanager
def sized_page(browser: Browser, width: int, height: int) -> Iterator[Page]:
    """A page in a new browser context of this window size (1280x720: a projector), closed afterwards."""
    context = browser.new_context(viewport={"width": width, "height": height})
    context.set_default_timeout(IDLE_TIMEOUT_MS)
    try:
        yield context.new_page()
    finally:
        context.close()
