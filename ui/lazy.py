"""Content that runs only when it is shown.

A new visitor's browser draws every element a page sends before it paints the first chart, hidden
ones included: a closed expander's formulas (KaTeX) and a hidden tab's charts (Plotly) delay the main
chart by up to a second on a 2-core machine (bench/results/first_chart.md). Streamlit's stateful
expanders and tabs (`on_change="rerun"`) report whether they are open, so their content can be skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import streamlit as st

from ui import state


@contextmanager
def expander(label: str, key: str) -> Iterator[bool]:
    """A closed expander; yields whether it is open (its content should be written only then)."""
    with st.expander(label, expanded=False, on_change="rerun", key=key) as box:
        yield bool(box.open)


VIEW = "view"  # the URL parameter of a page's chart tabs: a link (a lesson's step) opens the right one


def tabs(labels: Sequence[str], key: str = VIEW) -> list[tuple[Any, bool]]:
    """Tabs, and whether each is the selected one: write a tab's content only when it is. The URL
    parameter `key` names the open tab (a label; the first tab drops it, a wrong one is ignored).

    Not Streamlit's `bind="query-params"`: a bound tab kept the tab of an earlier visit to the page
    over the one a later link (a lesson's next step) asked for. The default is part of the tabs' identity:
    it follows the URL only when a link changed it, not when this page wrote the tab just clicked into the
    URL (a new identity would drop the next click)."""
    wanted = st.query_params.get(key)
    wanted = wanted if wanted in labels else None
    group = f"{key}:{'|'.join(labels)}"  # one page's tabs: another page's never change this one's default
    written, default, drawn = (f"_tabs_{what}:{group}" for what in ("written", "default", "drawn"))
    run = st.session_state.get(state.RUN, 0)
    alive = st.session_state.get(drawn) == run - 1  # drawn in the run before: Streamlit kept its state
    if not alive or wanted != st.session_state.get(written):
        st.session_state[default] = wanted  # a new visit, or a link's choice
    st.session_state[drawn] = run
    made = st.tabs(list(labels), default=st.session_state[default], on_change="rerun", key=key)
    opened = [bool(tab.open) for tab in made]
    chosen = labels[opened.index(True)] if True in opened else labels[0]
    st.session_state[written] = None if chosen == labels[0] else chosen
    state.write_url({key: st.session_state[written]})
    return list(zip(made, opened, strict=True))
