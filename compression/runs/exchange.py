"""Share runs: JSON/CSV export and a strictly validated JSON import.

An import file is untrusted input. It is size-capped, parsed without NaN/Infinity or duplicate
keys, depth-limited, and every field of every run is checked against a JSON Schema (types,
ranges, lengths, no unknown keys) before anything is written; then all runs go in one
transaction, so a bad file imports nothing. Artifact paths are never imported (a path from
someone else's machine is meaningless here, and a hostile one could point at any local file).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import PurePath
from typing import Any

import jsonschema
import pandas as pd

from compression.runs import schema
from compression.runs.store import RunStore, StoreError, new_row, now

FORMAT = "compression-lab-runs"
FORMAT_VERSION = 1
MAX_BYTES = 50 * 1024 * 1024
MAX_RUNS = 100_000
MAX_DEPTH = 8

_NAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.+\-]{0,63}$"}
_COUNT = {"type": "integer", "minimum": 0, "maximum": 10**15}
_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_SCALAR = {"type": ["string", "number", "boolean", "null"], "maxLength": 1000}
_LATENCY = {"type": ["number", "null"], "minimum": 0, "maximum": 1e7}
_RATIO = {"type": ["number", "null"], "minimum": 0, "maximum": 1e6}

_LAYER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["layer", "params"],
    "properties": {
        "layer": {"type": "string", "maxLength": 200},
        "type": {"type": "string", "maxLength": 100},
        "shape": {"type": "string", "maxLength": 100},
        "params": _COUNT,
        "nonzero": _COUNT,
        "sparsity": _FRACTION,
        "bits": {"type": "number", "minimum": 0, "maximum": 64},
        "macs": _COUNT,
        "size_share": _FRACTION,
    },
}

RUN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["dataset", "arch", "technique", *schema.REQUIRED_FIELDS],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "created_at": {"type": "string", "maxLength": 40},
        "who": {"type": "string", "maxLength": 200},
        "dataset": _NAME,
        "arch": _NAME,
        "baseline_hash": {"type": "string", "pattern": r"^[A-Za-z0-9]{0,64}$"},
        "technique": _NAME,
        "recipe": {
            "type": "array",
            "maxItems": 50,
            "items": {
                "type": "object",
                "required": ["technique"],
                "maxProperties": 100,
                "properties": {"technique": _NAME},
                "additionalProperties": {
                    "anyOf": [
                        _SCALAR,
                        {"type": "array", "maxItems": 1000, "items": _SCALAR},
                        {"type": "object", "maxProperties": 1000, "additionalProperties": _SCALAR},
                    ]
                },
            },
        },
        "top1": _FRACTION,
        "top5": _FRACTION,
        "loss": {"type": "number", "minimum": 0, "maximum": 1e6},
        "params_total": _COUNT,
        "params_nonzero": _COUNT,
        "effective_bits": {"type": "number", "minimum": 0, "maximum": 64},
        "size_dense_bytes": _COUNT,
        "size_theoretical_bytes": _COUNT,
        "size_artifact_bytes": _COUNT,
        "macs": _COUNT,
        "macs_effective": _COUNT,
        "latency_b1_ms": _LATENCY,
        "latency_b256_ms": _LATENCY,
        "threads": {"type": "integer", "minimum": 0, "maximum": 4096},
        "runs_dense": {"type": "boolean"},
        "baseline_params": _COUNT,
        "baseline_macs": _COUNT,
        "baseline_latency_b1_ms": _LATENCY,
        "baseline_latency_b256_ms": _LATENCY,
        **{f"speedup_b{b}{end}": _RATIO for b in (1, 256) for end in ("", "_lo", "_hi")},
        "latency_noisy": {"type": "boolean"},
        "cpu": {"type": "string", "maxLength": 300},
        "artifact_path": {"type": ["string", "null"], "maxLength": 4096},
        "tags": {
            "type": "array",
            "maxItems": 32,
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        "notes": {"type": "string", "maxLength": 10_000},
        "layers": {"anyOf": [{"type": "null"}, {"type": "array", "maxItems": 5000, "items": _LAYER}]},
    },
}

FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "version", "runs"],
    "properties": {
        "format": {"const": FORMAT},
        "version": {"const": FORMAT_VERSION},
        "schema_version": {"type": "integer", "minimum": 1},
        "exported_at": {"type": "string", "maxLength": 40},
        "store": {"type": "string", "maxLength": 1000},
        "count": {"type": "integer", "minimum": 0},
        "runs": {"type": "array", "maxItems": MAX_RUNS, "items": RUN_SCHEMA},
    },
}

_VALIDATOR = jsonschema.Draft202012Validator(FILE_SCHEMA)


class ImportRefused(ValueError):
    """The file was refused; nothing was imported. The message says why."""


# ---------------------------------------------------------------- export


# Exported files carry no local paths: a run's model file stays on its machine (import ignores it anyway).
LOCAL_ONLY = ("artifact_path",)


def store_label(store: RunStore) -> str:
    """The store's URL without a local file path: a SQLite file is named, a server keeps its URL."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite":
        return f"sqlite (file {PurePath(url.database).name})" if url.database else "sqlite"
    return store.display_url


