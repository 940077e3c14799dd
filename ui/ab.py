"""A/B view (`?ab=1`): two settings of one lab side by side, the differences highlighted.

A lab declares its main controls once as knobs. With the sidebar's A/B switch on, the page's own
controls are setting A (left) and `b_controls` draws a copy of the knobs for setting B (right),
seeded from `b_<param>` in the URL and validated by the same ui/state readers as A's (a bad value is
named once and corrected), so one link opens both. Both sides are computed by the lab's own cached
helpers, so moving B's slider does not recompute A. `show` draws the A-vs-B table (B - A judged in
each metric's sense, and only the controls that differ), then the same headline cards and main chart
for each side, then a before / after toggle over each side's weight histogram on shared bins.

Adopting it in a lab: `ab.params(...)` in keep_only, `lay = ab.columns() if ab.toggle(...) else None`,
A's main controls into `ab.grid(lay.a, n)`, `ab.b_controls(lay.b, KNOBS, a_values)`, and `ab.show(...)`
with each side's cached result in place of the page's metric row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from torch import nn

from compression import fmt
from compression.charts import ab as charts
from compression.metrics import Measurement
from ui import measured, present, sidebar, state

PARAM, VIEW, PREFIX = "ab", "abw", "b_"
WEIGHT_VIEWS = {"after": "after", "before": "before", "both": "before and after"}


@dataclass(frozen=True)
class Knob:
    """A main control of a lab: its URL parameter (A's; B's is b_<param>), label and allowed values."""

    param: str
    label: str
    options: tuple[Any, ...] = ()  # choices (select) or levels (select slider)
    title: Callable[[Any], str] = str  # how a value is shown in the widget and in "what changed"
    help: str | None = None

    def read(self, key: str, default: Any) -> Any:
        """The value in the URL under `key`, validated (named once and corrected when bad)."""
        return state.url_choice(key, str(default), [str(o) for o in self.options])

    def url(self, value: Any) -> str:
        return str(value)

    def draw(self, where: Any, key: str) -> Any:
        if st.session_state.get(key) not in self.options:
            st.session_state.pop(key, None)  # e.g. a method the new model does not offer
        return where.selectbox(self.label, self.options, key=key, format_func=self.title, help=self.help)


@dataclass(frozen=True)
class FloatKnob(Knob):
    title: Callable[[Any], str] = lambda v: f"{v:.2f}"
    lo: float = 0.0
    hi: float = 1.0
    step: float = 0.01

    def read(self, key: str, default: Any) -> Any:
        return round(state.url_float(key, float(default), self.lo, self.hi), 2)

    def url(self, value: Any) -> str:
        return f"{value:.2f}"

    def draw(self, where: Any, key: str) -> Any:
        return where.slider(self.label, self.lo, self.hi, step=self.step, key=key, help=self.help)


@dataclass(frozen=True)
class LevelKnob(Knob):
    """Integer levels (e.g. bit widths): the URL value snaps to the nearest level."""

    def read(self, key: str, default: Any) -> Any:
        raw = state.url_int(key, int(default), min(self.options), max(self.options))
        return min(self.options, key=lambda o: abs(o - raw))

    def draw(self, where: Any, key: str) -> Any:
        return where.select_slider(self.label, self.options, key=key, help=self.help)


@dataclass(frozen=True)
class FlagKnob(Knob):
    options: tuple[Any, ...] = field(default=(False, True))
    title: Callable[[Any], str] = lambda v: "on" if v else "off"

    def read(self, key: str, default: Any) -> Any:
        return state.url_choice(key, "1" if default else "0", ["0", "1"]) == "1"

    def url(self, value: Any) -> str:
        return "1" if value else "0"

    def draw(self, where: Any, key: str) -> Any:
        return where.toggle(self.label, key=key, help=self.help)


def params(*main: str) -> tuple[str, ...]:
    """The URL parameters the A/B view adds to a page whose knobs are `main` (for state.keep_only)."""
    return (PARAM, VIEW, *(PREFIX + p for p in main))


def toggle(*main: str) -> bool:
    """The sidebar switch (URL-backed). Off: B's parameters and widget states are dropped."""
    state.seed("ab_on", state.url_choice(PARAM, "0", ["0", "1"]) == "1")
    on = st.sidebar.toggle(
        "A/B view", key="ab_on", help="Two settings of this lab side by side, with their differences."
    )
    if on:
        state.write_url({PARAM: "1"})
    else:  # off: the plain lab's link, with nothing of B
        state.write_url(dict.fromkeys(params(*main)))
        for p in main:
            st.session_state.pop(f"ab_b_{p}", None)
    return on


@dataclass(frozen=True)
class Layout:
    """Where the two sides go: main controls on top, then (after the page's shared controls) results."""

    a: Any
    b: Any


