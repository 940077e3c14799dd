"""Presenter mode (`?present=1`): a lab on a 1280x720 projector, its main slider beside its main chart.

The sidebar starts collapsed, the page's top padding and title shrink, the Plotly toolbar is hidden
(it overprinted titles), and every chart is drawn with fonts and markers 1.5x larger. A page asks
`stage()` for two slots: its main controls go in the left one and its main chart in the right one,
so both are above the fold; outside presenter mode the slots are plain containers in page order.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from compression.charts.style import presented

_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; padding-left: 1.5rem; padding-right: 1.5rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.7rem; padding: 0 0 0.2rem 0; }
.modebar-container { display: none !important; }
</style>
"""


def active() -> bool:
    return st.query_params.get("present") == "1"


def toggle() -> None:
    """The sidebar switch (URL-backed, so a link opens in presenter mode)."""
    if "present" not in st.session_state:
        st.session_state["present"] = active()
    on = st.sidebar.toggle(
        "Presenter mode", key="present", help="For a projector: bigger charts, main slider beside its chart."
    )
    if on != active():
        st.query_params["present"] = "1" if on else "0"
        st.rerun()
    if on:
        st.html(_CSS)


def stage() -> tuple[Any, Any]:
    """(controls, chart) slots: side by side in presenter mode, else two containers in page order."""
    if active():
        left, right = st.columns([2, 3], gap="medium")
        return left, right
    return st.container(), st.container()


def metric_grid(controls: Any, n: int) -> list[Any]:
    """`n` metric slots: a row across the page, or in presenter mode a compact grid under the controls."""
    if not active():
        return list(st.columns(n))
    half = (n + 1) // 2
    return [*controls.columns(half), *controls.columns(n - half)]


def plotly(where: Any, fig: go.Figure, **kwargs: Any) -> Any:
    """`where.plotly_chart(fig, ...)`, enlarged for the projector in presenter mode."""
    return where.plotly_chart(presented(fig) if active() else fig, **kwargs)