def export_payload(runs: Iterable[Any], store: RunStore | None = None) -> dict[str, Any]:
    items = [{k: v for k, v in r.as_dict().items() if k not in LOCAL_ONLY} for r in runs]
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "schema_version": schema.SCHEMA_VERSION,
        "exported_at": now().isoformat(),
        "store": store_label(store) if store else "",
        "count": len(items),
        "runs": items,
    }


def export_json(store: RunStore, ids: Iterable[int] | None = None) -> str:
    """The runs (all, or `ids`) as an importable JSON document."""
    return json.dumps(export_payload(store.runs(ids), store), indent=1)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula gets a leading apostrophe (OWASP's CSV rule)."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A runs frame flattened for CSV: recipe as JSON text, tags joined by ';', formula-like text guarded."""
    out = df.drop(columns=[c for c in ("layers", *LOCAL_ONLY) if c in df]).copy()
    out["recipe"] = out["recipe"].map(lambda r: json.dumps(r, sort_keys=True))
    out["tags"] = out["tags"].map(lambda t: ";".join(t))
    for col in out.select_dtypes(exclude="number").columns:
        out[col] = out[col].map(guard_cell)
    return out


def export_csv(store: RunStore, ids: Iterable[int] | None = None) -> str:
    df = store.frame()
    if ids is not None:
        df = df[df["id"].isin(list(ids))]
    return csv_frame(df).to_csv(index=False)


# ---------------------------------------------------------------- import


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ImportRefused(f"The file repeats the key(s) {', '.join(map(repr, dupes))} in one object.")
    return dict(pairs)


def _refuse_constant(name: str) -> Any:
    raise ImportRefused(f"The file contains {name}, which is not valid JSON.")


def _depth(value: Any, limit: int) -> int:
    stack: list[tuple[Any, int]] = [(value, 1)]
    deepest = 0
    while stack:
        v, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return deepest


def _where(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "the file"


def parse_export(data: bytes | str) -> list[dict[str, Any]]:
    """Validate an export file and return new-run rows; raises ImportRefused (and writes nothing)."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_BYTES:
        raise ImportRefused(f"The file is {len(raw) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ImportRefused(f"The file is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except ImportRefused:
        raise
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        raise ImportRefused(f"The file is not valid JSON: {str(exc)[:200]}") from exc
    if _depth(doc, MAX_DEPTH) > MAX_DEPTH:
        raise ImportRefused(f"The file nests deeper than {MAX_DEPTH} levels; a run export never does.")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ImportRefused(f'This is not a Compression Lab runs export (expected "format": "{FORMAT}").')
    errors = sorted(_VALIDATOR.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        lines = [f"{_where(e.absolute_path)}: {_problem(e)}" for e in errors[:5]]
        more = f" (and {len(errors) - 5} more problems)" if len(errors) > 5 else ""
        raise ImportRefused("The file does not match the runs format: " + "; ".join(lines) + more)
    rows: list[dict[str, Any]] = []
    for i, run in enumerate(doc["runs"]):
        rows.append(_row(i, run))
    return rows


def _problem(error: Any) -> str:
    """A schema error in words, its reason first: a long offending value is summarised, never cut mid-way."""
    if len(error.message) <= 160:
        return error.message
    value = error.instance
    size = (
        f"{len(value):,} characters"
        if isinstance(value, str)
        else f"{len(json.dumps(value)):,} characters of JSON"
    )
    return f"the value ({size}) fails the rule {error.validator} = {json.dumps(error.validator_value)[:80]}"


def _row(i: int, run: dict[str, Any]) -> dict[str, Any]:
    if run["params_nonzero"] > run["params_total"]:
        raise ImportRefused(f"runs[{i}]: params_nonzero exceeds params_total.")
    created = None
    if "created_at" in run:
        try:
            created = dt.datetime.fromisoformat(run["created_at"])
        except ValueError as exc:
            raise ImportRefused(f"runs[{i}].created_at: not an ISO date-time ({exc}).") from exc
        created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    measurement = {k: run.get(k, schema.DEFAULTS.get(k)) for k in schema.MEASUREMENT_FIELDS}
    for k in schema.MEASUREMENT_FIELDS:  # JSON has one number type; the columns have two
        if isinstance(schema.runs.c[k].type, schema.sa.Float) and measurement[k] is not None:
            measurement[k] = float(measurement[k])
    notes = run.get("notes", "")
    if "id" in run:
        notes = (notes + "\n" if notes else "") + f"(imported; was run #{run['id']})"
    try:
        return _new_row(run, measurement, notes, created)
    except StoreError as exc:
        raise ImportRefused(f"runs[{i}].{exc}") from exc


def _new_row(
    run: dict[str, Any], measurement: dict[str, Any], notes: str, created: dt.datetime | None
) -> dict[str, Any]:
    return new_row(
        dataset=run["dataset"],
        arch=run["arch"],
        baseline_hash=run.get("baseline_hash", ""),
        technique=run["technique"],
        recipe=run.get("recipe", []),
        measurement=measurement,
        artifact_path=None,
        who=run.get("who", ""),
        tags=run.get("tags", []),
        notes=notes[:10_000],
        layers=run.get("layers"),
        created_at=created,
    )


def import_json(store: RunStore, data: bytes | str) -> list[int]:
    """Validate then insert every run in one transaction; returns the new ids."""
    return store.add_many(parse_export(data))
