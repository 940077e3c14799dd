"""The CLI: each module in this package adds its subcommands through `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from torch import nn

if TYPE_CHECKING:
    from compression.metrics import Measurement
    from compression.runs.record import BaselineSource


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m compression", description="Compression Lab, headless.")
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


def seed(text: str) -> int:
    """A random seed: a whole number from 0 to 2**32 - 1 (what numpy and torch both take)."""
    n = int(text)
    if not 0 <= n < 2**32:
        raise argparse.ArgumentTypeError(f"a seed is 0 to {2**32 - 1} (got {n})")
    return n


def count(text: str) -> int:
    """A number of things: a whole number, 0 or more."""
    n = int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"a count is 0 or more (got {n})")
    return n


def time_limit(text: str) -> float:
    """A time limit: a positive, finite number of seconds."""
    t = float(text)
    if not 0 < t < math.inf:
        raise argparse.ArgumentTypeError(f"a time limit is a positive number of seconds (got {text})")
    return t


def add_baseline_args(p: argparse.ArgumentParser) -> None:
    """--dataset and --model: which trained baseline a technique command starts from."""
    from compression import data, models

    p.add_argument("--dataset", default="digits", choices=list(data.DATASETS))
    p.add_argument("--model", default="lenet5", choices=list(models.MODELS))


def add_result_args(p: argparse.ArgumentParser) -> None:
    """What a technique command does with its result: time it, print JSON, record it as a run."""
    p.add_argument("--no-latency", action="store_true", help="skip latency timing (faster)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--record", action="store_true", help="store the result as a run")
    p.add_argument(
        "--store",
        help="SQLAlchemy URL of the run store for --record (default: $COMPRESSION_STORE or the user's data folder)",
    )
    p.add_argument("--who", default="cli")
    add_label_args(p)


def add_label_args(p: argparse.ArgumentParser) -> None:
    """--tag and --notes of a recorded run (a meeting's runs then come back by tag: `runs report --tag`)."""
    p.add_argument("--tag", action="append", default=[], help="a tag of the recorded run (repeatable)")
    p.add_argument("--notes", default="", help="notes of the recorded run")


def record_and_dump(
    args: argparse.Namespace, result: dict[str, Any], model: nn.Module, base: nn.Module, config: Any, m: Any
) -> int | None:
    """--record (adds "run_id" to the result) and --json. An exit code when the command is done here
    (the store failed, or the JSON is printed); None when the caller goes on to print text."""
    if args.record:
        run_id = record(args, model, base, config, m)
        if run_id is None:
            return 1
        result["run_id"] = run_id
        result["baseline_run_id"] = _baseline_run_id(args, base)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    return None


def _baseline_run_id(args: argparse.Namespace, base: nn.Module) -> int | None:
    from compression import runs, train

    try:
        return runs.open_store(args.store).baseline_run(args.dataset, None, train.weights_hash(base))
    except runs.StoreError:
        return None


def recorded_line(result: dict[str, Any]) -> str:
    """'  recorded as run #5 (its baseline: run #1)' for the text output of --record."""
    base = result.get("baseline_run_id")
    return f"  recorded as run #{result['run_id']}" + (f" (its baseline: run #{base})" if base else "")


def baseline_source(args: argparse.Namespace, base: nn.Module) -> BaselineSource:
    """For `runs.record_run(baseline=...)`: the lineage's original and its measurement, measured only
    when the store has no run of it yet (then it is recorded too, so the run's accuracy change shows)."""

    def source() -> tuple[nn.Module, Measurement]:
        from compression import data, metrics

        return base, metrics.measure(base, data.load(args.dataset), latency=not args.no_latency)

    return source


def record(args: argparse.Namespace, model: nn.Module, base: nn.Module, config: Any, m: Any) -> int | None:
    """`--record`: store a technique's result as a run; None (after saying why) when the store fails."""
    from compression import runs, train

    try:
        return runs.record_run(
            model,
            dataset=args.dataset,
            arch=args.model,
            baseline_hash=train.weights_hash(base),
            recipe=[config],
            measurement=m,
            technique=type(config).technique,
            who=args.who,
            tags=args.tag,
            notes=args.notes,
            store=args.store,
            baseline=baseline_source(args, base),
        )
    except runs.StoreError as exc:
        print(f"error: the run was not recorded: {exc}", file=sys.stderr)
        return None


def speed_line(m: Any) -> str:
    """The paired speed of a measurement in one line, with spread, threads and the CPU."""
    from compression import fmt

    parts = [
        f"batch {b} {getattr(m, f'latency_b{b}_ms'):.3f} ms vs baseline {getattr(m, f'baseline_latency_b{b}_ms'):.3f} ms"
        f" = {fmt.speedup(getattr(m, f'speedup_b{b}'), getattr(m, f'speedup_b{b}_lo'), getattr(m, f'speedup_b{b}_hi'))}"
        for b in (1, 256)
    ]
    noisy = "; NOISY: re-measure" if m.latency_noisy else ""
    return f"latency (paired, {m.threads} thread(s), {m.cpu}{noisy}): " + "; ".join(parts)


class ProgressBar:
    """A tqdm bar on stderr driven by our (fraction, message) progress callbacks (every CLI command)."""

    def __init__(self, enabled: bool) -> None:
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=1000, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}<{remaining} {desc}"
            )

    def __call__(self, frac: float, msg: str) -> None:
        if self.bar is not None:
            self.bar.n = int(max(0.0, min(1.0, frac)) * 1000)
            self.bar.set_description_str(msg[:50])
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
