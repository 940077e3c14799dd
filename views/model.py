"""Model page: the baseline (or uploaded) model with every measurement and what it means."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from compression import fmt, lessons, metrics, models, runs, uploads
from compression.charts import model as charts
from ui import lazy, measured, present, sidebar, state

state.keep_only("layer", "log", lazy.VIEW)
ctx = sidebar.render()


@st.cache_data(show_spinner="Counting layers and mistakes...", max_entries=32)
def details(weights_hash: str, dataset: str, _ctx: sidebar.Context) -> dict[str, object]:
    """Cached per (weights, dataset): layer table and confusion matrix."""
    return {
        "layers": metrics.layer_table(_ctx.model, _ctx.ds.input_shape),
        "confusion": metrics.confusion(_ctx.model, _ctx.ds).numpy(),
    }


st.title(f"{models.MODELS[ctx.choice.model].title} on {ctx.choice.dataset}")
st.caption(
    f"{ctx.source} · weights `{ctx.weights_hash}` · {ctx.ds.num_classes} classes · input "
    f"{'x'.join(map(str, ctx.ds.input_shape))} · test split {len(ctx.ds.x_test):,} images "
    f"(validation {len(ctx.ds.x_val):,}, train {len(ctx.ds.x_train):,})"
)
m = measured.baseline(ctx)  # the same baseline measurement the labs and the Compare page use
result = details(ctx.weights_hash, ctx.choice.dataset, ctx)

cols = st.columns(4)
cols[0].metric("Top-1 accuracy", f"{m.top1:.2%}", help="Share of test images whose top prediction is right.")
cols[1].metric(
    "Top-5 accuracy", f"{m.top5:.2%}", help="Share whose true class is among the 5 highest scores."
)
cols[2].metric("Parameters", f"{m.params_total:,}", help="Every stored weight and bias.")
cols[3].metric("Non-zero parameters", f"{m.params_nonzero:,}", help="What is left after pruning.")
cols = st.columns(5)
cols[0].metric(
    "Size on disk", fmt.bytes_(m.size_artifact_bytes), help="Bytes of the artifact really written."
)
cols[1].metric("Dense fp32 size", fmt.bytes_(m.size_dense_bytes), help="4 bytes per parameter.")
cols[2].metric("MACs / image", fmt.count(m.macs), help="Multiply-accumulates executed (flop counter / 2).")
lat_help = f"Median over interleaved rounds, {m.threads} thread(s), on {m.cpu}."
cols[3].metric("Latency, batch 1", fmt.ms(m.latency_b1_ms), help=lat_help)
cols[4].metric("Latency, batch 256", fmt.ms(m.latency_b256_ms), help=lat_help)
measured.noisy_notice(m, measured.remeasure_baseline, key="remeasure_baseline")

with lazy.expander("What these numbers mean", key="m_explain") as shown:
    if shown:
        st.markdown(
            f"""
- **Top-1 / top-5** are measured on the fixed test split, never used for training or for choices.
  The loss (cross-entropy) is {m.loss:.3f}.
- **Size on disk** is the byte count of the model's artifact, written to disk and read back: it is what you would
  ship. **Dense fp32** is 4 bytes per parameter. **Theoretical size** ({fmt.bytes_(m.size_theoretical_bytes)}) counts
  only non-zero weights at their effective bit width ({m.effective_bits:.1f} bits on average): what compression
  promises before the cost of indices, codebooks and headers.
- **MACs** are multiply-accumulates per image counted by running the model under `torch.utils.flop_counter`.
  **Effective MACs** ({fmt.count(m.macs_effective)}) skip multiplications by zero weights: only hardware that skips
  zeros gets them.
- **Latency** is timed with `timeit` in short rounds at batch 1 (one request) and batch 256 (throughput) with
  {m.threads} pinned CPU thread(s) (`COMPRESSION_THREADS`), in eval mode without autograd; for a model with
  BatchNorm, the faster of the model as it is and a copy with each BatchNorm folded into the layer before it. CPU:
  {m.cpu}. Absolute times vary between machines and moments, so the labs never compare two of them: every
  compressed model is timed **paired** with this baseline, interleaved in one process, and its speed-up is the median
  of the per-round ratios with their interquartile range.
