"""The run store: every result (a model, its recipe and its measurement) is one row.

SQLite by default (a file in the user's data folder, WAL mode so readers never block the
writer, a busy timeout so concurrent writers queue instead of failing); any SQLAlchemy URL
(PostgreSQL for a team) through `COMPRESSION_STORE`. Every database error leaves this module
as a `StoreError` with a message a user can act on.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from compression.metrics import Measurement
from compression.runs import schema

DEFAULT_TIMEOUT_S = 15.0  # how long a writer waits for a locked store before giving up
APP_DIR = "compression-lab"
_PG_LOCK_KEY = 0x434C4152  # "CLAR": advisory lock that serialises migrations on PostgreSQL


class StoreError(RuntimeError):
    """The store could not be opened, read or written; the message says why and what to do."""


def data_dir() -> Path:
    """Where the default store and its artifacts live: COMPRESSION_CACHE, else the XDG data folder."""
    if os.environ.get("COMPRESSION_CACHE"):
        return Path(os.environ["COMPRESSION_CACHE"])
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_DIR


def read_only() -> bool:
    """COMPRESSION_READONLY=1: a viewer server; every write to the store is refused."""
    return os.environ.get("COMPRESSION_READONLY", "").strip().lower() in ("1", "true", "yes")


def default_url() -> str:
    return os.environ.get("COMPRESSION_STORE") or f"sqlite:///{data_dir() / 'runs.db'}"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Run:
    """One stored result, decoded (JSON columns parsed, measurement rebuilt)."""

    id: int
    created_at: dt.datetime
    who: str
    dataset: str
    arch: str
    baseline_hash: str
    technique: str
    recipe: list[dict[str, Any]]
    measurement: Measurement
    artifact_path: str | None
    tags: tuple[str, ...] = ()
    notes: str = ""
    layers: list[dict[str, Any]] | None = None
    updated_at: dt.datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # columns a newer app added

    def as_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict: the export format of one run."""
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "who": self.who,
            "dataset": self.dataset,
            "arch": self.arch,
            "baseline_hash": self.baseline_hash,
            "technique": self.technique,
            "recipe": self.recipe,
            **self.measurement.as_dict(),
            "artifact_path": self.artifact_path,
            "tags": list(self.tags),
            "notes": self.notes,
            "layers": self.layers,
        }


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is None:
        return dt.datetime.fromtimestamp(0, dt.UTC)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)  # SQLite drops the zone


def _measurement(row: dict[str, Any]) -> Measurement:
    vals: dict[str, Any] = {}
    for name in schema.MEASUREMENT_FIELDS:
        v = row.get(name)
        col_type = schema.runs.c[name].type
        if v is None and name not in schema.OPTIONAL_FIELDS:  # column added by a migration
            v = False if isinstance(col_type, sa.Boolean) else "" if isinstance(col_type, sa.Text) else 0
        vals[name] = v
    return Measurement(**vals)


