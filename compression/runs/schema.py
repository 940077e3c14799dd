"""The run table, its version history and the additive migrations that open old stores.

Every field of `metrics.Measurement` becomes a column automatically, so a new measurement
field reaches the store through the same additive migration as any other new column.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable

import sqlalchemy as sa

from compression.metrics import Measurement

# v1: the first release (no per-layer table, no update stamp).
# v2: `layers` (per-layer table as JSON) and `updated_at` (cache key for edits), backfilled.
# v3: paired latency against the lineage's baseline (speed-ups with their spread, the CPU) and
#     the baseline's parameters and MACs; older runs keep these empty. A `deletions` log: who
#     deleted which run, when, and the run as it was.
SCHEMA_VERSION = 3

metadata = sa.MetaData()


def _measurement_columns() -> list[sa.Column]:
    """One column per Measurement field, typed from its annotation."""
    hints = typing.get_type_hints(Measurement)
    cols: list[sa.Column] = []
    for f in dataclasses.fields(Measurement):
        hint = hints[f.name]
        optional = isinstance(hint, types.UnionType) and type(None) in hint.__args__
        base = next(a for a in hint.__args__ if a is not type(None)) if optional else hint
        sql_type: sa.types.TypeEngine = {
            bool: sa.Boolean(),
            int: sa.BigInteger(),
            float: sa.Float(),
            str: sa.Text(),
        }[base]
        cols.append(sa.Column(f.name, sql_type, nullable=True))
    return cols


MEASUREMENT_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Measurement))
# Fields every stored or imported run has; the later ones have defaults (older exports lack them).
REQUIRED_FIELDS: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(Measurement) if f.default is dataclasses.MISSING
)
DEFAULTS: dict[str, object] = {
    f.name: f.default for f in dataclasses.fields(Measurement) if f.default is not dataclasses.MISSING
}
# Fields that may stay empty (latency not measured, a run older than the paired timing).
OPTIONAL_FIELDS: frozenset[str] = frozenset(
    f.name
    for f in dataclasses.fields(Measurement)
    if "None" in str(typing.get_type_hints(Measurement)[f.name])
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("who", sa.String(200), nullable=False, default=""),
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("arch", sa.String(64), nullable=False),
    sa.Column("baseline_hash", sa.String(64), nullable=False, default=""),
    sa.Column("technique", sa.String(64), nullable=False),
    sa.Column("recipe", sa.Text, nullable=False, default="[]"),  # JSON list of technique dicts
    *_measurement_columns(),
    sa.Column("artifact_path", sa.Text, nullable=True),
    sa.Column("tags", sa.Text, nullable=False, default="[]"),  # JSON list of strings
    sa.Column("notes", sa.Text, nullable=False, default=""),
    sa.Column("layers", sa.Text, nullable=True),  # JSON list of metrics.layer_table rows
    sa.Index("ix_runs_dataset_arch", "dataset", "arch"),
    sa.Index("ix_runs_technique", "technique"),
)

deletions = sa.Table(
    "deletions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("who", sa.String(200), nullable=False, default=""),
    sa.Column("run", sa.Text, nullable=False),  # the run's export (JSON) as it was
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


def _backfill_v2(conn: sa.Connection) -> None:
    conn.execute(runs.update().where(runs.c.updated_at.is_(None)).values(updated_at=runs.c.created_at))


# Data steps that run once when a store moves past a version (columns are added generically).
DATA_MIGRATIONS: dict[int, Callable[[sa.Connection], None]] = {2: _backfill_v2}


def _add_missing_columns(conn: sa.Connection) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for every column the store lacks (always nullable)."""
    have = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    added: list[str] = []
    prep = conn.dialect.identifier_preparer
    for col in runs.columns:
        if col.name not in have:
            ddl = (
                f"ALTER TABLE runs ADD COLUMN {prep.quote(col.name)} {col.type.compile(dialect=conn.dialect)}"
            )
            conn.exec_driver_sql(ddl)
            added.append(col.name)
    return added


def current_version(conn: sa.Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 1 if sa.inspect(conn).has_table("runs") else 0
    return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar() or 0)


def migrate(conn: sa.Connection, now: Callable[[], object]) -> tuple[int, int]:
    """Create or upgrade the schema inside the caller's (locked) transaction: (from, to)."""
    found = current_version(conn)
    if found == SCHEMA_VERSION and not _missing(conn):
        return found, found
    metadata.create_all(conn, checkfirst=True)
    _add_missing_columns(conn)
    for index in runs.indexes:
        index.create(conn, checkfirst=True)
    if found == 0:  # a brand-new store needs no data steps
        conn.execute(schema_version.insert().values(version=SCHEMA_VERSION, applied_at=now()))
        return 0, SCHEMA_VERSION
    for version in range(found + 1, SCHEMA_VERSION + 1):
        if version in DATA_MIGRATIONS:
            DATA_MIGRATIONS[version](conn)
        conn.execute(schema_version.insert().values(version=version, applied_at=now()))
    return found, max(found, SCHEMA_VERSION)


def _missing(conn: sa.Connection) -> bool:
    if not sa.inspect(conn).has_table("deletions"):
        return True
    have = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    return any(c.name not in have for c in runs.columns)
