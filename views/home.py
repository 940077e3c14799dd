"""Home: what the app is for, the active baseline in one line, and where to go next."""

from __future__ import annotations

import streamlit as st

from compression import data, metrics, models
from ui import sidebar

ctx = sidebar.render()


@st.cache_data(show_spinner=False, max_entries=32)
def top1(weights_hash: str, dataset: str, _ctx: sidebar.Context) -> float:
    return metrics.evaluate(_ctx.model, _ctx.ds.x_test, _ctx.ds.y_test)[0]


st.title("Compression Lab")
st.markdown(
    "Make a neural network **smaller and faster** and see, for every choice, what it costs in accuracy "
    "and what it really buys: each number is measured on a real file written to disk and a real timed run, "
    "shown next to what the compression promises in theory, with the reason for any gap."
)
spec = models.MODELS[ctx.choice.model]
st.info(
    f"Working on **{spec.title}** trained on **{data.DATASETS[ctx.choice.dataset].title}**: "
    f"{top1(ctx.weights_hash, ctx.choice.dataset, ctx):.2%} top-1 on the test split "
    f"({ctx.source}). Change dataset and model in the sidebar; every page follows, and the URL keeps the choice."
)
params = dict(st.query_params)
cols = st.columns(2)
CARDS = [  # every page of the navigation but this one, in its order
    (
        "views/model.py",
        "Model",
        "Accuracy, size, MACs and latency of the baseline; layers, histograms, confusion.",
    ),
    (
        "views/prune.py",
        "Pruning lab",
        "Remove weights or whole channels; watch accuracy, size and speed move.",
    ),
    (
        "views/quantize.py",
        "Quantization lab",
        "Store weights in fewer bits: linear, k-means, binary, real INT8.",
    ),
    (
        "views/distill.py",
        "Distillation lab",
        "Train a smaller student on the teacher's softened outputs; move T.",
    ),
    (
        "views/search.py",
        "Search lab",
        "Search a per-layer compression policy or an architecture with Optuna.",
    ),
    (
        "views/darts.py",
        "DARTS lab",
        "Watch a differentiable architecture search pick its cell, collapse and cure.",
    ),
    ("views/lowrank.py", "Low-rank lab", "Factorise a layer (SVD, Tucker-2, CP) and see rank against speed."),
    (
        "views/pipeline.py",
        "Pipeline",
        "Chain techniques (Deep Compression) and see each stage's real file size.",
    ),
    (
        "views/compare.py",
        "Compare (Pareto)",
        "Every recorded run on one accuracy-versus-cost front; export a report.",
    ),
    ("views/lessons.py", "Lessons", "Guided steps through the labs, numbers checked live."),
]
for i, (path, title, text) in enumerate(CARDS):
    with cols[i % 2].container(border=True):
        st.page_link(path, label=f"**{title}**", query_params=params)
        st.caption(text)
