"""The run store on SQLite and on a real PostgreSQL server: round trip, migrations, concurrency, faults."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compression import artifact, data, metrics, model_file, models, pruning, runs, techniques, train
from compression.runs import schema
from compression.runs.store import get_engine, new_row
from tests.pg import pg_base_url

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


@pytest.fixture(scope="module")
def trained(digits: data.Dataset) -> tuple[torch.nn.Module, metrics.Measurement]:
    """A real tiny model (LeNet-300-100 at width 0.25, one epoch on digits) and its measurement."""
    model = models.build("lenet-300-100", digits.input_shape, digits.num_classes, width=0.25)
    train.fit(model, digits, epochs=1)
    return model, metrics.measure(model, digits, latency=False)


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A fresh database on the test PostgreSQL server, dropped afterwards."""
    base = sa.make_url(pg_base_url())
    name = f"cla_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        for key, engine in list(runs.store._ENGINES.items()):
            if key[0] == url:
                engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path / "cache"))
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return request.getfixturevalue("pg_url")


def a_measurement(**changes: object) -> metrics.Measurement:
    base = {
        "top1": 0.9,
        "top5": 0.99,
        "loss": 0.3,
        "params_total": 1000,
        "params_nonzero": 500,
        "effective_bits": 8.0,
        "size_dense_bytes": 4000,
        "size_theoretical_bytes": 500,
        "size_artifact_bytes": 900,
        "macs": 20000,
        "macs_effective": 10000,
        "latency_b1_ms": 0.1,
        "latency_b256_ms": 2.0,
        "threads": 2,
        "runs_dense": True,
    }
    return metrics.Measurement(**{**base, **changes})  # type: ignore[arg-type]


def plain_row(i: int = 0, **changes: object) -> dict[str, object]:
    kw: dict[str, object] = {
        "dataset": "digits",
        "arch": "lenet5",
        "baseline_hash": "abc123",
        "technique": "magnitude-prune",
        "recipe": [{"technique": "magnitude-prune", "amount": 0.5}],
        "measurement": a_measurement(top1=0.5 + i / 1e6),
        "notes": f"row {i}",
    }
    kw.update(changes)
    return new_row(**kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------- round trip


def test_record_run_round_trip(store_url: str, trained: tuple[torch.nn.Module, metrics.Measurement]) -> None:
    model, meas = trained
    store = runs.RunStore(store_url)
    recipe = [{"technique": "magnitude-prune", "amount": 0.5, "scope": "global"}]
    rid = runs.record_run(
        model,
        dataset="digits",
        arch="lenet-300-100",
        baseline_hash=train.weights_hash(model),
        recipe=recipe,
        measurement=meas,
        technique="magnitude-prune",
        who="ada",
        tags=["exam", "week 3, lecture"],
        notes="first try",
        store=store,
    )
    run = store.get(rid)
    assert run is not None
    assert run.measurement == meas  # every Measurement field survives, None latencies included
    assert (run.dataset, run.arch, run.technique, run.who) == (
        "digits",
        "lenet-300-100",
        "magnitude-prune",
        "ada",
    )
    assert run.recipe == recipe and run.notes == "first try"
    assert run.tags == ("exam", "week 3", "lecture")
    assert run.baseline_hash == train.weights_hash(model)
    assert run.layers and run.layers[0]["layer"] and "sparsity" in run.layers[0]
    # The artifact is the real compact file and loads back into the same model.
    loaded = artifact.load(Path(run.artifact_path or ""))
    assert train.weights_hash(loaded) == train.weights_hash(model)

    before = store.version()
    store.update(rid, tags=["kept"], notes="second look")
    assert store.version() != before  # edits change the cache key of the Compare page
    assert store.get(rid).tags == ("kept",)  # type: ignore[union-attr]
    assert store.get(rid).notes == "second look"  # type: ignore[union-attr]

    df = store.frame(dataset=["digits"], tag=["kept"])
    assert df["id"].tolist() == [rid] and df.loc[0, "top1"] == pytest.approx(meas.top1)
    assert store.frame(technique=["other"]).empty
    assert store.delete([rid]) == 1 and store.get(rid) is None
    assert not Path(run.artifact_path or "").exists()
    with pytest.raises(runs.StoreError, match="not in the store"):
        store.update(rid, notes="gone")


def test_baseline_with_empty_recipe_and_default_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trained: tuple[torch.nn.Module, metrics.Measurement]
) -> None:
    """What the Model page does: record the baseline (empty recipe) into the default store."""
    model, meas = trained
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    monkeypatch.delenv("COMPRESSION_STORE", raising=False)
    assert runs.default_url() == f"sqlite:///{tmp_path / 'runs.db'}"
    rid = runs.record_run(
        model, dataset="digits", arch="lenet-300-100", baseline_hash="h", recipe=[], measurement=meas,
        technique="baseline",
    )  # fmt: skip
    run = runs.open_store().get(rid)
    assert run is not None and run.recipe == [] and run.technique == "baseline"
    assert Path(run.artifact_path or "").parent == tmp_path / "artifacts"
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path / 'other.db'}")
    assert runs.open_store().count() == 0  # COMPRESSION_STORE wins