def row_to_run(row: dict[str, Any]) -> Run:
    known = {c.name for c in schema.runs.columns}
    return Run(
        id=int(row["id"]),
        created_at=_utc(row["created_at"]),
        who=row.get("who") or "",
        dataset=row["dataset"],
        arch=row["arch"],
        baseline_hash=row.get("baseline_hash") or "",
        technique=row["technique"],
        recipe=json.loads(row.get("recipe") or "[]"),
        measurement=_measurement(row),
        artifact_path=row.get("artifact_path"),
        tags=tuple(json.loads(row.get("tags") or "[]")),
        notes=row.get("notes") or "",
        layers=json.loads(row["layers"]) if row.get("layers") else None,
        updated_at=_utc(row["updated_at"]) if row.get("updated_at") is not None else None,
        extra={k: v for k, v in row.items() if k not in known},
    )


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def check_text(field: str, value: str) -> str:
    """Refuse text no store can hold: NUL (PostgreSQL) and lone UTF-16 surrogates (not UTF-8 at all)."""
    bad = _UNSTORABLE.search(value)
    if bad:
        what = (
            "a NUL character" if bad.group() == "\x00" else "a lone UTF-16 surrogate (not valid Unicode text)"
        )
        raise StoreError(
            f"{field}: contains {what} at position {bad.start()}, which cannot be stored; remove it."
        )
    return value


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Trimmed, de-duplicated, order kept; commas split (a UI types "a, b")."""
    out: list[str] = []
    for tag in tags:
        for part in str(tag).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part[:64])
    return out


def new_row(
    *,
    dataset: str,
    arch: str,
    baseline_hash: str,
    technique: str,
    recipe: Sequence[dict[str, Any]],
    measurement: Measurement | dict[str, Any],
    artifact_path: str | None = None,
    who: str = "",
    tags: Iterable[str] = (),
    notes: str = "",
    layers: list[dict[str, Any]] | None = None,
    created_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The column values of one new run (validated for type by Measurement's constructor)."""
    m = measurement if isinstance(measurement, Measurement) else Measurement(**measurement)
    stamp = (created_at or now()).astimezone(dt.UTC)  # SQLite would keep the clock time and drop the offset
    for name, text in (
        ("who", who),
        ("notes", notes),
        ("dataset", dataset),
        ("arch", arch),
        ("technique", technique),
    ):
        check_text(name, text)
    return {
        "created_at": stamp,
        "updated_at": stamp,
        "who": who,
        "dataset": dataset,
        "arch": arch,
        "baseline_hash": baseline_hash,
        "technique": technique,
        "recipe": json.dumps(list(recipe), sort_keys=True),
        **m.as_dict(),
        "artifact_path": artifact_path,
        "tags": json.dumps(normalise_tags(check_text("tags", t) for t in tags)),
        "notes": notes,
        "layers": json.dumps(layers) if layers is not None else None,
    }


# ---------------------------------------------------------------- engines

_ENGINES: dict[tuple[str, float, int], sa.Engine] = {}
_ENGINES_LOCK = threading.Lock()


