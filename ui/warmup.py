"""Warm the caches at start-up, in the background, so the first visitor of a demo does not wait.

`python -m ui.warmup [streamlit options]` (what scripts/start.sh runs) serves the app (serve.py) and, in a thread
of the same process, first measures each shipped baseline once (the measurement every page shares,
paired latency included) through the same Streamlit caches the pages read, then opens every page of
the app for every shipped baseline as a browser would (a real session over the server's websocket),
so each lab's default result, its imports and Streamlit's own first run are computed before any
visitor arrives (Streamlit has no start-up hook: a script runs only when a client connects). It
writes `warmup.json` in the cache folder when done, so a benchmark (bench/first_chart.py) knows when
the server is warm. `COMPRESSION_WARMUP=off` skips it; `COMPRESSION_WARMUP=digits__lenet5` warms only
the shipped baselines whose file names start with one of these comma-separated prefixes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

from compression import train

VIEWS = Path(__file__).resolve().parents[1] / "views"
FIRST_PAGES = ("model", "prune", "quantize")  # the pages a demo opens first, warmed first


@dataclass
class Visit:
    """One page run by a session of the real server, as a browser's first visit would run it."""

    page: str
    query: str
    seconds: float = 0.0
    cache_misses: list[str] = field(default_factory=list)  # spinners of cached functions (shown after 0.5 s)
    exceptions: list[str] = field(default_factory=list)


@dataclass
class Warmup:
    started: float = field(default_factory=time.time)
    finished: float | None = None
    measured_s: float | None = None  # when every shipped baseline was measured
    pages_s: float | None = None  # when every page had run for every baseline
    warmed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    visits: list[Visit] = field(default_factory=list)
    only: tuple[
        str, ...
    ] = ()  # asset name prefixes to warm ("digits__lenet5"); empty: every shipped baseline

    def baselines(self) -> list[Path]:
        """The shipped baselines (whatever assets/baselines holds now) at their default settings."""
        out = []
        for path in sorted(train.ASSETS.glob("*.safetensors"), key=_default_first):
            if self.only and not path.name.startswith(self.only):
                continue
            dataset, model = path.name.split("__")[:2]
            if train.baseline_path(train.default_config(dataset, model)) == path:
                out.append(path)  # not an asset for other settings than the default ones
        return out

    def measure(self, paths: list[Path]) -> None:
        """Load and measure each baseline once, into the caches the pages read (ui.sidebar, ui.measured)."""
        from ui import measured, sidebar, state

        for path in paths:
            dataset, model = path.name.split("__")[:2]
            try:
                ds = sidebar.load_dataset(dataset)
                cfg = train.default_config(dataset, model)
                weights, whash = sidebar._load_model(path.name, dataset, model)
                ctx = sidebar.Context(
                    state.Choice(dataset, model), ds, weights, cfg, "shipped baseline", whash
                )
                measured.baseline(ctx)
                self.warmed.append(f"{dataset}/{model}")
            except Exception as exc:  # noqa: BLE001 - a warm-up failure only costs the first visitor time
                self.errors.append(f"{dataset}/{model}: {type(exc).__name__}: {exc}")
        self.measured_s = time.time() - self.started

    def open_pages(self, base_url: str, paths: list[Path]) -> None:
        """Open every page for every baseline through the server: each lab computes its default result."""
        for path in paths:
            dataset, model = path.name.split("__")[:2]
            for page in pages():
                try:
                    v = visit(base_url, page, f"dataset={dataset}&model={model}")
                except Exception as exc:  # noqa: BLE001 - as above: the visitor computes it instead
                    self.errors.append(f"{page} {dataset}/{model}: {type(exc).__name__}: {exc}")
                    continue
                self.visits.append(v)
                self.errors.extend(f"{page} {dataset}/{model}: {e}" for e in v.exceptions)

    def run(self, base_url: str | None = None) -> None:
        paths = self.baselines()
        self.measure(paths)
        if base_url is not None:
            self.open_pages(base_url, paths)
        self.pages_s = time.time() - self.started
        drain_prefetch()
        self.finished = time.time()
        report = {
            "seconds": self.finished - self.started,
            "measured_s": self.measured_s,
            "pages_s": self.pages_s,
            "warmed": self.warmed,
            "errors": self.errors,
            "visits": [asdict(v) for v in self.visits],
        }
        with contextlib.suppress(OSError):  # a read-only cache folder: the warm-up still happened
            train.cache_dir().mkdir(parents=True, exist_ok=True)
            (train.cache_dir() / "warmup.json").write_text(json.dumps(report, indent=2))


