"""Pruning lab: move the prune rate and watch accuracy, size and real speed change."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import streamlit as st

from compression import fmt, latency, lessons, metrics, techniques
from compression import pruning as P
from compression.charts import pruning as charts
from compression.distillation import KDRecovery
from ui import ab, evidence, lazy, measured, present, record, sidebar, state

AB_MAIN = ("amount", "method", "scope", "gran")  # the controls setting B has its own copy of
state.keep_only(
    "amount",
    "exclude",
    "ft",
    "full",
    "gran",
    "job",
    "kd",
    "l1",
    "method",
    "opt",
    "sched",
    "scope",
    "steps",
    lazy.VIEW,
    *ab.params(*AB_MAIN),
)
ctx = sidebar.render()
PREVIEW_IMAGES = 1000  # slider preview: accuracy on the first 1,000 test images keeps a move under 1 s
FT_MAX = 30

st.title("Pruning lab")
st.caption(
    "Remove weights that matter least. Masked pruning sets weights to zero (the file shrinks, the "
    "speed does not); structured pruning removes whole channels (the model really gets smaller and faster)."
)
with lazy.expander("How pruning works (formulas)", key="p_formulas") as shown:
    if shown:
        st.markdown(
            "**Magnitude pruning** (Han et al. 2015) keeps a weight only if it is large: with the mask "
            "$m_i$ the pruned weights are $\\hat w = m \\odot w$,"
        )
        st.latex(
            r"m_i = \mathbb{1}\big[\,|w_i| > \tau\,\big],\quad \tau = \text{the } k\text{-th smallest } |w|,\; k = \operatorname{round}(a\,n)"
        )
        st.markdown(
            "per layer ($n$ = the layer's weights) or globally ($n$ = all weights, one threshold). Coarser "
            "**granularities** rank groups (kernel rows, kernels, channels) by their RMS and zero whole groups. "
            "**Structured** pruning ranks filters by $\\lVert W_f \\rVert_1$ or $\\lVert W_f \\rVert_2$ (Li et al. 2017), "
            "by mean activation $\\overline{|a_f|}$ on calibration images, or by BatchNorm scale $|\\gamma_f|$ after "
            "training with $L = L_{CE} + \\lambda \\sum |\\gamma|$ (**network slimming**, Liu et al. 2017), and removes "
            "them with every tensor coupled to them (torch-pruning's dependency graph)."
        )
        st.latex(
            r"\text{gradual (Zhu \& Gupta 2017):}\quad s_t = s_f\left(1 - \left(1 - \tfrac{t}{N}\right)^3\right),\; t = 1..N"
        )
        st.markdown(
            "Fine-tuning between steps (gentle SGD with momentum, or Adam) re-applies the mask after every "
            "optimiser step so pruned weights stay zero."
        )


# ---------------------------------------------------------------- controls (state in the URL)


seed = state.seed
names = P.layer_names(ctx.model)
has_bn = P.structured.has_batchnorm(ctx.model)
methods = [m for m in P.METHODS if m != "slimming" or has_bn]  # slimming prunes by BatchNorm scales
if "p_method" in st.session_state and st.session_state["p_method"] not in methods:
    del st.session_state["p_method"]  # a model switch away from BatchNorm: back to the URL or default
seed("p_amount", round(state.url_float("amount", 0.5, 0.0, 0.99), 2))
seed("p_method", state.url_choice("method", "magnitude", methods))
seed("p_scope", state.url_choice("scope", "layer", list(P.SCOPES)))
seed("p_gran", state.url_choice("gran", "weight", list(P.GRANULARITIES)))
seed("p_ft", state.url_int("ft", 0, 0, FT_MAX))
seed("p_sched", state.url_choice("sched", "one-shot", list(P.SCHEDULES)))
seed("p_steps", state.url_int("steps", 3, 1, 20))
seed("p_opt", state.url_choice("opt", "sgd", ["sgd", "adam"]))
seed("p_l1", state.url_choice("l1", "1e-4", ["1e-5", "1e-4", "1e-3", "1e-2"]))
url_ex = [n for n in st.query_params.get("exclude", "").split(",") if n]
bad_ex = [n for n in url_ex if n not in names]
if bad_ex:
    st.warning(f"Ignoring unknown layer(s) in the link: {fmt.quote(', '.join(bad_ex))}.")
seed("p_exclude", [n for n in url_ex if n in names])

ab_on = ab.toggle(*AB_MAIN)
lay = ab.columns() if ab_on else None  # A/B view: A's main controls left, B's copy right
a_slots = ab.grid(lay.a, 4) if lay else []
box = ab.shared() if lay else st  # where the controls that A and B share go
# the prune rate beside the theory-vs-measured chart
controls, stage_chart = (a_slots[0], None) if lay else present.stage()
amount = controls.slider(
    "Prune rate",
    0.0,
    0.99,
    step=0.01,
    key="p_amount",
    help="Masked methods: the fraction of weights (or groups) set to zero. Structured: the fraction of "
    "channels / neurons removed from each layer (or from the global pool).",
)
c1, c2, c3, c4 = (*a_slots[1:], box) if lay else (None, *st.columns(3))  # not A/B: the method is staged
method = (c1 if lay else controls).selectbox(
    "Method", methods, key="p_method", format_func=lambda k: P.METHODS[k].title
)
masked = not P.METHODS[method].removes
scope = c2.selectbox(
    "Scope", list(P.SCOPES), key="p_scope", help="layer: same rate in every layer; global: one ranking"
)
granularity = c3.selectbox(
    "Granularity",
    list(P.GRANULARITIES),
    key="p_gran",
    disabled=not masked,
    help="; ".join(f"{k}: {v}" for k, v in P.core.GRANULARITY_HELP.items()),
)
exclude = c4.multiselect("Keep dense (exclude)", names, key="p_exclude", help="Layers left untouched.")
c1, c2, c3, c4 = box.columns(4)
ft = c1.number_input(
    "Fine-tune epochs per step", 0, FT_MAX, key="p_ft", help="0 = instant result; > 0 runs as a job"
)
schedule = c2.selectbox(
    "Schedule", list(P.SCHEDULES), key="p_sched", help="iterative: linear steps; gradual: cubic"
)
steps = c3.number_input("Steps", 1, 20, key="p_steps", disabled=schedule == "one-shot")
optimizer = c4.selectbox(
    "Fine-tune optimizer", ["sgd", "adam"], key="p_opt", help="SGD momentum 0.9 lr 0.01; Adam lr 1e-4"
)
seed("p_kd", st.query_params.get("kd") == "1")
kd = box.checkbox(
    "Recover with knowledge distillation (teacher = this baseline)",
    key="p_kd",
    disabled=ft == 0 or method == "slimming",
    help="Fine-tuning learns from the dense model's soft targets (T = 4, alpha = 0.7) as well as the labels.",
)
l1 = "1e-4"
if not has_bn:
    c1.caption("Network slimming needs BatchNorm layers: pick bn-cnn, small-resnet or a MobileNet to use it.")
if method == "slimming":
    l1 = box.select_slider("L1 strength on BN scales (λ)", ["1e-5", "1e-4", "1e-3", "1e-2"], key="p_l1")

state.seed("p_full", st.query_params.get("full") == "1")  # the toggle below; its URL value is written here
url_values = {
    "full": "1" if st.session_state["p_full"] else "0",
    "amount": f"{amount:.2f}",
    "method": method,
    "scope": scope,
    "gran": granularity,
    "ft": str(ft),
    "sched": schedule,
    "steps": str(steps),
    "opt": optimizer,
    "kd": "1" if kd else "0",
    "exclude": ",".join(exclude),
    "l1": l1,
}
state.write_url(url_values)


def build(amount: float, method: str, scope: str, gran: str) -> Any:
    """The pruning config of these main controls with the page's other (shared) settings."""
    return P.make_config(
        method,
        amount,
        scope=scope,
        granularity=gran if not P.METHODS[method].removes else "weight",
        exclude=tuple(exclude),
        schedule=schedule,
        steps=int(steps) if schedule != "one-shot" else 1,
        finetune_epochs=int(ft),
        optimizer=optimizer,
        l1=float(l1),
    )


