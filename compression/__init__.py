"""Compression Lab's engine: no streamlit import anywhere below this package."""
