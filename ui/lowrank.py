"""The Low-rank lab's blocks: cached per-layer numbers for the rank slider, the speed-vs-rank job,
and the whole-model factorisation job with its measurement and record control."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from compression import lowrank, metrics, techniques
from compression.lowrank import explore
from ui import sidebar

PREVIEW_IMAGES = 1000  # the slider's accuracy: the first 1,000 test images keep a move well under 1 s


@st.cache_data(show_spinner=False, max_entries=64)
def spectrum(weights_hash: str, layer: str, _ctx: sidebar.Context) -> list[float]:
    return lowrank.core.spectrum(_ctx.model.get_submodule(layer).weight).tolist()


@st.cache_data(show_spinner=False, max_entries=256)
def rank_numbers(
    weights_hash: str, dataset: str, layer: str, method: str, rank: int, _ctx: sidebar.Context
) -> dict[str, float]:
    """Layer cost at this rank and the preview accuracy of the model with only this layer factorised."""
    ds = _ctx.ds
    f = explore.one_layer(_ctx.model, layer, method, rank)
    out = explore.layer_cost(_ctx.model, layer, method, rank, ds.input_shape, factorised=f)
    x, y = ds.x_test[:PREVIEW_IMAGES], ds.y_test[:PREVIEW_IMAGES]
    out["top1"] = metrics.evaluate(f, x, y)[0]
    out["base_top1"] = base_preview(weights_hash, dataset, _ctx)
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def base_preview(weights_hash: str, dataset: str, _ctx: sidebar.Context) -> float:
    ds = _ctx.ds
    return metrics.evaluate(_ctx.model, ds.x_test[:PREVIEW_IMAGES], ds.y_test[:PREVIEW_IMAGES])[0]


def speed_job(ctx: sidebar.Context, layer: str, method: str) -> str:
    """Start (once) the paired speed-vs-rank measurement of one layer; returns its job id."""
    job_id = f"lowrank-speed-{ctx.weights_hash}-{ctx.choice.dataset}-{method}-{layer}"
    manager = sidebar.job_manager()
    if manager.get(job_id) is None:
        model, shape = ctx.model, ctx.ds.input_shape
        full = explore.full_rank(model.get_submodule(layer), method)
        ranks = explore.rank_grid(full)
        manager.submit(
            f"Speed vs rank of {layer}",
            lambda p, s: explore.speed_vs_rank(model, layer, method, ranks, shape, progress=p),
            key=job_id,
        )
    return job_id


def model_job(ctx: sidebar.Context, config: Any) -> str:
    """Factorise the whole model (and fine-tune) as a job; its result is (model, measurement)."""
    blob = json.dumps(techniques.to_dict(config), sort_keys=True)
    digest = hashlib.sha1(f"{blob}|{ctx.weights_hash}|{ctx.choice.dataset}".encode()).hexdigest()[:12]
    job_id = f"lowrank-model-{digest}"
    manager = sidebar.job_manager()
    if manager.get(job_id) is None or not manager.get(job_id).active:  # type: ignore[union-attr]
        base, ds = ctx.model, ctx.ds

        def work(progress: Any, stop: Any) -> tuple[Any, metrics.Measurement]:
            out = techniques.apply(
                base, config, ds, progress=lambda f, m: progress(0.8 * f, m), should_stop=stop
            )
            progress(0.85, "measuring (paired latency)")
            return out, metrics.measure(out, ds, baseline=base, latency=True, min_run_time=0.2)

        manager.submit(f"Low-rank ({techniques.to_dict(config)['technique']})", work, key=job_id)
    return job_id
