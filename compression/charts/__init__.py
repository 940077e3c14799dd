"""Pure Plotly figure builders: DataFrames and arrays in, go.Figure out; no streamlit import."""
