"""Compression Lab's server: app.py under Streamlit's st.App, with one HTTP addition (ui.early_plotly).

`streamlit run serve.py` serves the app as `streamlit run app.py` does, and on the links whose first screen is a
Plotly chart the browser starts Plotly's JavaScript with the page. scripts/start.sh runs it through ui.warmup.
"""

import streamlit as st
from starlette.middleware import Middleware

from ui.early_plotly import EarlyPlotly

app = st.App("app.py", middleware=[Middleware(EarlyPlotly)])