def test_real_int8_model_is_kept_as_its_quantized_state_dict(
    tmp_path: Path, digits: data.Dataset, trained: tuple[torch.nn.Module, metrics.Measurement]
) -> None:
    model, meas = trained
    q = torch.ao.quantization.quantize_dynamic(train.clone(model), {torch.nn.Linear}, dtype=torch.qint8)
    q._cla_int8 = {"mode": "dynamic", "backend": "torch.ao"}  # what int8.quantize records
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    rid = runs.record_run(
        q, dataset="digits", arch="lenet-300-100", baseline_hash="h", recipe=[], measurement=meas,
        technique="int8-dynamic", store=store,
    )  # fmt: skip
    path = Path(store.get(rid).artifact_path or "")  # type: ignore[union-attr]
    assert path.suffix == ".pt"
    state = torch.load(path, weights_only=True)  # no code is unpickled
    assert any("_packed_params" in k for k in state)
    back = model_file.load(path)  # the header names the architecture (width 0.25) and the INT8 mode
    with torch.inference_mode():
        assert torch.equal(back(digits.x_test[:32]), q(digits.x_test[:32]))


# ---------------------------------------------------------------- migrations

V1_DDL = """
CREATE TABLE runs (
    id {pk},
    created_at TIMESTAMP NOT NULL,
    who VARCHAR(200) NOT NULL, dataset VARCHAR(64) NOT NULL, arch VARCHAR(64) NOT NULL,
    baseline_hash VARCHAR(64) NOT NULL, technique VARCHAR(64) NOT NULL, recipe TEXT NOT NULL,
    top1 FLOAT, top5 FLOAT, loss FLOAT, params_total BIGINT, params_nonzero BIGINT,
    effective_bits FLOAT, size_dense_bytes BIGINT, size_theoretical_bytes BIGINT,
    size_artifact_bytes BIGINT, macs BIGINT, macs_effective BIGINT, latency_b1_ms FLOAT,
    threads INTEGER, runs_dense BOOLEAN,
    artifact_path TEXT, tags TEXT NOT NULL, notes TEXT NOT NULL
)
"""


