"""The URL rules every page follows: a bad value is named once and corrected, a sidebar switch drops
what named the old model, and a page drops other pages' parameters (browser Back carries them)."""

from __future__ import annotations

import itertools

import pytest
from streamlit.runtime.state.query_params import QueryParams
from streamlit.testing.v1 import AppTest

from tests.app.pages import open_page


def qp(at: AppTest, key: str) -> str:
    """A URL parameter as a string (AppTest shows lists for values it was given, strings for new ones)."""
    v = at.query_params[key]
    return v if isinstance(v, str) else v[-1]


def test_switching_the_model_drops_its_layer_without_a_warning(isolated: None) -> None:
    at = open_page("model", layer="classifier.3", view="Weights")
    assert qp(at, "layer") == "classifier.3"
    at.selectbox(key="sb_model").set_value("lenet-300-100").run()
    assert not at.exception
    assert not [w.value for w in at.warning if "layer" in w.value]
    assert qp(at, "layer") == "fc1"


def test_other_pages_parameters_are_dropped(isolated: None) -> None:
    at = open_page("model", amount="0.7", method="magnitude", x="macs", layer="features.0")
    assert "amount" not in at.query_params and "method" not in at.query_params and "x" not in at.query_params
    assert "layer" in at.query_params and "dataset" in at.query_params


@pytest.mark.parametrize(
    "page", ["prune", "quantize", "distill", "lowrank", "search", "darts", "pipeline", "compare", "lessons"]
)
def test_every_page_drops_a_parameter_it_does_not_own(isolated: None, page: str) -> None:
    at = open_page(page, amount_of_another_page="0.7")
    assert not at.exception, at.exception
    assert "amount_of_another_page" not in at.query_params and "dataset" in at.query_params


def test_a_bad_link_value_is_named_once_and_corrected(isolated: None) -> None:
    at = open_page("prune", amount="7", method="[x](https://e.example)")
    warnings = [w.value for w in at.warning]
    assert sum("amount=7" in w for w in warnings) == 1 and sum("method=" in w for w in warnings) == 1, (
        warnings,
        [i.value for i in at.info],
        [e.value for e in at.error],
        at.query_params,
    )
    assert float(qp(at, "amount")) <= 0.99
    at.run()
    assert not [w.value for w in at.warning if "in the link" in w.value]  # corrected: not named again


def test_full_measurement_lives_in_the_url_and_survives_a_method_change(isolated: None) -> None:
    at = open_page("prune", amount="0.5", method="magnitude", full="1")
    assert any(m.label == "Latency, batch 256" for m in at.metric)
    at.selectbox(key="p_method").set_value("l1-filter").run()
    assert qp(at, "full") == "1"
    assert any(m.label == "Latency, batch 256" for m in at.metric)


def test_a_run_id_not_in_the_store_is_not_called_hidden(isolated: None) -> None:
    from compression import data, metrics, models, runs

    ds = data.load("digits")
    model = models.build("lenet5", ds.input_shape, ds.num_classes)
    m = metrics.measure(model, ds, latency=False)
    run_id = runs.open_store().add(
        runs.new_row(
            dataset="digits", arch="lenet5", baseline_hash="h", technique="baseline", recipe=[], measurement=m
        )
    )
    at = open_page("compare", sel=f"{run_id},99999")
    captions = " ".join(c.value for c in at.caption)
    assert "No run #99999 in this store" in captions and "hidden by the filters" not in captions


@pytest.mark.parametrize(
    "page", ["prune", "quantize", "distill", "lowrank", "search", "darts", "pipeline", "model"]
)
def test_a_page_writes_its_link_in_one_change(
    isolated: None, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    """Each change of the query string is a browser history entry: a page that wrote its parameters one by
    one took a dozen Back presses to leave. Opened from a link naming only dataset and model, a page fills
    in its parameters with one change."""
    sent: list[str] = []
    original = QueryParams._send_query_param_msg

    def counted(self: QueryParams) -> None:
        sent.append(str(self))
        original(self)

    monkeypatch.setattr(QueryParams, "_send_query_param_msg", counted)
    at = open_page(
        page, **({"view": "Weights"} if page == "model" else {})
    )  # the tab with the model's controls
    changes = sum(a != b for a, b in itertools.pairwise(sent))  # the first may re-send the opened link
    assert len(sent) <= 2 and changes <= 1, sent
    assert len(at.query_params) > 2  # more than dataset and model


def test_write_url_sets_and_drops_in_one_change(isolated: None) -> None:
    def script() -> None:
        import streamlit as st

        from ui import state

        st.query_params.from_dict({"a": "1", "b": "2"})
        state.write_url({"a": "1", "b": None, "c": "3"})
        st.session_state["after"] = st.query_params.to_dict()

    at = AppTest.from_function(script).run()
    assert not at.exception
    assert at.session_state["after"] == {"a": "1", "c": "3"}


def test_presenter_mode_follows_the_link_on_every_page_and_the_switch_writes_it(isolated: None) -> None:
    at = open_page("lessons", present="1")
    assert at.toggle(key="present").value is True
    at.switch_page("views/prune.py")  # each page draws its own switch: it must not start off
    at.run()
    assert at.toggle(key="present").value is True and qp(at, "present") == "1"
    at.toggle(key="present").set_value(False).run()
    assert qp(at, "present") == "0" and at.toggle(key="present").value is False
    at.toggle(key="present").set_value(True).run()
    assert qp(at, "present") == "1"


def test_a_huge_link_value_is_quoted_short(isolated: None) -> None:
    """A 100,000-character value came back as a 100,073-character warning."""
    at = open_page("prune", amount="9" * 100_000, method="m" * 100_000, exclude="x" * 100_000)
    model = open_page("model", weights="A" * 100_000)
    # the link's warnings only: a busy machine adds the Model page's "overloaded" note about its latency
    warnings = [w.value for w in [*at.warning, *model.warning] if "overloaded" not in w.value]
    assert len(warnings) == 4, warnings
    assert all(len(w) < 600 and "characters" in w for w in warnings), warnings


def test_unknown_per_layer_bits_are_named_not_dropped_silently(isolated: None) -> None:
    at = open_page("quantize", lb="<script>=8;features.0=99;features.0=4")
    said = [w.value for w in at.warning if "per-layer bits" in w.value]
    assert len(said) == 1 and "\\<script\\>=8" in said[0] and "features\\.0=99" in said[0], said
    assert qp(at, "lb") == "features.0=4"  # the good entry kept, the link corrected
    at.run()
    assert not [w.value for w in at.warning if "per-layer bits" in w.value]  # named once


def test_a_focus_link_takes_only_a_charts_key_and_is_used_once(isolated: None) -> None:
    """`focus` goes into a CSS selector in the page's script: only the labs' chart keys pass."""
    at = open_page("prune", focus="p_hist'],body{x:1}<script>")
    said = [w.value for w in at.warning if "focus" in w.value]
    assert len(said) == 1 and "Ignoring" in said[0], said
    assert "focus" not in at.query_params
    assert not any("st-key-p_hist'" in h.proto.body for h in at.get("html"))
    at = open_page("prune", focus="p_hist")
    assert any(".st-key-p_hist .js-plotly-plot" in h.proto.body for h in at.get("html"))
    assert "focus" not in at.query_params and not [w for w in at.warning if "focus" in w.value]
