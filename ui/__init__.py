"""Streamlit helpers shared by the pages (the engine in compression/ never imports streamlit)."""
