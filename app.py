"""Compression Lab: the router. Page config and navigation over views/; each page draws the sidebar.

The page files live in views/, not pages/: with a folder named pages/ next to this script,
Streamlit's legacy auto-discovery runs a page file without this router on the first request
of a fresh server (a deep link then has no layout, title or navigation).
"""

from pathlib import Path

import streamlit as st

from ui import state

# A local file: a ":material/...:" icon is fetched from fonts.gstatic.com, which an offline lecture hall lacks
ICON = Path(__file__).parent / "assets" / "icon.png"

st.set_page_config(
    page_title="Compression Lab",
    page_icon=str(ICON),
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get("present") == "1" else "auto",  # projector
)

state.one_history_entry_per_page()
state.count_run()
state.focus_chart()  # before the page's keep_only drops the parameter

st.navigation(
    [
        st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("views/model.py", title="Model", icon=":material/memory:", url_path="model"),
        st.Page("views/prune.py", title="Pruning lab", icon=":material/content_cut:", url_path="prune"),
        st.Page(
            "views/quantize.py", title="Quantization lab", icon=":material/grid_on:", url_path="quantize"
        ),
        st.Page("views/distill.py", title="Distillation lab", icon=":material/school:", url_path="distill"),
        st.Page("views/search.py", title="Search lab", icon=":material/travel_explore:", url_path="search"),
        st.Page("views/darts.py", title="DARTS lab", icon=":material/hub:", url_path="darts"),
        st.Page("views/lowrank.py", title="Low-rank lab", icon=":material/view_column:", url_path="lowrank"),
        st.Page("views/pipeline.py", title="Pipeline", icon=":material/account_tree:", url_path="pipeline"),
        st.Page(
            "views/compare.py", title="Compare (Pareto)", icon=":material/scatter_plot:", url_path="compare"
        ),
        st.Page("views/lessons.py", title="Lessons", icon=":material/menu_book:", url_path="lessons"),
    ]
).run()
