"""The recorded benchmark results a page cites, readable in the app.

A page's text names `bench/results/*.md` for the numbers it quotes; a browser user (a review meeting,
a lecture's audience) cannot open a file of the server's. This expander shows them, with their machine
and conditions, rendered only when opened (`lazy`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from ui import lazy

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
_HEADING = re.compile(r"^(#{1,4}) ", flags=re.MULTILINE)


def as_section(text: str) -> str:
    """A results file's Markdown one level below the page's subheadings: its title an h4, not an h1."""
    return _HEADING.sub(lambda m: "#" * min(6, len(m.group(1)) + 3) + " ", text)


def recorded(files: Sequence[str], key: str) -> None:
    """A closed expander holding `bench/results/<file>` for each file, as recorded."""
    with lazy.expander(f"Recorded measurements behind this page ({', '.join(files)})", key=key) as shown:
        if not shown:
            return
        st.caption(
            "Written by `python -m bench.<name>` on this project's machines (the machine, its load and the "
            "conditions are in each file), or by hand where a file says so. Not re-measured on this server."
        )
        for name in files:
            try:
                text = (RESULTS / name).read_text(encoding="utf-8")
            except OSError:
                st.caption(f"bench/results/{name} is not part of this installation.")
                continue
            st.markdown(as_section(text))
