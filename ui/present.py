"""The lab stage and presenter mode (`?present=1`, a lab on a 1280x720 projector).

Every lab asks `stage()` for two slots: its main controls go in the left one and its main chart in the
right one, so a user moves the slider and watches the chart on the first screen (on a phone-wide window
Streamlit stacks them). Presenter mode adds the projector's styling: the sidebar starts collapsed, the
page's padding and title shrink, the Plotly toolbar is hidden (it overprinted titles), and every chart is
drawn with fonts and markers 1.5x larger.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
import streamlit as st

from compression.charts.style import presented

_BASE_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; padding-left: 2.5rem; padding-right: 2.5rem; }
</style>
"""  # Streamlit's 6rem above the title and 5rem at the sides squeezed the stage's chart for nothing
_CSS = """
<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.6rem; padding-left: 1.5rem; padding-right: 1.5rem; }
[data-testid="stMainBlockContainer"] h1 { font-size: 1.7rem; padding: 0 0 0.2rem 0; }
.modebar-container { display: none !important; }
</style>
"""


def active() -> bool:
    return st.query_params.get("present") == "1"


def _flipped() -> None:
    st.query_params["present"] = "1" if st.session_state["present"] else "0"


def toggle() -> None:
    """The sidebar switch. The URL holds the mode, so a link opens in it: every page draws its own switch
    (a new widget that would start off, and then turn the mode off, after a link from a page in presenter
    mode), set from the link on every run; flipping it writes the link before the page runs."""
    st.session_state["present"] = active()
    on = st.sidebar.toggle(
        "Presenter mode",
        key="present",
        on_change=_flipped,
        help="For a projector: bigger charts and fonts, the sidebar folded, no chart toolbar.",
    )
    st.html(_CSS if on else _BASE_CSS)


def stage() -> tuple[Any, Any]:
    """(controls, chart) slots, side by side: the main controls left, the main chart right."""
    left, right = st.columns([2, 3], gap="medium")
    return left, right


def metric_grid(controls: Any, n: int) -> list[Any]:
    """`n` metric slots under the stage's controls, beside the chart: two a row, so a number and its delta
    fit a 1280-px window with the sidebar open."""
    return [slot for k in range(0, n, 2) for slot in controls.columns(2)][:n]


def plotly(where: Any, fig: go.Figure, **kwargs: Any) -> Any:
    """`where.plotly_chart(fig, ...)`, enlarged for the projector in presenter mode."""
    return where.plotly_chart(presented(fig) if active() else fig, **kwargs)