def test_old_store_opens_without_losing_runs(store_url: str) -> None:
    """A v1 store (no layers, no updated_at, no batch-256 latency) is migrated in place."""
    engine = sa.create_engine(store_url)
    pk = "INTEGER PRIMARY KEY AUTOINCREMENT" if engine.dialect.name == "sqlite" else "SERIAL PRIMARY KEY"
    with engine.begin() as conn:
        conn.exec_driver_sql(V1_DDL.format(pk=pk))
        for i in range(3):
            cols = (
                "created_at, who, dataset, arch, baseline_hash, technique, recipe, top1, top5, loss,"
                " params_total, params_nonzero, effective_bits, size_dense_bytes, size_theoretical_bytes,"
                " size_artifact_bytes, macs, macs_effective, latency_b1_ms, threads, runs_dense,"
                " artifact_path, tags, notes"
            )
            values = (
                f"'2024-01-0{i + 1} 10:00:00', 'old', 'digits', 'lenet5', 'h', 'baseline', '[]', 0.9{i},"
                " 1.0, 0.2, 100, 100, 32.0, 400, 400, 420, 1000, 1000, 0.05, 2, TRUE, NULL,"
                f" '[\"v1\"]', 'old run {i}'"
            )
            conn.exec_driver_sql(f"INSERT INTO runs ({cols}) VALUES ({values})")
    engine.dispose()

    store = runs.RunStore(store_url)
    assert store.schema_version() == schema.SCHEMA_VERSION
    old = store.runs()
    assert [r.notes for r in old] == ["old run 0", "old run 1", "old run 2"]
    assert [r.measurement.top1 for r in old] == pytest.approx([0.90, 0.91, 0.92])
    assert all(r.measurement.latency_b256_ms is None and r.layers is None for r in old)
    assert all(r.updated_at == r.created_at for r in old)  # the v2 data step backfilled it
    cols = {c["name"] for c in sa.inspect(store.engine).get_columns("runs")}
    assert {c.name for c in schema.runs.columns} <= cols
    new_id = store.add(plain_row())
    assert store.get(new_id).measurement.latency_b256_ms == 2.0  # type: ignore[union-attr]
    # Opening again (a second app version start) changes nothing.
    assert runs.RunStore(store_url).count() == 4


# ---------------------------------------------------------------- concurrency

WRITER = textwrap.dedent(
    """
    import sys, threading, time
    from pathlib import Path
    from compression.runs import RunStore, new_row
    from compression.metrics import Measurement
    url, proc, go = sys.argv[1], sys.argv[2], Path(sys.argv[5])
    threads, per = int(sys.argv[3]), int(sys.argv[4])
    m = Measurement(0.5, 0.9, 1.0, 10, 10, 32.0, 40, 40, 44, 100, 100, None, None, 1, True)
    store = RunStore(url, timeout=60)
    store.count()  # schema ready before the start signal
    Path(str(go) + "." + proc).touch()
    while not go.exists():
        time.sleep(0.01)
    def work(t):
        for i in range(per):
            store.add(new_row(dataset="digits", arch="lenet5", baseline_hash="h", technique="baseline",
                              recipe=[], measurement=m, notes=f"{proc}:{t}:{i}"))
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    """
)


def test_two_processes_and_threads_lose_no_run(store_url: str, tmp_path: Path) -> None:
    procs_n, threads_n, per = 2, 4, 15
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, f"p{p}", str(threads_n), str(per), str(go)],
            env=env,
            cwd=REPO,
            stderr=subprocess.PIPE,
        )
        for p in range(procs_n)
    ]
    store = runs.RunStore(store_url, timeout=60)
    store.count()
    deadline = time.time() + 240
    while not all(Path(f"{go}.p{p}").exists() for p in range(procs_n)):
        assert all(p.poll() is None for p in procs), [
            p.stderr.read().decode()[-2000:] for p in procs if p.stderr
        ]
        assert time.time() < deadline, "writer processes did not start"
        time.sleep(0.05)

    def local(t: int) -> None:
        for i in range(per):
            store.add(plain_row(notes=f"main:{t}:{i}"))

    threads = [threading.Thread(target=local, args=(t,)) for t in range(threads_n)]
    go.touch()  # everybody writes at once from here
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err.decode()[-3000:]

    df = store.frame()
    expected = {f"{w}:{t}:{i}" for w in ("p0", "p1", "main") for t in range(threads_n) for i in range(per)}
    assert len(df) == len(expected) == (procs_n + 1) * threads_n * per
    assert set(df["notes"]) == expected  # every write landed exactly once
    assert df["id"].is_unique


# ---------------------------------------------------------------- faults