def _sqlite_engine(url: sa.URL, timeout: float) -> sa.Engine:
    db = url.database
    if db and db != ":memory:" and not db.startswith("file:"):
        try:
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the folder for the run store {db}: {exc}") from exc
    engine = sa.create_engine(url, connect_args={"timeout": timeout, "check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes in WAL mode
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # A write takes the lock up front: it then waits busy_timeout instead of failing on upgrade.
        write = conn.get_execution_options().get("cla_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def get_engine(url: str, timeout: float = DEFAULT_TIMEOUT_S) -> sa.Engine:
    """One engine per (URL, timeout, process): pools never cross a fork."""
    key = (url, timeout, os.getpid())
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            try:
                parsed = sa.make_url(url)
            except sa.exc.ArgumentError as exc:
                raise StoreError(f"'{url}' is not a database URL (e.g. sqlite:///runs.db): {exc}") from exc
            try:
                if parsed.get_backend_name() == "sqlite":
                    _ENGINES[key] = _sqlite_engine(parsed, timeout)
                else:
                    args: dict[str, Any] = {}
                    if parsed.get_backend_name() == "postgresql":
                        args = {"connect_timeout": max(1, int(timeout))}
                    _ENGINES[key] = sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
            except (ImportError, sa.exc.ArgumentError) as exc:
                raise StoreError(f"Cannot use the store URL {parsed.render_as_string()}: {exc}") from exc
        return _ENGINES[key]


# ---------------------------------------------------------------- the store


class RunStore:
    """A handle on one store. Cheap to create; the schema is created or migrated on first use."""

    def __init__(self, url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url or default_url()
        self.timeout = timeout
        self.engine = get_engine(self.url, timeout)
        self.display_url = self.engine.url.render_as_string(hide_password=True)
        self._ready = False

    # ------------------------------------------------------------ plumbing

    def _explain(self, exc: BaseException) -> str:
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        low = text.lower()
        if "locked" in low or "lock timeout" in low:
            hint = f"another writer held it longer than the {self.timeout:g} s timeout; try again"
        elif ("disk" in low and "full" in low) or "no space" in low:
            hint = "the disk is full; free some space and retry"
        elif "unable to open" in low or "readonly" in low or "read-only" in low or "permission" in low:
            hint = "the store file or its folder cannot be written; check COMPRESSION_STORE and permissions"
        elif "connect" in low or "server" in low or "connection" in low:
            hint = "the database server cannot be reached; check it is running and the URL is right"
        else:
            hint = "see the database message"
        return f"Run store {self.display_url}: {hint} ({text})"

    @contextmanager
    def _conn(self, write: bool = False) -> Iterator[sa.Connection]:
        """A transaction; writes take the lock at BEGIN. Every failure becomes a StoreError."""
        if write and read_only():
            raise StoreError(
                "This server is read-only (COMPRESSION_READONLY=1): runs can be viewed, not changed."
            )
        self._ensure_schema()
        try:
            with self.engine.connect() as conn:
                conn.execution_options(cla_write=write)
                with conn.begin():
                    yield conn
        except StoreError:
            raise
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise StoreError(self._explain(exc)) from exc

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        try:
            with self.engine.connect() as conn:
                conn.execution_options(cla_write=True)
                with conn.begin():
                    if conn.dialect.name == "postgresql":  # one migrator at a time across processes
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                    schema.migrate(conn, now)
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise StoreError(self._explain(exc)) from exc
        self._ready = True

    def schema_version(self) -> int:
        self._ensure_schema()
        with self._conn() as conn:
            return schema.current_version(conn)

    # ------------------------------------------------------------ writing

    def add(self, row: dict[str, Any]) -> int:
        """Insert one run (a `new_row` dict); returns its id."""
        with self._conn(write=True) as conn:
            return int(
                conn.execute(schema.runs.insert().values(**row).returning(schema.runs.c.id)).scalar_one()
            )

    def add_many(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert runs in one transaction: all of them or none."""
        ids: list[int] = []
        with self._conn(write=True) as conn:
            for row in rows:
                ids.append(
                    int(
                        conn.execute(
                            schema.runs.insert().values(**row).returning(schema.runs.c.id)
                        ).scalar_one()
                    )
                )
        return ids

    def bulk_insert(self, rows: Sequence[dict[str, Any]]) -> int:
        """Fast executemany insert (benchmarks, imports of thousands); returns the count."""
        if not rows:
            return 0
        with self._conn(write=True) as conn:
            conn.execute(schema.runs.insert(), list(rows))
        return len(rows)

    def update(self, run_id: int, *, tags: Iterable[str] | None = None, notes: str | None = None) -> None:
        values: dict[str, Any] = {"updated_at": now()}
        if tags is not None:
            values["tags"] = json.dumps(normalise_tags(check_text("tags", t) for t in tags))
        if notes is not None:
            values["notes"] = check_text("notes", notes)
        with self._conn(write=True) as conn:
            n = conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(**values)).rowcount
        if n == 0:
            raise StoreError(f"Run #{run_id} is not in the store (deleted by someone else?).")

    def update_measurement(self, run_id: int, measurement: Measurement) -> None:
        """Replace a run's measurement (a re-measured speed); everything else stays."""
        values = {**measurement.as_dict(), "updated_at": now()}
        with self._conn(write=True) as conn:
            n = conn.execute(schema.runs.update().where(schema.runs.c.id == run_id).values(**values)).rowcount
        if n == 0:
            raise StoreError(f"Run #{run_id} is not in the store (deleted by someone else?).")

    def baseline_run(self, dataset: str, arch: str | None, baseline_hash: str) -> int | None:
        """The id of the run that already records these baseline weights, if any (arch None: any)."""
        c = schema.runs.c
        where = [c.technique == "baseline", c.dataset == dataset, c.baseline_hash == baseline_hash]
        if arch is not None:
            where.append(c.arch == arch)
        q = sa.select(c.id).where(*where).order_by(c.id).limit(1)
        with self._conn() as conn:
            found = conn.execute(q).scalar()
        return None if found is None else int(found)

    def has_artifact(self, path: str) -> bool:
        """Whether a run points at this model file."""
        with self._conn() as conn:
            q = sa.select(schema.runs.c.id).where(schema.runs.c.artifact_path == path).limit(1)
            return conn.execute(q).first() is not None

    def delete(self, run_ids: Iterable[int], who: str = "") -> int:
        """Delete runs (their artifact files too), logging who deleted each and the run as it was;
        returns how many rows went."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return 0
        check_text("who", who)
        with self._conn(write=True) as conn:
            rows = conn.execute(sa.select(schema.runs).where(schema.runs.c.id.in_(ids))).mappings().all()
            stamp = now()
            for row in rows:
                record = json.dumps(row_to_run(dict(row)).as_dict(), default=str)
                conn.execute(
                    schema.deletions.insert().values(run_id=row["id"], deleted_at=stamp, who=who, run=record)
                )
            n = conn.execute(schema.runs.delete().where(schema.runs.c.id.in_(ids))).rowcount
        for row in rows:
            p = row["artifact_path"]
            if p and Path(p).is_file() and Path(p).parent == artifact_dir(self):
                Path(p).unlink(missing_ok=True)  # only files this store wrote itself
        return int(n)

    def deletions(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest deletions: run id, when, who, and the run as it was (newest first)."""
        d = schema.deletions
        with self._conn() as conn:
            rows = conn.execute(sa.select(d).order_by(d.c.id.desc()).limit(limit)).mappings().all()
        return [{**dict(r), "deleted_at": _utc(r["deleted_at"]), "run": json.loads(r["run"])} for r in rows]

    # ------------------------------------------------------------ reading

    def get(self, run_id: int) -> Run | None:
        with self._conn() as conn:
            row = conn.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).mappings().first()
        return row_to_run(dict(row)) if row else None

    def runs(self, ids: Iterable[int] | None = None) -> list[Run]:
        q = sa.select(schema.runs).order_by(schema.runs.c.id)
        if ids is not None:
            q = q.where(schema.runs.c.id.in_([int(i) for i in ids]))
        with self._conn() as conn:
            return [row_to_run(dict(r)) for r in conn.execute(q).mappings()]

    def count(self) -> int:
        with self._conn() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar_one())

    def version(self) -> tuple[int, int, str]:
        """(count, max id, last update): changes whenever a run is added, edited or deleted."""
        r = schema.runs.c
        with self._conn() as conn:
            count, max_id, last = conn.execute(
                sa.select(sa.func.count(), sa.func.max(r.id), sa.func.max(r.updated_at))
            ).one()
        return int(count), int(max_id or 0), str(last)

    def frame(
        self,
        *,
        dataset: Sequence[str] | None = None,
        arch: Sequence[str] | None = None,
        technique: Sequence[str] | None = None,
        tag: Sequence[str] | None = None,
        ids: Iterable[int] | None = None,
        with_layers: bool = False,
    ) -> pd.DataFrame:
        """Runs as a DataFrame (one row each; recipe and tags decoded), optionally filtered."""
        cols = [c for c in schema.runs.columns if with_layers or c.name != "layers"]
        q = sa.select(*cols).order_by(schema.runs.c.id)
        for name, values in (("dataset", dataset), ("arch", arch), ("technique", technique)):
            if values:
                q = q.where(schema.runs.c[name].in_(list(values)))
        if ids is not None:
            q = q.where(schema.runs.c.id.in_([int(i) for i in ids]))
        with self._conn() as conn:
            result = conn.execute(q)
            df = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        df = decode_frame(df)
        if tag:
            wanted = set(tag)
            df = df[df["tags"].map(lambda t: bool(wanted & set(t)))].reset_index(drop=True)
        return df


def decode_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Parse JSON columns and normalise types of a raw `runs` frame."""
    df = df.copy()
    df["recipe"] = df["recipe"].map(lambda s: json.loads(s) if isinstance(s, str) else (s or []))
    df["tags"] = df["tags"].map(lambda s: tuple(json.loads(s)) if isinstance(s, str) else tuple(s or ()))
    if "layers" in df:
        df["layers"] = df["layers"].map(lambda s: json.loads(s) if isinstance(s, str) else None)
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["updated_at"] = pd.to_datetime(df["updated_at"], utc=True)
    df["runs_dense"] = df["runs_dense"].astype("boolean")
    for name in ("latency_b1_ms", "latency_b256_ms"):
        df[name] = pd.to_numeric(df[name], errors="coerce").astype("float64")
    return df


def artifact_dir(store: RunStore) -> Path:
    """Artifacts sit beside a SQLite store's file, else under the data folder."""
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / "artifacts"
    return (data_dir() / "artifacts").resolve()


_STORES: dict[tuple[str, float], RunStore] = {}


def open_store(url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT_S) -> RunStore:
    """A shared RunStore per URL (the schema check runs once per process)."""
    key = (url or default_url(), timeout)
    store = _STORES.get(key)
    if store is None or store.engine is not get_engine(key[0], timeout):
        store = _STORES[key] = RunStore(key[0], timeout=timeout)
    return store
