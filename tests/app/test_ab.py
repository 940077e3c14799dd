"""AppTest of the A/B view on the Pruning and Quantization labs: one link opens both settings, moving
B's control changes B's numbers and not A's (and does not recompute A), the deltas table judges each
metric in its own sense, bad or hostile `b_` values are named once and corrected, and the switch off
drops B from the link."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import torch
from streamlit.testing.v1 import AppTest

from compression import fmt, metrics
from tests.app.pages import open_page

torch.set_num_threads(1)  # AppTest runs the page in this process

pytestmark = pytest.mark.usefixtures("isolated")


def sides(at: AppTest, label: str) -> tuple[str, str]:
    """The card `label` of setting A and of setting B (A's column is drawn first)."""
    a, b = (m.value for m in at.metric if m.label == label)
    return a, b


def deltas(at: AppTest) -> dict[str, dict[str, str]]:
    table = at.table[0].value
    return {row["metric"]: dict(row) for _, row in table.iterrows()}


def changed(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**What changed:**"))


def qp(at: AppTest, key: str) -> str:
    v = at.query_params[key]
    return v if isinstance(v, str) else v[-1]


def counting_measure(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count real measure() calls (each is a computed side: a cache hit does not call it)."""
    calls: list[int] = []
    real: Callable[..., Any] = metrics.measure

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "measure", counted)
    return calls


def test_pruning_b_slider_moves_b_only_and_the_deltas_judge_it(monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_page("prune", amount="0.30", ab="1", b_amount="0.30")
    assert at.slider(key="ab_b_amount").value == pytest.approx(0.30)
    assert changed(at).endswith("nothing yet: B has the same settings as A. Move one of B's controls.")
    assert len(at.get("plotly_chart")) >= 4  # A's and B's main charts, A's and B's weight charts
    a_chart = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]  # short titles for a half column
    assert (
        a_chart["title"]["text"].startswith("A: size")
        and a_chart["annotations"][1]["text"] == "pruned / dense"
    )
    acc_a, acc_b = sides(at, "Top-1 accuracy")
    size_a, size_b = sides(at, "Measured size (file)")
    assert (acc_a, size_a) == (acc_b, size_b)
    calls = counting_measure(monkeypatch)

    at.slider(key="ab_b_amount").set_value(0.95).run()
    assert not at.exception, at.exception
    assert len(calls) == 1  # B's preview only: A came from the cache
    assert sides(at, "Top-1 accuracy")[0] == acc_a and sides(at, "Measured size (file)")[0] == size_a
    assert sides(at, "Top-1 accuracy")[1] != acc_b and sides(at, "Measured size (file)")[1] != size_b
    assert qp(at, "b_amount") == "0.95" and qp(at, "amount") == "0.30"
    rows = deltas(at)
    assert (
        rows["Measured size (file)"]["verdict"] == "B better"
        and rows["Measured size (file)"]["B - A"][0] == "-"
    )
    assert rows["Top-1 accuracy"]["verdict"] == "B worse" and rows["Top-1 accuracy"]["B - A"].startswith("-")
    assert rows["MACs / image"]["verdict"] == "same"  # masked: the zeros still run
    assert rows["Speed-up, batch 256"]["verdict"] == "not measured"
    assert "Prune rate: 0\\.30 → 0\\.95" in changed(at) and "Method" not in changed(at)

    at.radio(key="ab_weights").set_value("before").run()
    assert qp(at, "abw") == "before"
    at.toggle(key="ab_on").set_value(False).run()  # off: B leaves the link, the page is the plain lab
    assert not any(k.startswith("b_") or k in ("ab", "abw") for k in at.query_params)
    assert not at.table and "Weights gone" in {m.label for m in at.metric}


def test_bad_and_hostile_b_values_are_named_once_and_corrected() -> None:
    at = open_page("prune", amount="0.5", ab="1", b_amount="7", b_method="[x](https://e.example)")
    warnings = [w.value for w in at.warning]
    assert sum("b_amount=7" in w for w in warnings) == 1, warnings
    hostile = [w for w in warnings if "b_method=" in w]
    assert len(hostile) == 1 and fmt.md("[x](https://e.example)") in hostile[0]  # escaped: shows as typed
    assert "](https://" not in hostile[0]  # no live Markdown link
    assert qp(at, "b_amount") == "0.99" and qp(at, "b_method") == "magnitude"
    assert at.slider(key="ab_b_amount").value == pytest.approx(0.99)
    assert at.slider(key="p_amount").value == pytest.approx(0.5)  # A untouched by B's bad values
    at.run()
    assert not [w.value for w in at.warning if "in the link" in w.value]  # corrected: not named again
    at.switch_page("views/model.py").run()  # another page: B's parameters leave the link like A's
    assert not any(k.startswith("b_") or k in ("ab", "abw", "amount") for k in at.query_params)


def test_quantization_b_bits_moves_b_only() -> None:
    at = open_page("quantize", bits="8", ab="1", b_bits="eight")
    assert sum("b_bits=eight" in w.value for w in at.warning) == 1
    assert at.select_slider(key="ab_b_bits").value == 8  # B starts as a copy of A
    bits_a, _ = sides(at, "Effective bits per weight")
    acc_a, _ = sides(at, "Top-1 accuracy")
    at.select_slider(key="ab_b_bits").set_value(2).run()
    assert not at.exception, at.exception
    assert sides(at, "Effective bits per weight")[0] == bits_a and sides(at, "Top-1 accuracy")[0] == acc_a
    assert float(sides(at, "Effective bits per weight")[1]) < float(bits_a)
    rows = deltas(at)
    assert rows["Effective bits per weight"]["verdict"] == "B better" and rows["Effective bits per weight"][
        "B - A"
    ].startswith("-")
    assert rows["Measured size (file)"]["verdict"] == "B better"
    assert "Bits per weight: 8 → 2" in changed(at) and "Scheme" not in changed(at)
    assert qp(at, "b_bits") == "2" and qp(at, "bits") == "8"
    grids = [c.proto.spec for c in at.get("plotly_chart")[:2]]
    assert grids[0] != grids[1] and "levels (8 bits" in grids[0] and "levels (2 bits)" in grids[1]