def as_json(cfg: Any) -> str:
    return json.dumps(techniques.to_dict(cfg), sort_keys=True)


try:
    config = build(amount, method, scope, granularity)
except ValueError as exc:
    st.error(fmt.md(exc))
    st.stop()
# what is run and recorded: with KD, kd-recovery wrapping the pruning config
recipe_cfg = KDRecovery.wrap(config) if kd and ft > 0 and method != "slimming" else config
cfg_json = as_json(recipe_cfg)
AB_KNOBS = (
    ab.FloatKnob("amount", "Prune rate", lo=0.0, hi=0.99),
    ab.Knob("method", "Method", tuple(methods), title=lambda k: P.METHODS[k].title),
    ab.Knob("scope", "Scope", tuple(P.SCOPES)),
    ab.Knob("gran", "Granularity", tuple(P.GRANULARITIES), help="Ignored by methods that remove channels."),
)
a_values = {"amount": amount, "method": method, "scope": scope, "gran": granularity}
b_values = ab.b_controls(lay.b, AB_KNOBS, a_values) if lay else {}
cfg_key = hashlib.sha256(f"{ctx.weights_hash}|{ctx.choice.dataset}|{cfg_json}".encode()).hexdigest()[:16]


# ---------------------------------------------------------------- computation (cached)