"""
        )
for note in metrics.explain_gaps(m):
    st.info(note)

st.subheader("Inside the model")
st.caption(
    "Every layer with weights: its shape, parameters, sparsity, bits per weight, MACs and share of the size; "
    "one layer's weights, the mistakes and sample predictions in the other tabs."
)
(
    (t_layers, layers_open),
    (t_weights, weights_open),
    (t_mistakes, mistakes_open),
    (t_examples, examples_open),
) = lazy.tabs(["Layers", *lessons.LABS["model"].view_labels()])
layers = pd.DataFrame(result["layers"])
if layers_open:
    t_layers.dataframe(
        layers,
        hide_index=True,
        width="stretch",
        column_config={
            "sparsity": st.column_config.ProgressColumn(
                "sparsity", format="percent", min_value=0, max_value=1
            ),
            "size_share": st.column_config.ProgressColumn(
                "share of size", format="percent", min_value=0, max_value=1
            ),
            "macs": st.column_config.NumberColumn("MACs", format="localized"),
            "params": st.column_config.NumberColumn("params", format="localized"),
            "nonzero": st.column_config.NumberColumn("nonzero", format="localized"),
        },
    )
if weights_open:
    weights = metrics.layer_weights(ctx.model)
    names = list(weights)
    with t_weights:
        left, right = st.columns([1, 3])
        layer = left.selectbox(
            "Layer", names, index=names.index(state.url_choice("layer", names[0], names)), key="layer"
        )
        log_y = left.toggle("Log scale", value=st.query_params.get("log") == "1", key="log")
        state.write_url({"layer": layer, "log": "1" if log_y else "0"})
        present.plotly(right, charts.plot_weight_histogram(weights[layer].numpy(), layer, log_y), key="hist")
        near_zero = metrics.near_zero(weights[layer]) / max(1, weights[layer].numel())
        right.caption(
            f"{near_zero:.0%} of this layer's weights lie within 10% of its largest magnitude"
            + (
                ": they cluster near zero, which is why pruning the smallest ones costs little accuracy."
                if near_zero >= 0.5
                else ": this layer is not concentrated near zero, so pruning it costs more accuracy."
            )
        )
if mistakes_open:
    present.plotly(t_mistakes, charts.plot_confusion(result["confusion"], ctx.ds.classes), key="confusion")  # type: ignore[arg-type]
    t_mistakes.caption("Off-diagonal cells are mistakes: the classes this model confuses.")
if examples_open:
    images, labels, preds = metrics.sample_predictions(ctx.model, ctx.ds, 16)
    present.plotly(
        t_examples,
        charts.plot_samples(
            images.numpy(), [ctx.ds.classes[i] for i in labels], [ctx.ds.classes[i] for i in preds]
        ),
        key="samples",
    )

st.subheader("Use your own weights")
st.caption(
    f"Upload a state_dict (.pt/.pth) or .safetensors for **{ctx.config.model}** on **{ctx.choice.dataset}**. "
    f"Files are read with `torch.load(weights_only=True)` or safetensors only, up to {uploads.MAX_BYTES // 2**20} MB; "
    "anything that would need arbitrary unpickling is refused."
)
upload = None
if runs.read_only():
    st.caption("This server is read-only (COMPRESSION_READONLY=1): uploads are off.")
else:
    upload = st.file_uploader("Weights file", type=["pt", "pth", "safetensors"], key="upload")
if upload is not None:
    try:
        digest = uploads.accept(upload.name, upload.getvalue(), ctx.choice.dataset, ctx.choice.model)
    except uploads.UploadError as exc:
        st.error(f"Upload refused: {fmt.md(exc)}")
    else:  # a file is applied once: "Back to the trained baseline" (or a link that fails) stays put
        if st.session_state.get("_upload_applied") != digest:
            st.session_state["_upload_applied"] = digest
            st.query_params["weights"] = digest
            st.rerun()

st.subheader("Record and download")
left, right = st.columns(2)
with left:
    try:
        from ui.record import record_button
    except ImportError:
        st.caption("The run store is not available in this build.")
    else:
        record_button(ctx, ctx.model, [], m, technique="baseline", key="baseline")
with right:
    st.download_button(
        "Download measurements (JSON)",
        json.dumps({"dataset": ctx.choice.dataset, "model": ctx.choice.model, **m.as_dict()}, indent=2),
        file_name=f"{ctx.choice.dataset}_{ctx.choice.model}_measurements.json",
        mime="application/json",
    )
    st.download_button(
        "Download per-layer table (CSV)",
        layers.to_csv(index=False),
        file_name=f"{ctx.choice.dataset}_{ctx.choice.model}_layers.csv",
        mime="text/csv",
    )
