"""Compression Lab: the router. Page config, navigation over pages/; pages draw the sidebar."""

import streamlit as st

st.set_page_config(page_title="Compression Lab", page_icon=":material/compress:", layout="wide")

PAGES = [
    st.Page("pages/model.py", title="Model", icon=":material/memory:", url_path="model", default=True),
    st.Page("pages/compare.py", title="Compare (Pareto)", icon=":material/scatter_plot:", url_path="compare"),
    st.Page("pages/prune.py", title="Pruning lab", icon=":material/content_cut:", url_path="prune"),
    st.Page("pages/quantize.py", title="Quantization lab", icon=":material/grid_on:", url_path="quantize"),
]

st.navigation([p for p in PAGES if __import__("pathlib").Path(p._page).exists()]).run()