def _preview_ds(ds: Any) -> Any:
    return dataclasses.replace(ds, x_test=ds.x_test[:PREVIEW_IMAGES], y_test=ds.y_test[:PREVIEW_IMAGES])


@st.cache_resource(show_spinner=False, max_entries=24)  # a resnet18 copy is 45 MB
def pruned_model(whash: str, dataset: str, cfg: str, _ctx: sidebar.Context) -> Any:
    """The pruned model for a config (never mutated; shared across sessions)."""
    return techniques.apply(_ctx.model, techniques.from_dict(json.loads(cfg)), _ctx.ds)


@st.cache_data(show_spinner=False, max_entries=256)
def preview(whash: str, dataset: str, cfg: str | None, _ctx: sidebar.Context, _model: Any) -> dict[str, Any]:
    """Fast numbers for a slider move: accuracy on the first test images, sizes, MACs; no latency."""
    m = metrics.measure(_model, _preview_ds(_ctx.ds), baseline=_ctx.model, latency=False)
    left, total = P.methods.weights_left(_ctx.model, _model)
    return {"m": m, "left": left, "total": total}


@st.cache_data(
    show_spinner="Measuring on the full test set, latency paired with the baseline...", max_entries=64
)
def full(
    whash: str, dataset: str, cfg: str, threads: int, _ctx: sidebar.Context, _model: Any
) -> metrics.Measurement:
    return metrics.measure(_model, _ctx.ds, baseline=_ctx.model, latency=True, min_run_time=0.2)


AB_TITLES = ("size, MACs and latency against the dense model", ("size (KB)", "pruned / dense"))


@st.cache_resource(show_spinner=False, max_entries=64)
def _size_latency_fig(base: metrics.Measurement, m: metrics.Measurement) -> Any:
    """Theoretical versus measured figure (~40-80 ms to build; shared read-only, plotly_chart copies)."""
    return charts.plot_size_latency(charts.size_latency_data(base, m))


def size_latency_fig(m: metrics.Measurement) -> Any:
    return _size_latency_fig(mb, m)


def b_side(values: dict[str, Any]) -> ab.Side | str:
    """Setting B's instant result from the same cached helpers as A (fine-tuning is A's job only)."""
    try:
        cfg = build(**values)
        note = ""
        if P.needs_training(cfg):
            if not hasattr(cfg, "finetune_epochs") or values["method"] == "slimming":
                return "Network slimming trains first: compare it as setting A (its job), not as B."
            cfg, note = dataclasses.replace(cfg, finetune_epochs=0), "B is shown before fine-tuning."
        j = as_json(cfg)
        model_b = pruned_model(ctx.weights_hash, ctx.choice.dataset, j, ctx)
    except ValueError as exc:
        return f"Setting B is not a valid configuration: {fmt.md(exc)}"
    if want_full:
        m = full(ctx.weights_hash, ctx.choice.dataset, j, latency.measurement_threads(), ctx, model_b)
    else:
        m = preview(ctx.weights_hash, ctx.choice.dataset, j, ctx, model_b)["m"]
    return ab.Side(j, model_b, m, size_latency_fig(m), note, *AB_TITLES)


def job_result(job_id: str) -> Any:
    job = sidebar.job_manager().get(job_id)
    return job.result if job is not None and job.state == "done" else None


slow = P.needs_training(config)
manager = sidebar.job_manager()
model = None
preview_only = False  # True while a fine-tuning job has not produced its model yet
if not slow:
    with st.spinner("Pruning..."):
        try:
            model = pruned_model(ctx.weights_hash, ctx.choice.dataset, cfg_json, ctx)
        except ValueError as exc:
            st.error(fmt.md(exc))
            st.stop()
