"""Low-rank lab: factorise a layer into thin ones and watch weights, MACs, accuracy and real speed."""

from __future__ import annotations

import streamlit as st

from compression import lowrank
from compression.charts import lowrank as charts
from compression.distillation import KDRecovery
from compression.lowrank import explore
from ui import lazy, measured, present, record, sidebar, state
from ui import lowrank as block

state.keep_only("method", "layer", "rank", "rule", "energy", "ft", "kd", "job")
ctx = sidebar.render()

st.title("Low-rank lab")
st.caption(
    "A weight matrix whose singular values fall fast is close to a thin product: keep the top r and a layer "
    "becomes two (or three) smaller ones. The model is physically smaller; whether it is faster depends on r."
)
with lazy.expander("How low-rank factorisation works (formulas)", key="lr_formulas") as shown:
    if shown:
        st.latex(
            r"W \approx U_r \Sigma_r V_r^\top,\qquad \lVert W - U_r\Sigma_rV_r^\top\rVert_F^2 = \sum_{i>r}\sigma_i^2"
        )
        st.markdown(
            "A linear layer $W$ ($m \\times n$) becomes $n \\to r \\to m$: $r(m+n)$ weights instead of $mn$, fewer "
            "whenever $r < mn/(m+n)$. A convolution $W$ ($O \\times I \\times k \\times k$) is factorised over its channel "
            "modes with **Tucker-2** (Kim et al. 2016): $1{\\times}1$ ($I\\to R_{in}$), $k{\\times}k$ core ($R_{in}\\to R_{out}$), "
            "$1{\\times}1$ ($R_{out}\\to O$); or with **CP** (Lebedev et al. 2015) into four thin convolutions. The rank comes "
            "from a slider, from the energy kept $\\sum_{i\\le r}\\sigma_i^2/\\sum_i\\sigma_i^2$, or from **VBMF** "
            "(Nakajima et al. 2013), which estimates the noise level and keeps only the singular values above it."
        )

methods = {
    "svd": "Truncated SVD (linear layers)",
    "tucker": "Tucker-2 (convolutions)",
    "cp": "CP (convolutions)",
}
avail = [m for m in methods if explore.eligible_layers(ctx.model, m)]
state.seed("lr_method", state.url_choice("method", avail[0], avail))
controls, stage_chart = present.stage()  # method, layer, rank and numbers beside the spectrum
method = controls.selectbox("Method", avail, key="lr_method", format_func=lambda m: methods[m])
layers = explore.eligible_layers(ctx.model, method)
if st.session_state.get("lr_layer") not in layers:
    st.session_state.pop("lr_layer", None)
state.seed("lr_layer", state.url_choice("layer", layers[0], layers))
layer = controls.selectbox("Layer", layers, key="lr_layer")
module = ctx.model.get_submodule(layer)
full = explore.full_rank(module, method)
if not 1 <= st.session_state.get("lr_rank", 1) <= full:
    st.session_state.pop("lr_rank", None)
