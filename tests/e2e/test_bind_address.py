"""The app is private by default: the start command listens on the loopback interface only."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.e2e.helpers import REPO_ROOT, free_port


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) of the sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(addr)
    return found


def test_start_script_listens_on_loopback_only() -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    env.pop("ADDRESS", None)
    proc = subprocess.Popen(
        ["bash", "scripts/start.sh"], cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                if (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                    == b"ok"
                ):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("the app did not start")
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no 0.0.0.0 or :: socket
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