def drain_prefetch(timeout_s: float = 1200.0) -> None:
    """Wait for the quantization lab's background widths (queued by the page runs) to be computed: the
    warm-up has finished when the server is idle, not merely answering."""
    from compression.quantization import prefetch

    deadline = time.time() + timeout_s
    while prefetch.pending() and time.time() < deadline:
        time.sleep(0.5)


def _default_first(path: object) -> tuple[int, str]:
    name = str(getattr(path, "name", path))
    return (0 if name.startswith("digits__lenet5__") else 1, name)


def pages() -> list[str]:
    """The URL path of every page but Home (each view's url_path is its file name in app.py)."""
    names = sorted(p.stem for p in VIEWS.glob("*.py") if p.stem not in ("home", "__init__"))
    return sorted(names, key=lambda n: (FIRST_PAGES.index(n) if n in FIRST_PAGES else len(FIRST_PAGES), n))


def visit(base_url: str, page: str, query: str, timeout_s: float = 600.0) -> Visit:
    """Run `page` with `query` in a new session of the server at `base_url`, as the browser's websocket
    client does (a rerun request with the URL's page and query), until its script has finished."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    back = BackMsg()
    back.rerun_script.query_string = query
    back.rerun_script.page_name = page
    out = Visit(page, query)
    start = time.perf_counter()
    url = base_url.replace("http", "ws", 1).rstrip("/") + "/_stcore/stream"
    with connect(url, subprotocols=["streamlit"], max_size=None, open_timeout=60) as ws:  # type: ignore[list-item]
        ws.send(back.SerializeToString())
        while True:
            msg = ForwardMsg.FromString(ws.recv(timeout=max(0.1, start + timeout_s - time.perf_counter())))
            kind = msg.WhichOneof("type")
            if kind == "delta":  # spinners come as transient elements
                d = msg.delta
                elements = (
                    [d.new_element] if d.WhichOneof("type") == "new_element" else d.new_transient.elements
                )
                for el in elements:
                    if el.WhichOneof("type") == "spinner" and el.spinner.cache:
                        out.cache_misses.append(el.spinner.text)
                    elif el.WhichOneof("type") == "exception":
                        out.exceptions.append(f"{el.exception.type}: {el.exception.message}")
            elif kind == "page_not_found":
                out.exceptions.append(f"no page named {page}")
            elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                break
    out.seconds = time.perf_counter() - start
    return out


def server_url() -> str:
    """This process's server, as configured by `streamlit run` options (0.0.0.0 is reached on loopback)."""
    from streamlit import config

    address = config.get_option("server.address") or "127.0.0.1"
    if address in ("0.0.0.0", "::"):
        address = "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    base = (config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{host}:{config.get_option('server.port')}" + (f"/{base}" if base else "")


def warm_when_ready(only: tuple[str, ...] = (), timeout_s: float = 120.0) -> None:
    """Wait for this process's server to answer, then warm its caches (a thread's body)."""
    import logging

    from streamlit.runtime import Runtime

    # cached functions called from this thread warn once per call that no script is running: expected here
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    deadline = time.time() + timeout_s
    while not Runtime.exists() and time.time() < deadline:
        time.sleep(0.2)
    url = server_url()
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        time.sleep(0.3)
    Warmup(only=only).run(url)


def main(argv: list[str]) -> int:
    """`python -m ui.warmup [streamlit run options]`: serve serve.py with its caches warmed in the background."""
    from streamlit.web import cli

    setting = os.environ.get("COMPRESSION_WARMUP", "").strip()
    if setting.lower() not in ("off", "0", "no"):
        only = tuple(p for p in setting.split(",") if p)
        threading.Thread(target=warm_when_ready, args=(only,), daemon=True, name="cla-warmup").start()
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parents[1] / "serve.py"), *argv]
    return int(cli.main() or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