def columns() -> Layout:
    """The two control columns, headed A and B; the page draws A's main controls into `a`."""
    a, b = st.columns(2, gap="large")
    a.markdown("#### A: this page's setting")
    b.markdown("#### B: the setting to compare")
    return Layout(a, b)


def grid(where: Any, n: int) -> list[Any]:
    """`n` control slots in rows of two: the same compact layout for A's controls and for B's."""
    return [slot for _ in range(0, n, 2) for slot in where.columns(2)][:n]


def shared() -> Any:
    """A folded box for the page's other controls: they apply to both settings, so they stay out of the way."""
    return st.expander("Settings shared by A and B (the page's other controls)", expanded=False)


def b_controls(where: Any, knobs: Sequence[Knob], a_values: Mapping[str, Any]) -> dict[str, Any]:
    """Draw B's copy of the knobs (first time: from the URL, else A's values) and keep B in the URL."""
    values = {}
    for k, slot in zip(knobs, grid(where, len(knobs)), strict=True):
        key = f"ab_b_{k.param}"
        state.seed(key, k.read(PREFIX + k.param, a_values[k.param]))
        values[k.param] = k.draw(slot, key)
    state.write_url({PREFIX + k.param: k.url(values[k.param]) for k in knobs})
    return values


def shown(knobs: Sequence[Knob], values: Mapping[str, Any]) -> dict[str, str]:
    return {k.param: k.title(values[k.param]) for k in knobs}


def cards(where: Any, base: Measurement, m: Measurement, metrics: Sequence[charts.Metric]) -> None:
    """The headline numbers of one side, each against the same baseline (paired speed when timed)."""
    slots = [*where.columns(3), *where.columns(max(1, len(metrics) - 3))]
    for slot, metric in zip(slots, metrics, strict=False):
        v, vb = charts.value(m, metric), charts.value(base, metric)
        if metric is charts.SPEED:  # paired with the baseline: the ratio is the number
            if v is None:
                slot.metric(metric.label, "—", help="Not timed: turn on the page's latency measurement.")
            else:
                noisy = "noisy: re-measure" if m.latency_noisy else None
                slot.metric(
                    metric.label, metric.text(v), noisy, delta_color="off", help=measured.speed_help(m)
                )
            continue
        assert v is not None and vb is not None
        if metric is charts.ACCURACY:
            slot.metric(metric.label, metric.text(v), **measured.points_delta(v - vb))
        elif metric.higher_is_better is None:
            slot.metric(metric.label, metric.text(v))
        else:
            ratio = v / max(vb, 1e-12)
            slot.metric(
                metric.label,
                metric.text(v),
                **measured.ratio_delta(ratio, f"{ratio:.2f}x", not metric.higher_is_better),
            )


@dataclass(frozen=True)
class Side:
    """One setting's result: its model, numbers and main chart; `key` names its config for caches."""

    key: str
    model: nn.Module
    m: Measurement
    fig: go.Figure | None  # None: the lab has no main chart for this setting (say why in `note`)
    note: str = ""  # shown under the cards
    title: str = ""  # a short chart title for a half-width column (long ones are cut off)
    subtitles: tuple[str, ...] = ()  # short subplot titles, likewise


def titled(fig: go.Figure, title: str, subtitles: Sequence[str] = ()) -> go.Figure:
    """A copy of `fig` (shared: never mutated) with a short title and subplot titles for a half-width column;
    unvalidated, ~10x cheaper than a checked copy."""
    if not title and not subtitles:
        return fig
    out = fig.to_dict()
    if title:
        out["layout"]["title"] = {**out["layout"].get("title", {}), "text": title}
    for note, text in zip(out["layout"].get("annotations", []), subtitles, strict=False):
        note["text"] = text  # make_subplots puts the subplot titles first
    return go.Figure(out, _validate=False)


@dataclass(frozen=True)
class Lab:
    """What the A/B view needs to know about the page: its knobs, baseline and how to word things."""

    knobs: Sequence[Knob]
    ctx: sidebar.Context  # the baseline model, its weights hash and dataset
    base: Measurement  # the one lineage baseline both sides are measured against
    chart_caption: str  # what the main chart shows and how to read it
    scope_note: str  # on which images / with which timing both sides were measured
    technique: str  # "pruning", "quantization": what happens to the weights
    metrics: Sequence[charts.Metric] = charts.HEADLINE
    remeasure: Callable[[], None] | None = None  # clears the lab's timed cache (offered on a noisy timing)


