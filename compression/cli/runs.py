"""`runs list|show|export|import|front|delete`: the run store, headless (any SQLAlchemy URL via --store)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from compression import pareto, report, runs, uploads
from compression.charts.compare import COST_AXES, recipe_text
from compression.cli import count, time_limit
from compression.runs.exchange import MAX_BYTES as MAX_IMPORT_BYTES
from compression.runs.store import DEFAULT_TIMEOUT_S

LIST_COLUMNS = [
    "id",
    "created_at",
    "dataset",
    "arch",
    "technique",
    "top1",
    "size_artifact_bytes",
    "macs",
    "tags",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list, export, import and rank recorded runs (the run store)")
    rsub = p.add_subparsers(dest="runs_command", required=True)

    def common(sp: argparse.ArgumentParser, filters: bool = True) -> None:
        sp.add_argument(
            "--store", help="SQLAlchemy URL (default: $COMPRESSION_STORE or the user's data folder)"
        )
        sp.add_argument(
            "--timeout", type=time_limit, default=DEFAULT_TIMEOUT_S, help="seconds to wait for a lock"
        )
        if filters:
            sp.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
            sp.add_argument("--arch", action="append", help="only this architecture (repeatable)")
            sp.add_argument("--technique", action="append", help="only this technique (repeatable)")
            sp.add_argument("--tag", action="append", help="only runs with this tag (repeatable)")

    ls = rsub.add_parser("list", help="one line per run")
    common(ls)
    ls.add_argument("--limit", type=count, default=50, help="the most recent N runs (0: all)")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=cmd_list)

    show = rsub.add_parser("show", help="every field of one run")
    common(show, filters=False)
    show.add_argument("id", type=int)
    show.set_defaults(func=cmd_show)

    ex = rsub.add_parser("export", help="write runs as importable JSON (or CSV)")
    common(ex)
    ex.add_argument("--format", choices=["json", "csv"], default="json")
    ex.add_argument("--out", help="file to write (default: stdout)")
    ex.set_defaults(func=cmd_export)

    im = rsub.add_parser("import", help="add the runs of a JSON export (validated; all or nothing)")
    common(im, filters=False)
    im.add_argument("file", help="a JSON export, or - for stdin")
    im.set_defaults(func=cmd_import)

    fr = rsub.add_parser("front", help="the Pareto front (accuracy up, cost down) per dataset")
    common(fr)
    fr.add_argument("--cost", choices=list(COST_AXES), default="size_artifact_bytes")
    fr.add_argument("--accuracy", choices=["top1", "top5"], default="top1")
    fr.add_argument("--json", action="store_true")
    fr.set_defaults(func=cmd_front)

    rp = rsub.add_parser(
        "report", help="the review report of chosen runs: one HTML file that opens offline (and its PDF)"
    )
    common(rp)
    rp.add_argument(
        "--id", type=int, action="append", help="a run to report (repeatable; default: the filtered runs)"
    )
    rp.add_argument("--out", required=True, help="the HTML file to write")
    rp.add_argument("--pdf", help="also print it to this PDF (Debian's chromium, headless, no network)")
    rp.add_argument(
        "--cost", choices=list(COST_AXES), default="size_artifact_bytes", help="the front's cost axis"
    )
    rp.add_argument("--accuracy", choices=["top1", "top5"], default="top1")
    rp.set_defaults(func=cmd_report)

    de = rsub.add_parser("delete", help="delete runs (and their model files)")
    common(de, filters=False)
    de.add_argument("ids", type=int, nargs="+")
    de.add_argument("--yes", action="store_true", help="really delete (without it, only say what would go)")
    de.add_argument(
        "--who", default=getpass.getuser(), help="name logged with the deletion (default: your login)"
    )
    de.set_defaults(func=cmd_delete)


def _store(args: argparse.Namespace) -> runs.RunStore:
    return runs.RunStore(args.store, timeout=args.timeout)


def _frame(args: argparse.Namespace, store: runs.RunStore) -> pd.DataFrame:
    return store.frame(dataset=args.dataset, arch=args.arch, technique=args.technique, tag=args.tag)


def _guard(fn):  # type: ignore[no-untyped-def]
    """Store and import failures become one clear line on stderr and a non-zero exit code."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args) or 0)
        except runs.StoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except runs.ImportRefused as exc:
            print(f"refused, nothing imported: {exc}", file=sys.stderr)
            return 2
        except report.ReportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except OSError as exc:  # an output file that cannot be written (no such folder, no permission)
            print(f"error: cannot write {exc.filename or 'the file'}: {exc.strerror or exc}", file=sys.stderr)
            return 1

    return run


@_guard
def cmd_list(args: argparse.Namespace) -> int:
    df = _frame(args, _store(args))
    if args.limit:
        df = df.tail(args.limit)
    if args.json:
        print(
            json.dumps(
                json.loads(
                    df.drop(columns=["layers"], errors="ignore").to_json(orient="records", date_format="iso")
                ),
                indent=1,
            )
        )
        return 0
    if df.empty:
        print("no runs (record some in the app, or `python -m compression runs import FILE`)")
        return 0
    out = df[LIST_COLUMNS].copy()
    out["created_at"] = out["created_at"].dt.strftime("%Y-%m-%d %H:%M")
    out["tags"] = out["tags"].map(", ".join)
    print(out.to_string(index=False))
    return 0