state.seed("lr_rank", state.url_int("rank", max(1, full // 4), 1, full))
rank = controls.slider(
    "Rank", 1, full, key="lr_rank", help="Tucker-2: both channel ranks, each capped by its channels"
)

n = block.rank_numbers(ctx.weights_hash, ctx.choice.dataset, layer, method, rank, ctx)
c = present.metric_grid(controls, 4)
c[0].metric("Energy kept", f"{n['energy_kept']:.1%}")
w_ratio = n["params_after"] / n["params_before"]
m_ratio = n["macs_after"] / max(1, n["macs_before"])
c[1].metric(
    "Layer weights", f"{int(n['params_after']):,}",
    **measured.ratio_delta(w_ratio, f"{w_ratio:.2f}x of {int(n['params_before']):,}"),
)  # fmt: skip
c[2].metric(
    "Layer MACs / image", f"{int(n['macs_after']):,}",
    **measured.ratio_delta(m_ratio, f"{m_ratio:.2f}x of {int(n['macs_before']):,}"),
)  # fmt: skip
c[3].metric(
    f"Top-1 ({min(block.PREVIEW_IMAGES, len(ctx.ds.y_test)):,} test images)",  # digits has 360
    f"{n['top1']:.2%}",  # as every other top-1 card
    **measured.points_delta(n["top1"] - n["base_top1"], "whole"),
)
s = block.spectrum(ctx.weights_hash, layer, ctx)
title = f"{layer}: singular values" + (" of the output-channel unfolding" if method != "svd" else "")
present.plotly(
    stage_chart,
    charts.plot_spectrum(s, min(rank, len(s)), title=title),
    key="lr_spectrum",
    width="stretch",
)
be = explore.params_breakeven(module, method)
st.caption(f"Above rank {be:.0f} the factorised layer holds more weights than the whole one.")

st.subheader("Measured speed against rank")
speed_id = f"lowrank-speed-{ctx.weights_hash}-{ctx.choice.dataset}-{method}-{layer}"
if sidebar.job_manager().get(speed_id) is None and st.button(
    "Measure speed vs rank (paired, batch 256)", key="lr_speed_go"
):
    block.speed_job(ctx, layer, method)
if sidebar.job_manager().get(speed_id) is not None:
    sidebar.job_progress(speed_id)
    job = sidebar.job_manager().get(speed_id)
    if job is not None and job.state == "done":
        present.plotly(
            st,
            charts.plot_speed(job.result, params_breakeven=be, title=f"{layer}: factorised vs whole"),
            key="lr_speed",
            width="stretch",
        )
        st.caption("The layer alone on its own input, timed interleaved with the whole layer (same threads). "
                   "Small ranks win; near the full rank two thin kernels cost more than one wide kernel.")  # fmt: skip

st.subheader("Factorise the whole model")
rules = {"energy": "keep an energy fraction", "auto": "VBMF picks each rank", "rank": "the slider's rank"}
c1, c2, c3 = st.columns(3)
state.seed("lr_rule", state.url_choice("rule", "energy", list(rules)))
rule = c1.selectbox("Rank rule", list(rules), key="lr_rule", format_func=lambda r: rules[r])
state.seed("lr_energy", state.url_float("energy", 0.9, 0.3, 1.0))
energy = c2.slider("Energy kept", 0.3, 1.0, step=0.01, key="lr_energy", disabled=rule != "energy")
state.seed("lr_ft", state.url_int("ft", 0, 0, 10))
ft = c3.number_input("Fine-tune epochs", 0, 10, key="lr_ft")
state.seed("lr_kd", st.query_params.get("kd") == "1")
kd = st.checkbox(
    "Recover with knowledge distillation (teacher = this baseline)", key="lr_kd", disabled=ft == 0
)
state.write_url(  # the whole page's setting in one change of the link
    {"method": method, "layer": layer, "rank": str(rank), "rule": rule, "energy": str(energy), "ft": str(ft),
     "kd": "1" if kd else "0"}
)  # fmt: skip
config = lowrank.LowRank(method=method, rule=rule, rank=rank, energy=energy, finetune_epochs=int(ft))
step = KDRecovery.wrap(config) if kd and ft > 0 else config
if st.button("Factorise and measure", type="primary", key="lr_go"):
    st.query_params["job"] = block.model_job(ctx, step)
    st.rerun()
job = sidebar.page_job("job", "lowrank-model-", "lowrank-model-none")
if job is not None:
    sidebar.job_progress(job.id)
    if job.state == "done":
        out, m = job.result
        base = measured.baseline(ctx)
        c = st.columns(4)
        c[0].metric("Top-1", f"{m.top1:.2%}", **measured.points_delta(m.top1 - base.top1))
        c[1].metric(
            "Parameters",
            f"{m.params_total:,}",
            **measured.ratio_delta(m.params_total / max(1, m.baseline_params), "of the baseline"),
        )
        c[2].metric(
            "MACs / image",
            f"{m.macs:,}",
            **measured.ratio_delta(m.macs / max(1, m.baseline_macs), "of the baseline"),
        )
        measured.speed_card(c[3], m)
        st.caption(measured.speed_caption(m))
        record.record_button(ctx, out, [step], m, technique=type(step).technique, key="lr_record")