else:
    job_id = f"prune-{cfg_key}"
    job = manager.get(job_id)
    if job is None or (not job.active and job.state != "done"):
        what = "Network slimming trains with the L1 penalty first" if method == "slimming" else "Fine-tuning"
        st.info(f"{what}: this runs as a background job with progress; it survives a page reload.")
        if st.button("Run pruning with fine-tuning", type="primary"):
            base, cfg_obj, ds = ctx.model, recipe_cfg, ctx.ds

            def work(progress: Any, stop: Any) -> Any:
                return techniques.apply(base, cfg_obj, ds, progress, stop)

            manager.submit(f"{config.technique} {amount:.0%}", work, key=job_id)
            st.query_params["job"] = job_id
            st.rerun()
    if manager.get(job_id) is not None:
        st.query_params["job"] = job_id
        sidebar.job_progress(job_id)
    model = job_result(job_id)
    if model is None and (method == "slimming" or not hasattr(config, "finetune_epochs")):
        st.stop()  # slimming's result needs its training: nothing honest to preview
    if model is None:  # fine-tuning not run yet: the live preview shows the pruned model before it
        instant = as_json(dataclasses.replace(config, finetune_epochs=0))
        model = pruned_model(ctx.weights_hash, ctx.choice.dataset, instant, ctx)
        preview_only = True
        st.caption(
            "Below: the pruned model **before** fine-tuning (the live preview); run the job for the fine-tuned "
            "result, which is the one you can record."
        )

assert model is not None
base_prev = preview(ctx.weights_hash, ctx.choice.dataset, None, ctx, ctx.model)
res = preview(ctx.weights_hash, ctx.choice.dataset, cfg_json, ctx, model)
mb, mp = base_prev["m"], res["m"]
n_test = len(ctx.ds.y_test)
want_full = st.toggle(
    f"Full measurement (all {n_test:,} test images and latency; needed to record)",
    key="p_full",  # one key for every config: a method change keeps it on; in the URL
    help=f"The slider shows a fast preview on {min(PREVIEW_IMAGES, n_test):,} of the {n_test:,} test images, "
    "without timing.",
)
if want_full:
    mb = measured.baseline(ctx)
    mp = full(ctx.weights_hash, ctx.choice.dataset, cfg_json, latency.measurement_threads(), ctx, model)

# ---------------------------------------------------------------- metric cards

scope_note = "full test set" if want_full else f"first {min(PREVIEW_IMAGES, n_test):,} test images"
if lay:
    ab.show(
        ab.Lab(
            knobs=AB_KNOBS,
            ctx=ctx,
            base=mb,
            chart_caption="theoretical vs measured size, and pruned / dense MACs and paired latency (the dense "
            "model is the same baseline on both sides).",
            scope_note=f"Both sides on the {scope_note}"
            + (
                "; speed paired with the baseline."
                if want_full
                else "; turn on the full measurement to time them."
            ),
            technique="pruning",
            remeasure=full.clear,
        ),
        a_values,
        b_values,
        ab.Side(
            cfg_json + ("|preview" if preview_only else ""), model, mp, size_latency_fig(mp), "", *AB_TITLES
        ),
        b_side(b_values),
    )
else:
    cols = present.metric_grid(controls, 5)  # the numbers under the slider, beside the chart
    cols[0].metric(
        "Top-1 accuracy",
        f"{mp.top1:.2%}",
        **measured.points_delta(mp.top1 - mb.top1),
        help=f"On the {scope_note}; delta vs the unpruned baseline.",
    )
    cols[1].metric(
        "Weights gone",
        f"{1 - res['left'] / max(1, res['total']):.1%}",
        f"{res['left']:,} of {res['total']:,} left",
        delta_color="off",
        delta_arrow="off",
        help="Share of the baseline's conv/linear weights that are zero or removed.",
    )
    cols[2].metric(
        "Theoretical size",
        fmt.bytes_(mp.size_theoretical_bytes),
        **measured.ratio_delta(
            r := mp.size_theoretical_bytes / max(1, mb.size_theoretical_bytes),
            f"{r:.2f}x of dense",
        ),
        help="Non-zero weights at their effective bits, no index overhead.",
    )
    cols[3].metric(
        "Measured size (artifact)",
        fmt.bytes_(mp.size_artifact_bytes),
        **measured.ratio_delta(
            r := mp.size_artifact_bytes / max(1, mb.size_artifact_bytes),
            f"{r:.2f}x of the dense file",
        ),
        help="Bytes of the compact artifact really written to disk (sparse or smaller dense).",
    )
    if want_full:
        measured.speed_card(cols[4], mp)
    else:
        cols[4].metric(
            "MACs / image",
            fmt.count(mp.macs),
            **measured.ratio_delta(r := mp.macs / max(1, mb.macs), f"{r:.2f}x of dense executed"),
            help=f"Executed multiply-accumulates; a zero-skipping chip would do {fmt.count(mp.macs_effective)}.",
        )

