"""The numbers every page shares: one baseline measurement, and paired speed shown one way.

The Model page, the labs and the Compare page read the same baseline measurement for the same
(dataset, weights, measurement threads). A candidate's speed is its paired ratio against that
baseline (timed interleaved, compression.latency), shown with its spread, the CPU and the threads;
a noisy pairing says so and offers a re-measure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from compression import fmt, latency, metrics
from ui import sidebar


@st.cache_data(show_spinner="Measuring the baseline: accuracy, size, MACs, paired latency...", max_entries=32)
def _baseline(weights_hash: str, dataset: str, threads: int, _ctx: sidebar.Context) -> metrics.Measurement:
    return metrics.measure(_ctx.model, _ctx.ds)


def baseline(ctx: sidebar.Context) -> metrics.Measurement:
    """The one baseline measurement of this (dataset, weights, threads), cached for every page."""
    return _baseline(ctx.weights_hash, ctx.choice.dataset, latency.measurement_threads(), ctx)


def remeasure_baseline() -> None:
    _baseline.clear()


def points_delta(change: float, against: str = "") -> dict[str, Any]:
    """`st.metric` delta arguments for a top-1 change (a fraction) in points: grey and without an arrow
    when it rounds to zero (Streamlit would draw '+0.00 pts' green with an up arrow)."""
    text = f"{100 * change:+.2f} pts" + (f" vs {against}" if against else "")
    return {
        "delta": text,
        **({"delta_arrow": "off", "delta_color": "off"} if round(100 * change, 2) == 0 else {}),
    }


def speed_help(m: metrics.Measurement) -> str:
    return (
        f"Paired: the baseline and this model timed interleaved (A, B, B, A, ...) in one process with "
        f"{m.threads} thread(s); the speed-up is the median of the per-round ratios, IQR in brackets. "
        f"CPU: {m.cpu or 'not recorded'}."
    )


def ratio_delta(ratio: float, text: str, lower_is_better: bool = True) -> dict[str, Any]:
    """`st.metric` delta arguments for a ratio: the arrow follows the number (down below 1), the colour
    follows the meaning (green when better). Streamlit would otherwise draw 0.28x with an up arrow."""
    better = ratio < 1 if lower_is_better else ratio > 1
    same = abs(ratio - 1) < 5e-3
    return {
        "delta": text,
        "delta_arrow": "off" if same else ("down" if ratio < 1 else "up"),
        "delta_color": "off"
        if same
        else ("normal" if better else "inverse"),  # a positive text: normal = green
    }


def speed_card(col: Any, m: metrics.Measurement, batch: int = 256, label: str | None = None) -> None:
    """A metric card: this model's latency at `batch` and its paired speed-up over the baseline."""
    value = getattr(m, f"latency_b{batch}_ms")
    ratio = getattr(m, f"speedup_b{batch}")
    delta: dict[str, Any] = {}
    if ratio is not None:
        text = f"{fmt.speedup(ratio)} speed vs baseline{' (noisy)' if m.latency_noisy else ''}"
        delta = ratio_delta(ratio, text, lower_is_better=False)
    col.metric(label or f"Latency, batch {batch}", fmt.ms(value), help=speed_help(m), **delta)


def speed_caption(m: metrics.Measurement) -> str:
    """One line: both batch sizes' paired speed-ups with spread, the baseline's paired times, the CPU."""
    if m.speedup_b256 is None:
        return "Latency not measured."
    parts = [
        f"b{b}: {fmt.ms(getattr(m, f'latency_b{b}_ms'))} vs baseline "
        f"{fmt.ms(getattr(m, f'baseline_latency_b{b}_ms'))} = "
        f"{fmt.speedup(getattr(m, f'speedup_b{b}'), getattr(m, f'speedup_b{b}_lo'), getattr(m, f'speedup_b{b}_hi'))}"
        for b in (1, 256)
    ]
    return " · ".join(parts) + f" · paired, {m.threads} thread(s), {m.cpu}"


def noisy_notice(m: metrics.Measurement, remeasure: Callable[[], None], key: str) -> None:
    """Say so when a paired timing was noisy, and offer to time it again."""
    if not m.latency_noisy:
        return
    c1, c2 = st.columns([4, 1])
    c1.warning(
        "Noisy measurement: the timed rounds spread more than 10% (robust coefficient of variation) or the "
        f"machine was overloaded (load average above its {latency.cpu_info().cores} cores, e.g. another job "
        "running). Re-measure before acting on these latencies."
    )
    if c2.button("Re-measure", key=key):
        remeasure()
        st.rerun()