def show(lab: Lab, a_values: Mapping[str, Any], b_values: Mapping[str, Any], a: Side, b: Side | str) -> None:
    """The differences (A-vs-B table, what changed), both sides' cards and main charts in two columns, then
    the weight charts. `b` is a message instead when setting B has no instant result (e.g. it needs a job)."""
    top = st.container()  # the differences first: what a review meeting looks at
    cols = st.columns(2, gap="large")
    for col, name, s in zip(cols, "AB", (a, b), strict=True):
        with col:
            st.markdown(f"**Setting {name}** · deltas against the baseline")
            if isinstance(s, str):
                st.warning(s)
                continue
            cards(st, lab.base, s.m, lab.metrics)
            if s.note:
                st.caption(s.note)
            if lab.remeasure is not None:
                measured.noisy_notice(s.m, lab.remeasure, key=f"ab_remeasure_{name}")
            if s.fig is not None:
                present.plotly(
                    st,
                    titled(s.fig, f"{name}: {s.title}" if s.title else "", s.subtitles),
                    key=f"ab_chart_{name}",
                )
                st.caption(f"Setting {name}: {lab.chart_caption}")
    if not isinstance(b, str):
        a_shown, b_shown = shown(lab.knobs, a_values), shown(lab.knobs, b_values)
        with top:
            labels = {k.param: k.label for k in lab.knobs}
            differences(a.m, b.m, lab.metrics, labels, a_shown, b_shown, lab.scope_note)
        weights(lab, [("A", a.key, a.model), ("B", b.key, b.model)])
    st.subheader("Setting A in detail")


def differences(
    a: Measurement,
    b: Measurement,
    metrics: Sequence[charts.Metric],
    labels: Mapping[str, str],
    a_shown: Mapping[str, str],
    b_shown: Mapping[str, str],
    note: str,
) -> None:
    """The "A vs B" table (B - A, verdict in words and colour) and only the controls that changed."""
    st.markdown("#### A vs B")
    rows = charts.delta_rows(a, b, metrics)
    table = pd.DataFrame(rows).style.map(charts.verdict_colour, subset=["verdict"])
    st.table(table, hide_index=True)  # static: readable on a projector and in a printed page
    st.caption(
        "B - A per metric; the verdict follows each metric's sense (higher accuracy and speed-up are better, "
        f"smaller sizes and fewer MACs are better). {note}"
    )
    diff = charts.changed(labels, a_shown, b_shown)
    if diff:
        st.markdown(
            "**What changed:** "
            + "; ".join(f"{fmt.md(r['control'])}: {fmt.md(r['A'])} → {fmt.md(r['B'])}" for r in diff)
        )
    else:
        st.markdown("**What changed:** nothing yet: B has the same settings as A. Move one of B's controls.")


@st.cache_data(show_spinner=False, max_entries=64)
def _counts(whash: str, dataset: str, side_key: str, edges_key: str, _model: nn.Module, _edges: Any) -> Any:
    return charts.weight_counts(_model, _edges)


def weights(lab: Lab, sides: Sequence[tuple[str, str, nn.Module]]) -> None:
    """Before / after toggle over each side's weight histogram (bins and y-axis shared by all)."""
    st.markdown("#### Weights before / after")
    state.seed("ab_weights", state.url_choice(VIEW, "after", list(WEIGHT_VIEWS)))
    view = st.radio(
        "Weight charts show",
        list(WEIGHT_VIEWS),
        key="ab_weights",
        horizontal=True,
        format_func=WEIGHT_VIEWS.__getitem__,
    )
    state.write_url({VIEW: view})
    whash, dataset, baseline = lab.ctx.weights_hash, lab.ctx.choice.dataset, lab.ctx.model
    edges = charts.weight_edges(baseline)
    ekey = f"{len(edges)}|{edges[-1]:.9g}"
    before = _counts(whash, dataset, "baseline", ekey, baseline, edges)
    after = {name: _counts(whash, dataset, key, ekey, model, edges) for name, key, model in sides}
    y_max = max(float(d["counts"].max(initial=0)) for d in (before, *after.values()))
    for col, (name, _, _) in zip(st.columns(len(sides)), sides, strict=True):
        shown_counts = {"before": before, "after": after[name]}
        if view != "both":
            shown_counts = {view: shown_counts[view]}
        with col:
            if after[name]["n"] == 0 and view != "before":
                st.caption(
                    f"{name}: no float weights to show (they run as real INT8 or other packed kernels)."
                )
                continue
            title = f"Setting {name}: weights {WEIGHT_VIEWS[view]} {lab.technique}"
            present.plotly(st, charts.plot_weights(edges, shown_counts, title, y_max), key=f"ab_w_{name}")
    st.caption(
        "Every conv/linear weight, log scale, on the same bins and y-axis for A and B: 'before' is the "
        f"baseline's weights (the same for both sides), 'after' the weights after {lab.technique}; a spike at 0 counts "
        "zeros, spikes elsewhere are the levels weights snap to."
    )