# ---------------------------------------------------------------- theoretical vs measured

left, right = st.columns([3, 2])
present.plotly(
    left if lay else stage_chart,
    size_latency_fig(mp),
    key="p_size_latency",
    width="stretch",
)
with right:
    st.markdown("**Why theory and measurement differ**")
    st.caption("Bars: sizes in KB; right panel: pruned / dense ratios (below 1 = smaller or faster).")
    if masked:
        st.markdown(
            "- Masked weights still run dense: the tensors keep their shape, so the CPU multiplies the zeros "
            "too and latency stays at the dense level."
        )
    else:
        st.markdown(
            "- Removed channels really run faster: the layers are physically narrower, so the model executes "
            f"{mp.macs / max(1, mb.macs):.0%} of the dense MACs and its file holds only the kept channels."
        )
        if want_full and mp.speedup_b256 is not None:
            speed = fmt.speedup(mp.speedup_b256, mp.speedup_b256_lo, mp.speedup_b256_hi)
            if mp.speedup_b256 >= 1.1:
                st.markdown(f"- Measured, paired with the baseline: **{speed}** at batch 256 on this CPU.")
            elif not mp.latency_noisy:
                st.markdown(
                    f"- Measured, paired with the baseline: {speed} at batch 256. Fewer MACs did not pay here: "
                    "for a model this small, per-layer fixed costs (Python dispatch, kernel launch, memory "
                    "traffic) dominate; larger models (bn-cnn, small-resnet on fashion-mnist) show the real "
                    "speed-up (pruning.md, at the foot of this page)."
                )
    for note in metrics.explain_gaps(mp):
        st.markdown(f"- {note}")
    if want_full:
        st.caption(measured.speed_caption(mp))
    else:
        st.caption("Latency is measured with the full measurement toggle above.")
if want_full and not lay:  # the A/B view offers it beside each side's cards
    measured.noisy_notice(mp, full.clear, key=f"p_remeasure_{cfg_key}")

# ---------------------------------------------------------------- charts (only the open tab's is drawn)

(t_hist, hist_open), (t_layers, layers_open), (t_matrix, matrix_open) = lazy.tabs(
    lessons.LABS["prune"].view_labels()
)
with t_hist:
    if hist_open:
        hist = charts.histogram_data(ctx.model, model)
        present.plotly(st, charts.plot_weight_histogram(hist), key="p_hist", width="stretch")
        st.caption(
            "All conv/linear weights, log scale: magnitude pruning empties the middle; the spike at 0 is the mask."
        )
with t_layers:
    if layers_open:
        present.plotly(
            st,
            charts.plot_layer_sparsity(charts.sparsity_data(model), charts.sparsity_data(ctx.model)),
            key="p_sparsity",
            width="stretch",
        )
        st.caption("Per layer: zeros (masked) and, for structured methods, the share of weights removed.")
with t_matrix:
    if matrix_open:
        layer = st.selectbox("Layer to look at", names, index=min(1, len(names) - 1), key="p_layer")
        present.plotly(
            st,
            charts.plot_weight_matrix(charts.matrix_data(ctx.model, model, layer)),
            key="p_matrix",
            width="stretch",
        )
        st.caption(
            "The same layer before and after: masked pruning leaves white holes, structured pruning removes rows."
        )

# ---------------------------------------------------------------- record

recorded_m = mp if want_full and not preview_only else None
if recorded_m is not None:
    record.record_button(
        ctx, model, [recipe_cfg], recorded_m, technique=config.technique, key=f"prune_{cfg_key}"
    )
else:
    st.caption("Turn on the full measurement to record this result as a run on the Pareto front.")

# ---------------------------------------------------------------- method comparison and sensitivity (jobs)

