"""The CLI: each module in this package adds its subcommands through `register(subparsers)`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from torch import nn


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
        )
    except runs.StoreError as exc:
        print(f"error: the run was not recorded: {exc}", file=sys.stderr)
        return None
