"""AppTest of the Compare page (and the Record-as-run control) on a temp store seeded by real runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from compression import data, metrics, models, runs, train

APP = "../../app.py"
TIMEOUT = 120


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """A store with three real runs of the digits LeNet-5 baseline: baseline, pruned, 4-level quantized."""
    root = tmp_path_factory.mktemp("compare")
    mp = pytest.MonkeyPatch()
    mp.setenv("COMPRESSION_CACHE", str(root / "cache"))
    url = f"sqlite:///{root / 'runs.db'}"
    mp.setenv("COMPRESSION_STORE", url)
    ds = data.load("digits")
    cfg = train.default_config("digits", "lenet5")
    base = train.load_baseline(cfg)  # the shipped baseline when there is one
    if base is None:  # else a quickly trained real one, cached where the sidebar looks for it
        base = models.build("lenet5", ds.input_shape, ds.num_classes)
        train.fit(base, ds, epochs=4, optimizer="adam", lr=3e-3)
        train.save_baseline(base, cfg)
    whash = train.weights_hash(base)

    pruned = train.clone(base)
    quant = train.clone(base)
    with torch.no_grad():
        for p, q in zip(pruned.parameters(), quant.parameters(), strict=True):
            if p.dim() > 1:
                cut = p.abs().flatten().kthvalue(int(0.7 * p.numel())).values
                p.mul_(p.abs() > cut)  # magnitude pruning, 70 %
                lo, hi = float(q.min()), float(q.max())
                q.copy_(torch.round((q - lo) / (hi - lo) * 3) / 3 * (hi - lo) + lo)  # 4 levels
    ids = {}
    for tech, model, recipe in (
        ("baseline", base, []),
        ("magnitude-prune", pruned, [{"technique": "magnitude-prune", "amount": 0.7}]),
        ("linear-quant", quant, [{"technique": "linear-quant", "bits": 2}]),
    ):
        m = metrics.measure(model, ds, latency=False)
        ids[tech] = runs.record_run(
            model, dataset="digits", arch="lenet5", baseline_hash=whash, recipe=recipe, measurement=m,
            technique=tech, tags=["lecture"] if tech != "baseline" else [],
        )  # fmt: skip
    yield {"url": url, "ids": ids, "root": root}
    mp.undo()


def open_compare(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/compare.py")
    for k, v in (params or {}).items():
        at.query_params[k] = v
    return at.run()


def chart_spec(at: AppTest, i: int = 0) -> dict[str, object]:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def marker_ids(spec: dict[str, object]) -> set[int]:
    return {int(c) for t in spec["data"] if t.get("customdata") is not None for c in _values(t["customdata"])}  # type: ignore[union-attr,attr-defined]


def _values(arr: object) -> list[object]:
    if isinstance(arr, dict):  # plotly may ship typed arrays as {"dtype", "bdata"}
        import base64

        import numpy as np

        return np.frombuffer(base64.b64decode(arr["bdata"]), dtype=arr["dtype"]).tolist()
    return list(arr)  # type: ignore[call-overload]


def test_front_of_recorded_runs(seeded: dict[str, object]) -> None:
    at = open_compare()
    assert not at.exception, at.exception
    spec = chart_spec(at)
    assert marker_ids(spec) == set(seeded["ids"].values())  # type: ignore[union-attr]
    names = [t.get("name") for t in spec["data"]]
    assert "baseline" in names and any(n and n.startswith("Pareto front") for n in names)
    assert spec["layout"]["dragmode"] == "select"
    assert "Measured size" in spec["layout"]["xaxis"]["title"]["text"]
    assert any("on the front" in c.value for c in at.caption)
    assert at.query_params["x"] == ["size_artifact_bytes"] or at.query_params["x"] == "size_artifact_bytes"


def test_axis_filters_and_selection_live_in_the_url(seeded: dict[str, object]) -> None:
    ids: dict[str, int] = seeded["ids"]  # type: ignore[assignment]
    at = open_compare({"x": "macs_effective", "logx": "1", "tech": "baseline,magnitude-prune",
                       "sel": f"{ids['baseline']},{ids['magnitude-prune']}"})  # fmt: skip
    assert not at.exception, at.exception
    spec = chart_spec(at)
    assert "Effective MACs" in spec["layout"]["xaxis"]["title"]["text"]
    assert spec["layout"]["xaxis"]["type"] == "log"
    assert marker_ids(spec) == {ids["baseline"], ids["magnitude-prune"]}  # the quantized run is filtered out
    table = at.table[0].value
    assert list(table.columns) == [
        f"#{ids['baseline']} baseline",
        f"#{ids['magnitude-prune']} magnitude-prune",
    ]
    sparsity = table.loc["Parameters gone (zero or removed)"].tolist()
    assert sparsity[0] == "0.00%" and float(sparsity[1].rstrip("%")) > 50  # the pruned run really is sparse
    assert len(at.get("plotly_chart")) == 2  # per-layer comparison drawn

    # Changing a widget changes the chart and the URL.
    at.selectbox(key="cmp_x").set_value("size_theoretical_bytes").run()
    assert "Theoretical size" in chart_spec(at)["layout"]["xaxis"]["title"]["text"]
    assert "size_theoretical_bytes" in str(at.query_params["x"])
    at.multiselect(key="cmp_sel").set_value([ids["magnitude-prune"]]).run()
    assert list(at.table[0].value.columns) == [f"#{ids['magnitude-prune']} magnitude-prune"]
    assert str(ids["magnitude-prune"]) in str(at.query_params["sel"])


def test_faded_colour_toggle_follows_the_url(seeded: dict[str, object]) -> None:
    at = open_compare()
    assert at.toggle(key="cmp_fcol").value is True  # a small store: faded runs coloured by technique
    assert "1" in str(at.query_params["fcol"])
    at = open_compare({"fcol": "0"})
    assert at.toggle(key="cmp_fcol").value is False and "0" in str(at.query_params["fcol"])
    faded = [t for t in chart_spec(at)["data"] if t.get("name") == "dominated runs"]
    assert faded and all(t["marker"]["color"] == "#64748b" for t in faded)  # grey when off
    at.toggle(key="cmp_fcol").set_value(True).run()
    assert "1" in str(at.query_params["fcol"])


def test_absurd_url_values_warn_instead_of_crashing(seeded: dict[str, object]) -> None:
    at = open_compare({"x": "bogus", "sel": "abc,99999", "ds": "nope", "logx": "7"})
    assert not at.exception, at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "bogus" in warnings and "abc" in warnings and "nope" in warnings
    assert "Measured size" in chart_spec(at)["layout"]["xaxis"]["title"]["text"]


def test_tags_notes_and_delete_with_confirmation(seeded: dict[str, object]) -> None:
    store = runs.RunStore(str(seeded["url"]))
    extra = store.add_many(runs.parse_export(runs.export_json(store, [seeded["ids"]["linear-quant"]])))[0]  # type: ignore[index]
    at = open_compare({"sel": str(extra)})
    at.text_input[0].set_value("exam, keep")
    at.text_area[0].set_value("looks good")
    at.button(key="FormSubmitter:cmp_edit_" + str(extra) + "-Save tags and notes").click().run()
    assert not at.exception, at.exception
    assert store.get(extra).tags == ("exam", "keep") and store.get(extra).notes == "looks good"  # type: ignore[union-attr]

    at.button(key="cmp_del").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    assert store.get(extra) is not None  # asking first: nothing deleted yet
    at.button(key="cmp_del_no").click().run()
    assert store.get(extra) is not None
    at.text_input(key="cmp_del_who").set_value("ana")
    at.button(key="cmp_del").click().run()
    at.button(key="cmp_del_yes").click().run()
    assert not at.exception, at.exception
    assert store.get(extra) is None
    logged = store.deletions()[0]
    assert (logged["run_id"], logged["who"], logged["run"]["notes"]) == (extra, "ana", "looks good")


def test_a_read_only_server_offers_no_writes(
    seeded: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPRESSION_READONLY", "1")
    store = runs.RunStore(str(seeded["url"]))
    before = store.count()
    at = open_compare({"sel": str(seeded["ids"]["baseline"])})  # type: ignore[index]
    assert not at.exception, at.exception
    keys = {b.key for b in at.button}
    assert "cmp_del" not in keys and not at.get("file_uploader")
    assert any("read-only" in c.value for c in at.caption)
    with pytest.raises(runs.StoreError, match="read-only"):
        store.update(seeded["ids"]["baseline"], notes="x")  # type: ignore[index]
    assert store.count() == before


def test_import_refuses_bad_files_and_takes_good_ones(seeded: dict[str, object]) -> None:
    store = runs.RunStore(str(seeded["url"]))
    before = store.count()
    at = open_compare()
    bad = json.dumps(
        {"format": "compression-lab-runs", "version": 1, "runs": [{"dataset": "digits"}]}
    ).encode()
    at.get("file_uploader")[0].set_value(("bad.json", bad, "application/json")).run()  # type: ignore[attr-defined]
    assert any("Nothing was imported" in e.value for e in at.error)
    assert store.count() == before
    good = runs.export_json(store, [seeded["ids"]["baseline"]]).encode()  # type: ignore[index]
    at.get("file_uploader")[0].set_value(("good.json", good, "application/json")).run()  # type: ignore[attr-defined]
    at.button(key="cmp_import_go").click().run()
    assert not at.exception, at.exception
    assert store.count() == before + 1


def test_empty_store_explains_how_to_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path / 'empty.db'}")
    at = open_compare()
    assert not at.exception, at.exception
    assert any("No runs recorded yet" in i.value for i in at.info)
    assert not at.get("plotly_chart")


def test_unreadable_store_says_why(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{blocker / 'runs.db'}")
    at = open_compare()
    assert not at.exception, at.exception
    assert any("cannot be read" in e.value for e in at.error)


# ---------------------------------------------------------------- the Record-as-run control


def record_app() -> None:
    import streamlit as st

    from compression import metrics
    from ui import sidebar
    from ui.record import record_button

    ctx = sidebar.render()

    @st.cache_data
    def meas(h: str) -> metrics.Measurement:
        return metrics.measure(ctx.model, ctx.ds, latency=False)

    record_button(ctx, ctx.model, [], meas(ctx.weights_hash), technique="baseline", key="baseline")


def test_record_button_saves_and_retries_after_a_failed_write(
    seeded: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv(
        "COMPRESSION_STORE", f"sqlite:///{blocker / 'runs.db'}"
    )  # a store that cannot be written
    at = AppTest.from_function(record_app, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.text_input(key="baseline_tags").set_value("from test")
    at.button(key="baseline_record").click().run()
    assert any("was not saved" in e.value for e in at.error)
    assert at.button(key="baseline_retry")  # the result is kept for a retry

    good = tmp_path / "good.db"
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{good}")  # the store is back
    at.button(key="baseline_retry").click().run()
    assert not at.exception, at.exception
    assert any("Recorded as run #1" in s.value for s in at.success)
    run = runs.RunStore(f"sqlite:///{good}").get(1)
    assert run is not None and run.technique == "baseline" and run.recipe == [] and run.tags == ("from test",)


def test_a_noisy_run_is_named_and_remeasured_paired_with_its_baseline(
    seeded: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from compression import pruning as P
    from compression import techniques

    url = f"sqlite:///{tmp_path / 'noisy.db'}"
    monkeypatch.setenv("COMPRESSION_STORE", url)
    ds = data.load("digits")
    base = train.load_baseline(train.default_config("digits", "lenet5"))
    assert base is not None
    pruned = techniques.apply(base, P.StructuredPrune(amount=0.5), ds)
    m = dataclasses.replace(metrics.measure(pruned, ds, baseline=base, latency=False), latency_noisy=True)
    rid = runs.record_run(
        pruned, dataset="digits", arch="lenet5", baseline_hash=train.weights_hash(base),
        recipe=[P.StructuredPrune(amount=0.5)], measurement=m, technique="structured-prune",
    )  # fmt: skip
    at = open_compare({"sel": str(rid)})
    assert any("Noisy measurement" in w.value and f"#{rid}" in w.value for w in at.warning)
    table = at.table[0].value
    assert (
        float(table.loc["Parameters gone (zero or removed)"].iloc[0].rstrip("%")) > 40
    )  # against the original, not its own shape
    at.button(key="cmp_remeasure").click().run()
    assert not at.exception, at.exception
    got = runs.open_store(url).get(rid)
    assert got is not None and got.measurement.speedup_b256 is not None
    assert got.measurement.cpu and got.measurement.baseline_latency_b256_ms


def test_a_pipelines_stages_are_joined_by_arrows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'pipe.db'}"
    monkeypatch.setenv("COMPRESSION_STORE", url)
    ds = data.load("digits")
    m = metrics.measure(models.build("lenet5", ds.input_shape, ds.num_classes), ds, latency=False)
    store = runs.RunStore(url)
    import dataclasses

    for i, size in enumerate((60_000, 20_000, 8_000), start=1):
        store.add(
            runs.new_row(
                dataset="digits", arch="lenet5", baseline_hash="h", technique="magnitude-prune", recipe=[],
                measurement=dataclasses.replace(m, size_artifact_bytes=size, top1=0.9 - i / 100),
                tags=["pipeline:p1", f"stage:{i}/3"],
            )
        )  # fmt: skip
    at = open_compare()
    assert not at.exception, at.exception
    arrows = [a for a in chart_spec(at)["layout"].get("annotations", []) if a.get("axref") == "x"]
    assert [(a["ax"], a["x"]) for a in arrows] == [(60_000, 20_000), (20_000, 8_000)]