@_guard
def cmd_show(args: argparse.Namespace) -> int:
    run = _store(args).get(args.id)
    if run is None:
        print(f"error: no run #{args.id}", file=sys.stderr)
        return 1
    print(json.dumps(run.as_dict(), indent=1))
    return 0


@_guard
def cmd_export(args: argparse.Namespace) -> int:
    store = _store(args)
    ids = [int(i) for i in _frame(args, store)["id"]]
    text = runs.export_json(store, ids) if args.format == "json" else runs.export_csv(store, ids)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {len(ids)} runs to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


@_guard
def cmd_import(args: argparse.Namespace) -> int:
    try:
        blob = (
            sys.stdin.buffer.read(MAX_IMPORT_BYTES + 1)
            if args.file == "-"
            else uploads.read_at_most(Path(args.file), MAX_IMPORT_BYTES)
        )
    except OSError as exc:
        raise runs.ImportRefused(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    ids = runs.import_json(_store(args), blob)
    print(f"imported {len(ids)} runs (ids {ids[0]}..{ids[-1]})" if ids else "the file holds no runs")
    return 0


@_guard
def cmd_report(args: argparse.Namespace) -> int:
    """The Compare page's report, headless: the chosen runs against the front of the filtered ones."""
    store = _store(args)
    shown = _frame(args, store)
    ids = args.id or [int(i) for i in shown["id"]][: report.MAX_RUNS]
    if not ids:
        raise report.ReportError("no run matches the filters (name runs with --id)")
    chosen = store.frame(ids=ids, with_layers=True)
    missing = sorted(set(ids) - {int(i) for i in chosen["id"]})
    if missing:
        raise report.ReportError(f"no run #{', #'.join(map(str, missing))} in this store")
    baselines = store.frame(technique=["baseline"])
    page = report.build_html(chosen, shown, cost=args.cost, accuracy=args.accuracy, baselines=baselines)
    Path(args.out).write_text(page, encoding="utf-8")
    done = f"wrote the report of {len(ids)} run(s) to {args.out} ({len(page.encode()) / 2**20:.1f} MB)"
    if args.pdf:
        Path(args.pdf).write_bytes(report.to_pdf(page))
        done += f" and {args.pdf}"
    print(done, file=sys.stderr)
    return 0


def front_table(df: pd.DataFrame, cost: str, accuracy: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """Front runs per dataset sorted by cost, and each dataset's normalised hypervolume."""
    df = df[df[cost].notna() & df[accuracy].notna()]
    rows = []
    hv: dict[str, float] = {}
    for name, g in df.groupby("dataset", sort=True):
        pts = g[[accuracy, cost]].to_numpy(dtype=float)
        mask = pareto.non_dominated(pts, ["max", "min"])
        scale = max(float(pts[:, 1].max()), 1e-12)
        hv[str(name)] = pareto.hypervolume(np.c_[pts[:, 0], pts[:, 1] / scale], [0.0, 1.1], ["max", "min"])
        rows.append(g[mask].sort_values(cost))
    front = pd.concat(rows) if rows else df.iloc[:0]
    return front, hv


@_guard
def cmd_front(args: argparse.Namespace) -> int:
    df = _frame(args, _store(args))
    front, hv = front_table(df, args.cost, args.accuracy)
    cols = ["id", "dataset", "arch", "technique", args.accuracy, args.cost]
    if args.json:
        recs = front[cols].assign(recipe=[recipe_text(r) for r in front["recipe"]]).to_dict(orient="records")
        print(
            json.dumps(
                {"cost": args.cost, "accuracy": args.accuracy, "hypervolume": hv, "front": recs}, indent=1
            )
        )
        return 0
    if front.empty:
        print("no runs with both values")
        return 0
    for name, g in front.groupby("dataset", sort=True):
        print(f"{name}: {len(g)} of {int((df['dataset'] == name).sum())} runs on the front, "
              f"hypervolume {hv[str(name)]:.4f} (accuracy x cost/max cost, reference (0, 1.1))")  # fmt: skip
        print(g[cols[2:]].assign(recipe=[recipe_text(r, 60) for r in g["recipe"]]).to_string(index=False))
    return 0


@_guard
def cmd_delete(args: argparse.Namespace) -> int:
    store = _store(args)
    found = store.runs(args.ids)
    if not args.yes:
        print(f"would delete {len(found)} runs: {', '.join(f'#{r.id}' for r in found)} (add --yes)")
        return 0
    missing = sorted(set(args.ids) - {r.id for r in found})
    deleted = store.delete(args.ids, who=args.who)
    print(f"deleted {deleted} runs (logged as deleted by {args.who!r})")
    if missing:
        print(f"error: no run #{', #'.join(map(str, missing))} in this store", file=sys.stderr)
        return 1
    return 0
