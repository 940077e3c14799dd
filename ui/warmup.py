"""Warm the caches at start-up, in the background, so the first visitor of a demo does not wait.

`python -m ui.warmup [streamlit options]` (what scripts/start.sh runs) serves app.py and, in a thread
of the same process, loads the datasets of the shipped baselines and measures each shipped baseline
once (the measurement every page shares, paired latency included) through the same Streamlit caches
the pages read, before any visitor arrives (Streamlit has no start-up hook: a script runs only when
a browser connects). It writes `warmup.json` in the cache folder when done, so a benchmark
(bench/first_chart.py) knows when the server is warm.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from compression import train


@dataclass
class Warmup:
    started: float = field(default_factory=time.time)
    finished: float | None = None
    warmed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    only: tuple[
        str, ...
    ] = ()  # asset name prefixes to warm ("digits__lenet5"); empty: every shipped baseline

    def run(self) -> None:
        from ui import measured, sidebar, state

        for path in sorted(train.ASSETS.glob("*.safetensors"), key=_default_first):
            if self.only and not path.name.startswith(self.only):
                continue
            dataset, model = path.name.split("__")[:2]
            try:
                ds = sidebar.load_dataset(dataset)
                cfg = train.default_config(dataset, model)
                if train.baseline_path(cfg) != path:
                    continue  # an asset for other settings than the default ones
                weights, whash = sidebar._load_model(path.name, dataset, model)
                ctx = sidebar.Context(
                    state.Choice(dataset, model), ds, weights, cfg, "shipped baseline", whash
                )
                measured.baseline(ctx)
                self.warmed.append(f"{dataset}/{model}")
            except Exception as exc:  # noqa: BLE001 - a warm-up failure only costs the first visitor time
                self.errors.append(f"{dataset}/{model}: {type(exc).__name__}: {exc}")
        self.finished = time.time()
        report = {"seconds": self.finished - self.started, "warmed": self.warmed, "errors": self.errors}
        with contextlib.suppress(OSError):  # a read-only cache folder: the warm-up still happened
            train.cache_dir().mkdir(parents=True, exist_ok=True)
            (train.cache_dir() / "warmup.json").write_text(json.dumps(report, indent=2))


def _default_first(path: object) -> tuple[int, str]:
    name = str(getattr(path, "name", path))
    return (0 if name.startswith("digits__lenet5__") else 1, name)


def warm_when_ready(timeout_s: float = 120.0) -> None:
    """Wait for the Streamlit runtime of this process to exist, then warm its caches (a thread's body)."""
    import logging

    from streamlit.runtime import Runtime

    # cached functions called from this thread warn once per call that no script is running: expected here
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    deadline = time.time() + timeout_s
    while not Runtime.exists() and time.time() < deadline:
        time.sleep(0.2)
    Warmup().run()


def main(argv: list[str]) -> int:
    """`python -m ui.warmup [streamlit run options]`: serve app.py with its caches warmed in the background."""
    from streamlit.web import cli

    threading.Thread(target=warm_when_ready, daemon=True, name="cla-warmup").start()
    sys.argv = ["streamlit", "run", str(Path(__file__).resolve().parents[1] / "app.py"), *argv]
    return int(cli.main() or 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