def test_locked_store_fails_clearly_then_saves(
    tmp_path: Path, trained: tuple[torch.nn.Module, object]
) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite:///{db}"
    store = runs.RunStore(url, timeout=0.2)
    store.count()  # schema exists
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past our timeout
    try:
        with pytest.raises(runs.StoreError, match="locked") as info:
            store.add(plain_row())
        assert "0.2 s" in str(info.value)
        with pytest.raises(runs.StoreError):
            runs.record_run(
                trained[0], dataset="digits", arch="lenet-300-100", baseline_hash="h", recipe=[],
                measurement=a_measurement(), technique="baseline", store=store,
            )  # fmt: skip
        assert not list((tmp_path / "artifacts").glob("*"))  # no orphan artifact left behind
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.add(plain_row()) > 0 and store.count() == 1  # the retry saves it


def test_full_store_fails_clearly_and_keeps_earlier_runs(tmp_path: Path) -> None:
    """SQLite's real 'database or disk is full' (SQLITE_FULL), provoked with a page-count cap."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    store = runs.RunStore(url)
    first = store.add(plain_row(0))
    engine = store.engine
    engine.dispose()

    def cap(dbapi_conn: object, _record: object) -> None:
        dbapi_conn.execute("PRAGMA max_page_count = 12")  # type: ignore[attr-defined]

    sa.event.listen(engine, "connect", cap)
    try:
        with pytest.raises(runs.StoreError, match="disk is full"):
            for i in range(200):
                store.add(plain_row(i, notes="x" * 3000))
    finally:
        sa.event.remove(engine, "connect", cap)
        engine.dispose()
    assert store.get(first) is not None  # nothing already stored was lost
    assert store.add(plain_row(1)) > first  # space again: saving works


def test_store_that_cannot_be_created_fails_clearly(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(runs.StoreError, match="Cannot create the folder"):
        runs.RunStore(f"sqlite:///{blocker / 'sub' / 'runs.db'}").count()
    with pytest.raises(runs.StoreError, match="not a database URL"):
        runs.RunStore("definitely not a url").count()


def test_unreachable_server_fails_clearly() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = runs.RunStore(f"postgresql+psycopg://u:secret@127.0.0.1:{port}/x", timeout=2)
    with pytest.raises(runs.StoreError, match="cannot be reached") as info:
        store.add(plain_row())
    assert "secret" not in str(info.value)  # passwords never reach the UI


def test_pg_server_gone_mid_session_then_back(pg_url: str) -> None:
    """Connections killed by the server (restart, failover): the next write reconnects."""
    store = runs.RunStore(pg_url)
    store.add(plain_row(1))
    admin = sa.create_engine(pg_base_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": sa.make_url(pg_url).database},
        )
    admin.dispose()
    store.add(plain_row(2))  # pool_pre_ping notices the dead connection and reconnects
    assert store.count() == 2


# ---------------------------------------------------------------- import / export


def test_export_import_round_trip_between_stores(store_url: str, tmp_path: Path) -> None:
    src = runs.RunStore(f"sqlite:///{tmp_path / 'src.db'}")
    ids = src.add_many([plain_row(i, tags=["a", "b"]) for i in range(3)])
    doc = runs.export_json(src, ids[:2])
    dst = runs.RunStore(store_url)
    new_ids = dst.add_many(runs.parse_export(doc))
    got = dst.runs(new_ids)
    want = src.runs(ids[:2])
    for g, w in zip(got, want, strict=True):
        assert g.measurement == w.measurement and g.recipe == w.recipe and g.tags == w.tags
        assert g.created_at == w.created_at and g.artifact_path is None
        assert f"was run #{w.id}" in g.notes
    csv = runs.export_csv(src)
    assert csv.splitlines()[0].startswith("id,created_at") and len(csv.splitlines()) == 4
    assert '"[{""amount"": 0.5' in csv


def _valid_doc() -> dict[str, object]:
    run = {
        "dataset": "digits",
        "arch": "lenet5",
        "technique": "baseline",
        "recipe": [],
        "tags": ["x"],
        **a_measurement().as_dict(),
    }
    return {"format": "compression-lab-runs", "version": 1, "runs": [run, dict(run)]}


def _with(path: str, value: object) -> bytes:
    doc = _valid_doc()
    target: object = doc
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if isinstance(target, list) else target[k]  # type: ignore[index]
    if isinstance(target, list):
        target[int(keys[-1])] = value
    else:
        target[keys[-1]] = value  # type: ignore[index]
    return json.dumps(doc).encode()


HOSTILE = {
    "not json": (b"{nope", "not valid JSON"),
    "not utf-8": (b"\xff\xfe{}", "not UTF-8"),
    "NaN": (json.dumps(_valid_doc()).replace("0.9,", "NaN,", 1).encode(), "NaN"),
    "duplicate keys": (
        b'{"format": "compression-lab-runs", "format": "x", "version": 1, "runs": []}',
        "repeats",
    ),
    "deep nesting": (b"[" * 5000 + b"]" * 5000, "deeper|not valid JSON"),
    "wrong format": (json.dumps({"format": "other", "runs": []}).encode(), "not a Compression Lab"),
    "accuracy > 1": (_with("runs.1.top1", 1.5), r"runs\[1\]\.top1"),
    "negative size": (_with("runs.0.size_artifact_bytes", -3), "size_artifact_bytes"),
    "string as number": (_with("runs.0.macs", "100"), "macs"),
    "unknown field": (_with("runs.0.evil", "rm -rf /"), "evil"),
    "script in dataset": (_with("runs.0.dataset", "<script>alert(1)</script>"), "dataset"),
    "path in arch": (_with("runs.0.arch", "../../etc/passwd"), "arch"),
    "huge notes": (_with("runs.0.notes", "x" * 20_000), "notes"),
    "recipe without technique": (_with("runs.0.recipe", [{"amount": 1}]), "technique"),
    "missing measurement": (_with("runs", [{"dataset": "digits", "arch": "a", "technique": "t"}]), "top1"),
    "nonzero > total": (_with("runs.0.params_nonzero", 10**9), "params_nonzero exceeds"),
    "bad date": (_with("runs.0.created_at", "yesterday"), "created_at"),
    "runs not a list": (_with("runs", {"a": 1}), "runs"),
    "lone surrogate in notes": (
        _with("runs.0.notes", "ok \ud800 no"),
        r"runs\[0\]\.notes: contains a lone UTF-16",
    ),
    "NUL in who": (_with("runs.0.who", "a\x00b"), r"runs\[0\]\.who: contains a NUL"),
    "huge notes, reason kept": (_with("runs.0.notes", "x" * 20_000), "20,000 characters.*maxLength"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_bad_import_is_refused_and_imports_nothing(case: str, tmp_path: Path) -> None:
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    store.add(plain_row())
    payload, message = HOSTILE[case]
    with pytest.raises(runs.ImportRefused, match=message):
        runs.import_json(store, payload)
    assert store.count() == 1


def test_valid_import_and_imported_paths_are_dropped(tmp_path: Path) -> None:
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    ids = runs.import_json(store, _with("runs.0.artifact_path", "/etc/shadow"))
    assert len(ids) == 2
    assert all(r.artifact_path is None for r in store.runs())  # a path from a file is never trusted


def test_oversized_import_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from compression.runs import exchange

    monkeypatch.setattr(exchange, "MAX_BYTES", 1000)
    with pytest.raises(runs.ImportRefused, match="limit"):
        runs.parse_export(b" " * 1001)


def test_engine_per_process_and_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    runs.RunStore(url).count()
    with get_engine(url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 15000


# ---------------------------------------------------------------- export law and CLI

FINITE = st.floats(0, 1, allow_nan=False)
COUNT = st.integers(0, 10**12)


@settings(max_examples=60, deadline=None)
@given(
    top1=FINITE,
    loss=st.floats(0, 100, allow_nan=False),
    params=st.tuples(COUNT, COUNT).map(sorted),
    bits=st.floats(0, 64, allow_nan=False),
    lat=st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
    dense=st.booleans(),
    tags=st.lists(st.text("abcxyz -_", min_size=1, max_size=10).map(str.strip).filter(bool), max_size=4),
    # NUL and lone surrogates (category Cs) are refused by the store (see below)
    notes=st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=200),
)
def test_export_then_parse_gives_back_every_field(
    top1: float, loss: float, params: list[int], bits: float, lat: float | None, dense: bool,
    tags: list[str], notes: str,
) -> None:  # fmt: skip
    m = a_measurement(top1=top1, loss=loss, params_nonzero=params[0], params_total=params[1],
                      effective_bits=bits, latency_b1_ms=lat, runs_dense=dense)  # fmt: skip
    row = plain_row(measurement=m, tags=tags, notes=notes)
    run = runs.store.row_to_run({**row, "id": 7})
    back = runs.parse_export(json.dumps(runs.exchange.export_payload([run])))[0]
    for key in schema.MEASUREMENT_FIELDS:
        assert back[key] == row[key], key
    assert json.loads(back["tags"]) == json.loads(row["tags"])
    assert back["recipe"] == row["recipe"] and back["notes"].startswith(notes)


def cli(*args: str) -> int:
    from compression.cli import main

    return main(list(args))


def test_cli_list_export_import_front(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src, dst = f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    store = runs.RunStore(src)
    store.add_many([plain_row(0, technique="baseline", recipe=[], measurement=a_measurement(top1=0.98,
                    size_artifact_bytes=9000)), plain_row(1, measurement=a_measurement(top1=0.97,
                    size_artifact_bytes=3000)), plain_row(2, measurement=a_measurement(top1=0.90,
                    size_artifact_bytes=5000), tags=["bad"])])  # fmt: skip
    assert cli("runs", "list", "--store", src) == 0
    out = capsys.readouterr().out
    assert "magnitude-prune" in out and out.count("\n") == 4  # header + 3 runs
    assert cli("runs", "list", "--store", src, "--tag", "bad", "--json") == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [3]

    assert cli("runs", "front", "--store", src, "--json") == 0
    front = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in front["front"]] == [2, 1]  # cheapest first; run 3 is dominated
    assert 0 < front["hypervolume"]["digits"] <= 1.1

    out_file = tmp_path / "runs.json"
    assert cli("runs", "export", "--store", src, "--out", str(out_file)) == 0
    assert cli("runs", "import", str(out_file), "--store", dst) == 0
    assert runs.RunStore(dst).count() == 3
    assert "imported 3 runs" in capsys.readouterr().out
    assert cli("runs", "export", "--store", src, "--format", "csv") == 0
    assert capsys.readouterr().out.startswith("id,created_at")

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "compression-lab-runs", "version": 1, "runs": [{"top1": 2}]}')
    assert cli("runs", "import", str(bad), "--store", dst) == 2
    assert "nothing imported" in capsys.readouterr().err
    assert runs.RunStore(dst).count() == 3
    assert cli("runs", "import", str(tmp_path / "missing.json"), "--store", dst) == 2
    assert "cannot read" in capsys.readouterr().err  # it said 'cannot write'
    assert cli("runs", "import", "/dev/zero", "--store", dst) == 2  # read to the size limit, not forever
    assert "the limit is" in capsys.readouterr().err

    assert cli("runs", "delete", "1", "--store", dst) == 0  # without --yes: only says what would go
    assert runs.RunStore(dst).count() == 3
    assert cli("runs", "delete", "1", "--store", dst, "--yes") == 0
    assert runs.RunStore(dst).count() == 2
    assert cli("runs", "delete", "999", "--store", dst, "--yes") == 1  # it said 'deleted 0 runs', exit 0
    assert "no run #999" in capsys.readouterr().err
    for bad in (["--limit", "-1"], ["--timeout", "nan"]):  # hid the oldest run; a traceback
        with pytest.raises(SystemExit) as exc:
            cli("runs", "list", "--store", dst, *bad)
        assert exc.value.code == 2
    capsys.readouterr()
    assert cli("runs", "show", "2", "--store", dst) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == 2 and shown["technique"] == "magnitude-prune" and shown["top1"] == 0.97
    assert cli("runs", "show", "99", "--store", dst) == 1


def test_cli_reports_an_unreachable_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("runs", "list", "--store", "postgresql+psycopg://u@127.0.0.1:1/x", "--timeout", "1") == 1
    assert "cannot be reached" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "text"), [("notes", "a\ud83d"), ("who", "x\x00y"), ("tags", "\udfff")])
def test_text_no_store_can_hold_is_refused_on_both_back_ends(store_url: str, field: str, text: str) -> None:
    store = runs.RunStore(store_url)
    before = store.count()
    with pytest.raises(runs.StoreError, match=f"{field}: contains"):
        store.add(plain_row(**{field: [text] if field == "tags" else text}))
    run_id = store.add(plain_row())
    with pytest.raises(runs.StoreError, match="contains"):
        store.update(run_id, **({"tags": [text]} if field == "tags" else {"notes": text}))
    assert store.count() == before + 1 and store.get(run_id).notes == "row 0"  # type: ignore[union-attr]


def test_csv_export_guards_formula_cells(tmp_path: Path) -> None:
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    store.add(plain_row(notes="=cmd|' /C calc'!A0", who="+SUM(1,1)", tags=["@SUM(1+1)"]))
    store.add(plain_row(1, notes="-2+3", who="\tx"))
    text = runs.export_csv(store)
    for cell in ("=cmd|", "+SUM(1,1)", "@SUM(1+1)", "-2+3"):
        assert f"'{cell}" in text
        assert f",{cell}" not in text and f'"{cell}' not in text
    import csv as csv_module
    import io as io_module

    rows = list(csv_module.DictReader(io_module.StringIO(text)))
    assert float(rows[0]["top1"]) == pytest.approx(0.5)  # numbers stay numbers


def test_created_at_keeps_its_instant_on_both_back_ends(store_url: str) -> None:
    import datetime as dt

    store = runs.RunStore(store_url)
    five_east = dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5)))
    run_id = store.add(plain_row(created_at=five_east))
    got = store.get(run_id)
    assert got is not None and got.created_at == five_east  # the same instant: 2023-12-31 19:00 UTC
    assert got.created_at.utcoffset() == dt.timedelta(0)


def test_files_of_killed_writers_are_finished_or_removed(tmp_path: Path) -> None:
    import os
    import time

    from compression.runs import record

    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    folder = runs.artifact_dir(store)
    folder.mkdir(parents=True)
    old = time.time() - 2 * record.STALE_PARTIAL_S
    orphan = folder / f"deadbeef.cla{record.PARTIAL}"  # killed before its run was committed
    orphan.write_bytes(b"x")
    committed = folder / f"cafebabe.cla{record.PARTIAL}"  # killed between the commit and the rename
    committed.write_bytes(b"y")
    fresh = folder / f"0123abcd.cla{record.PARTIAL}"  # a writer still at work
    fresh.write_bytes(b"z")
    os.utime(orphan, (old, old))
    os.utime(committed, (old, old))
    run_id = store.add(plain_row(artifact_path=str(folder / "cafebabe.cla")))
    assert record.sweep_partials(store) == 2
    assert not orphan.exists() and fresh.exists()
    assert (folder / "cafebabe.cla").read_bytes() == b"y" and store.get(run_id).artifact_path == str(  # type: ignore[union-attr]
        folder / "cafebabe.cla"
    )


def test_a_recorded_run_leaves_no_partial_file(
    tmp_path: Path, trained: tuple[torch.nn.Module, metrics.Measurement]
) -> None:
    model, meas = trained
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    run_id = runs.record_run(
        model,
        dataset="digits",
        arch="lenet5",
        baseline_hash="h",
        recipe=[],
        measurement=meas,
        technique="baseline",
        store=store,
    )
    path = Path(store.get(run_id).artifact_path)  # type: ignore[union-attr, arg-type]
    assert path.exists() and not path.name.endswith(".partial")
    assert not list(path.parent.glob("*.partial"))


def test_the_same_baseline_is_recorded_once(
    tmp_path: Path, trained: tuple[torch.nn.Module, metrics.Measurement]
) -> None:
    model, meas = trained
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    kw = {
        "dataset": "digits",
        "arch": "lenet5",
        "recipe": [],
        "measurement": meas,
        "technique": "baseline",
        "store": store,
    }
    first = runs.record_run(model, baseline_hash="w1", **kw)  # type: ignore[arg-type]
    assert runs.record_run(model, baseline_hash="w1", **kw) == first  # type: ignore[arg-type]
    assert runs.record_run(model, baseline_hash="w2", **kw) != first  # other weights: a run of their own  # type: ignore[arg-type]
    assert store.count() == 2


def test_a_run_records_its_lineages_baseline_once_and_its_report_shows_the_change(
    tmp_path: Path, digits: data.Dataset, trained: tuple[torch.nn.Module, metrics.Measurement]
) -> None:
    """A run recorded with `baseline=` brings its original along (measured only when the store lacks
    it), so the report's accuracy change has its reference, also for a student of another architecture."""
    from compression.charts import compare as compare_charts

    base, base_m = trained
    base._cla_meta = {**base._cla_meta, "model": "lenet-300-100"}  # type: ignore[assignment]
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    calls: list[int] = []

    def source() -> tuple[torch.nn.Module, metrics.Measurement]:
        calls.append(1)
        return base, base_m

    pruned = techniques.apply(base, pruning.MagnitudePrune(amount=0.5), digits)
    pm = metrics.measure(pruned, digits, baseline=base, latency=False)
    kw = {"dataset": "digits", "baseline_hash": "w1", "store": store, "baseline": source}
    first = runs.record_run(
        pruned, arch="lenet-300-100", recipe=[], measurement=pm, technique="magnitude-prune", **kw
    )  # type: ignore[arg-type]
    student = runs.record_run(pruned, arch="lenet5", recipe=[], measurement=pm, technique="distill", **kw)  # type: ignore[arg-type]
    assert calls == [1]  # measured once: the second run found the baseline already recorded
    recorded = {r.id: r for r in store.runs()}
    (original,) = [r for r in recorded.values() if r.technique == "baseline"]
    assert (
        original.arch == "lenet-300-100"
        and original.baseline_hash == "w1"
        and original.measurement.top1 == base_m.top1
    )
    assert original.id < first < student
    pool = store.frame()
    for rid in (first, student):
        row = pool[pool["id"] == rid].iloc[0]
        assert compare_charts.baseline_top1(row, pool) == pytest.approx(base_m.top1)
    table = compare_charts.side_by_side(pool[pool["id"] == first], pool)
    assert table.loc["Top-1 change vs own baseline"].iloc[0] == f"{(pm.top1 - base_m.top1) * 100:+.2f} pts"
    runs.record_run(base, arch="lenet-300-100", recipe=[], measurement=base_m, technique="baseline", **kw)  # type: ignore[arg-type]
    assert calls == [1] and store.count() == 3  # recording the baseline itself adds nothing


def test_runs_of_one_lineage_recorded_at_once_bring_one_baseline(
    tmp_path: Path, digits: data.Dataset, trained: tuple[torch.nn.Module, metrics.Measurement]
) -> None:
    """Four sessions record at the same moment; each finds no baseline run yet: one is recorded."""
    base, base_m = trained
    store = runs.RunStore(f"sqlite:///{tmp_path / 'runs.db'}")
    store._ensure_schema()
    start = threading.Barrier(4)

    def source() -> tuple[torch.nn.Module, metrics.Measurement]:
        time.sleep(0.2)  # a measurement takes a while: the others reach their check meanwhile
        return base, base_m

    def session(i: int) -> None:
        start.wait(30)
        runs.record_run(
            base, dataset="digits", arch="lenet-300-100", baseline_hash="w1", recipe=[], measurement=base_m,
            technique="magnitude-prune", who=f"s{i}", store=store, baseline=source,
        )  # fmt: skip

    threads = [threading.Thread(target=session, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.technique for r in store.runs()) == ["baseline"] + ["magnitude-prune"] * 4