st.subheader("Compare methods and layers")
st.caption("Both run in the background with progress; results are kept for this baseline.")
tab_curves, tab_sens = st.tabs(["Accuracy vs sparsity", "Sensitivity scan"])
with tab_curves:
    curves_id = f"curves-{ctx.weights_hash}-{ctx.choice.dataset}"
    if manager.get(curves_id) is None and st.button("Compute accuracy-vs-sparsity curves", key="p_curves_go"):
        base, ds = ctx.model, ctx.ds
        manager.submit(
            "Accuracy vs sparsity",
            lambda p, s: P.accuracy_curves(base, ds, progress=p, should_stop=s),
            key=curves_id,
        )
    if manager.get(curves_id) is not None:
        sidebar.job_progress(curves_id)
        rows = job_result(curves_id)
        if rows:
            present.plotly(
                st,
                charts.plot_accuracy_curves(rows, base_prev["m"].top1),
                key="p_curves",
                width="stretch",
            )
            st.caption(
                "Validation accuracy (2,000 images), one-shot, no fine-tuning: magnitude beats random; "
                "removing whole filters costs more accuracy per weight but is the only one that runs faster."
            )
with tab_sens:
    sens_id = f"sens-{ctx.weights_hash}-{ctx.choice.dataset}"
    if manager.get(sens_id) is None and st.button("Run the 10-level sensitivity scan", key="p_sens_go"):
        base, ds = ctx.model, ctx.ds
        manager.submit(
            "Sensitivity scan",
            lambda p, s: P.scan(base, ds, max_images=P.sensitivity.PAGE_IMAGES, progress=p, should_stop=s),
            key=sens_id,
        )
    if manager.get(sens_id) is not None:
        sidebar.job_progress(sens_id)
        scan = job_result(sens_id)
        if scan is not None:
            rows = scan.rows()
            a, b = st.columns(2)
            present.plotly(
                a,
                charts.plot_sensitivity_heatmap(rows, scan.baseline),
                key="p_sens_map",
                width="stretch",
            )
            present.plotly(
                b,
                charts.plot_sensitivity_curves(rows, scan.baseline),
                key="p_sens_curves",
                width="stretch",
            )
            st.caption(
                f"Each layer pruned alone (magnitude) on the first {P.sensitivity.PAGE_IMAGES:,} validation "
                "images: red = accuracy lost. Sensitive layers deserve a lower rate."
            )
            drop = st.slider("Tolerated accuracy drop per layer (points)", 0.0, 10.0, 1.0, 0.5, key="p_drop")
            rates = P.rates_for_drop(scan, drop / 100)
            st.dataframe([{"layer": k, "prune rate": f"{v:.0%}"} for k, v in rates.items()], hide_index=True)
            per_layer = P.MagnitudePrune(
                amount=0.0, layer_amounts=tuple(rates.items()), exclude=tuple(exclude)
            )
            if st.button("Prune with these per-layer rates", key="p_sens_apply"):
                with st.spinner("Pruning and measuring (latency paired with the baseline)..."):
                    tuned = techniques.apply(ctx.model, per_layer, ctx.ds)
                    st.session_state["_p_sens_result"] = (
                        per_layer,
                        tuned,
                        metrics.measure(tuned, ctx.ds, baseline=ctx.model, min_run_time=0.2),
                    )
            done = st.session_state.get("_p_sens_result")
            if done is not None and done[0] == per_layer:  # kept across reruns so it can be recorded
                _, tuned, m_rates = done
                base_m = measured.baseline(ctx)
                r1, r2, r3, r4 = st.columns(4)
                r1.metric(
                    "Top-1 (full test set)",
                    f"{m_rates.top1:.2%}",
                    **measured.points_delta(m_rates.top1 - base_m.top1),
                )
                r2.metric("Weights gone", f"{m_rates.sparsity:.1%}", delta_arrow="off")
                r3.metric(
                    "Measured size",
                    fmt.bytes_(m_rates.size_artifact_bytes),
                    **measured.ratio_delta(
                        r := m_rates.size_artifact_bytes / max(1, base_m.size_artifact_bytes),
                        f"{r:.2f}x of the dense model's file",
                    ),
                )
                measured.speed_card(r4, m_rates)
                present.plotly(
                    st,
                    charts.plot_layer_sparsity(charts.sparsity_data(tuned), charts.sparsity_data(ctx.model)),
                    key="p_sens_result_layers",
                    width="stretch",
                )
                st.caption("Sparsity per layer with the rates above: sensitive layers kept denser.")
                record.record_button(
                    ctx, tuned, [per_layer], m_rates, technique=per_layer.technique, key="p_sens_rates"
                )
evidence.recorded(["pruning.md"], key="p_recorded")
