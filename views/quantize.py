"""Quantization lab: move the bit width and watch weights snap to a grid, and what it costs."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import streamlit as st

from compression import fmt, latency, lessons, metrics, techniques
from compression.charts import ab as ab_charts
from compression.charts import quantization as charts
from compression.distillation import KDRecovery
from compression.distillation.recovery import kd_context
from compression.quantization import analysis, catalog, core, model_ops, prefetch, schemes, storage
from ui import ab, evidence, lazy, measured, present, record, sidebar, state

AB_MAIN = ("scheme", "bits", "gran", "sym")  # the controls setting B has its own copy of
state.keep_only(
    "abits",
    "acts",
    "avg",
    "bits",
    "calib",
    "gran",
    "init",
    "kd",
    "layer",
    "lb",
    "qat",
    "qat_job",
    "scheme",
    "sweep",
    "sym",
    "wts",
    lazy.VIEW,
    *ab.params(*AB_MAIN),
)
ctx = sidebar.render()
BITS = [1, 2, 3, 4, 5, 6, 7, 8, 16]
LAYER_CHOICES = ["default", *[str(b) for b in BITS], "float"]

st.title("Quantization lab")
st.caption(
    "Store each weight in fewer bits: pick a scheme and a width, see the weights snap to the grid, "
    "the error it makes, the accuracy that remains and the real size and speed."
)
with lazy.expander("How quantization works (formulas)", key="q_formulas") as shown:
    if shown:
        st.markdown("**Linear (uniform)**: a scale $s$ and a zero point $z$ map a weight to an integer code.")
        st.latex(
            r"q = \operatorname{clamp}\!\big(\operatorname{round}(w/s) + z,\; 0,\; 2^b-1\big), \qquad \hat w = (q - z)\,s"
        )
        st.latex(
            r"\text{asymmetric: } s = \frac{\max - \min}{2^b - 1},\; z = \operatorname{round}(-\min/s); \qquad"
            r"\text{symmetric: } s = \frac{\max|w|}{2^{b-1}-1},\; z = 2^{b-1}-1"
        )
        st.markdown(
            "Per-channel uses one $s, z$ per output channel. Clipping the range (percentile, MSE-optimal) trades "
            "a few large errors on outliers for a finer step everywhere else.\n\n"
            "**k-means weight sharing** (Deep Compression): $2^b$ centroids $c_k$ minimise "
            r"$\sum_i \min_k (w_i - c_k)^2$; each weight stores only its cluster index. In QAT the gradient of "
            r"a centroid is the sum of the gradients of its weights: $\partial L/\partial c_k = \sum_{i \in k} \partial L/\partial w_i$."
            "\n\n**Logarithmic**: $\\hat w = \\operatorname{sign}(w)\\,2^{\\operatorname{round}(\\log_2|w|)}$: "
            "multiplications become bit shifts.\n\n"
            r"**Binary**: $\hat w = \operatorname{sign}(w)\,\alpha$, $\alpha = \operatorname{mean}|w|$. "
            r"**Ternary (TWN)**: $\hat w \in \{-\alpha, 0, +\alpha\}$ with threshold $\Delta = 0.7\,\operatorname{mean}|w|$ "
            r"and $\alpha$ the mean of $|w| > \Delta$. **XNOR** binarises the activations too."
            "\n\n"
            "**Simulated versus real**: fake-quantized models hold the quantized values in float32 and run float "
            "kernels: the file shrinks, the speed does not. *Real INT8* runs torch.ao's quantized CPU kernels "
            "(measured faster than torchao's int8 configs on this CPU, quantization.md at the foot of this page)."
        )


# ---------------------------------------------------------------- controls (state in the URL)


seed = state.seed
names = model_ops.layer_names(ctx.model)
seed("q_scheme", state.url_choice("scheme", "linear", list(catalog.SCHEMES)))
seed("q_bits", min(BITS, key=lambda b: abs(b - state.url_int("bits", 8, 1, 16))))
seed("q_gran", state.url_choice("gran", "per-channel", list(schemes.GRANULARITIES)))
seed("q_sym", state.url_choice("sym", "1", ["0", "1"]) == "1")
seed("q_wts", state.url_choice("wts", "1", ["0", "1"]) == "1")
seed("q_acts", state.url_choice("acts", "0", ["0", "1"]) == "1")
seed("q_abits", state.url_int("abits", 8, 2, 16))
seed("q_calib", state.url_choice("calib", "minmax", list(core.RANGE_METHODS)))
seed("q_init", state.url_choice("init", "linear", list(core.KMEANS_INITS)))
seed("q_avg", state.url_float("avg", 4.0, 1.0, 8.0))
if st.session_state.get("q_layer") not in names:  # another model was picked in the sidebar
    st.session_state.pop("q_layer", None)
    seed("q_layer", state.url_choice("layer", model_ops.default_layer(names), names))
seed("q_qat", state.url_int("qat", catalog.start_qat_epochs(ctx.choice.dataset), 1, 50))
seed("q_kd", st.query_params.get("kd") == "1")
seed("q_sweep", st.query_params.get("sweep") == "1")
url_lb: dict[str, str] = {}
bad_lb: list[str] = []
for item in filter(None, st.query_params.get("lb", "").split(";")):
    name, _, val = item.partition("=")
    if name in names and val in LAYER_CHOICES:
        url_lb[name] = val
    else:
        bad_lb.append(item)
if bad_lb:  # named, as the pruning lab names unknown layers; the page writes its own `lb` back
    st.warning(
        f"Ignoring per-layer bits in the link: {fmt.quote('; '.join(bad_lb))} (a layer of this "
        f"model and one of {', '.join(LAYER_CHOICES)})."
    )
for name in names:
    seed(f"q_lb_{name}", url_lb.get(name, "default"))

ab_on = ab.toggle(*AB_MAIN)
lay = ab.columns() if ab_on else None  # A/B view: A's main controls left, B's copy right
a_slots = ab.grid(lay.a, 4) if lay else []
box = ab.shared() if lay else st  # where the controls that A and B share go
# scheme and bits beside the grid chart
controls, stage_chart = (lay.a, st) if lay else present.stage()
if lay:
    c1, c2, c3 = a_slots[:3]
else:
    c1, c2, c3 = controls, controls, controls
scheme = c1.selectbox(
    "Scheme", list(catalog.SCHEMES), format_func=lambda s: catalog.SCHEMES[s].title, key="q_scheme"
)
spec = catalog.SCHEMES[scheme]
c1.caption(spec.note)
bits = c2.select_slider(
    "Bits per weight",
    BITS,
    key="q_bits",
    disabled=not spec.uses_bits,
    help="2^bits levels; 16 shows how close to float it gets. Fixed for binary, ternary, XNOR, FP16/BF16, INT8.",
)
if not spec.uses_bits:  # the disabled slider still shows the last width: say which width applies
    c2.caption(f"{spec.title} fixes its own width (see above); this slider sets linear, k-means and log.")
elif scheme == "mixed":
    c2.caption("Mixed precision: the size budget below picks every layer's width. This slider counts only "
               "with per-layer overrides, for the layers they leave out.")  # fmt: skip
granularity = c3.radio(
    "Granularity", schemes.GRANULARITIES, key="q_gran", horizontal=True, disabled=not spec.uses_granularity
)
c4, c5, c6, c7 = (a_slots[3], *box.columns(3)) if lay else st.columns(4)
symmetric = c4.toggle("Symmetric", key="q_sym", disabled=scheme not in ("linear", "mixed"))
weights_on = c5.toggle("Quantize weights", key="q_wts", disabled=scheme != "linear")
acts_on = c6.toggle("Quantize activations", key="q_acts", disabled=scheme != "linear")
calibration = c7.selectbox(
    "Calibration / clipping",
    core.RANGE_METHODS,
    key="q_calib",
    disabled=scheme != "linear",
    help="How the range is chosen: min-max, the 99.99th percentile, or the clip that minimises the MSE.",
)
c8, c9, c10 = box.columns(3)
act_bits = c8.slider("Activation bits", 2, 16, key="q_abits", disabled=not (scheme == "linear" and acts_on))
kmeans_init = c9.selectbox(
    "k-means init",
    core.KMEANS_INITS,
    key="q_init",
    disabled=scheme != "kmeans",
    help="linear, density, random: Deep Compression's starts for Lloyd's algorithm on all weights; each ends in "
    "a local optimum, so the start matters. optimal: the exact 1-D optimum by dynamic programming (on big "
    "layers with wide codebooks, the best of the three Lloyd fits).",
)
avg_bits = c10.slider(
    "Mixed: size budget (mean bits)", 1.0, 8.0, step=0.5, key="q_avg", disabled=scheme != "mixed"
)
with st.expander("Per-layer bit widths (overrides)", expanded=bool(url_lb)):
    st.caption(
        "Override the width of single layers (mixed precision by hand); 'float' leaves a layer unquantized."
    )
    cols = st.columns(min(4, max(1, len(names))))
    for i, name in enumerate(names):
        cols[i % len(cols)].selectbox(name, LAYER_CHOICES, key=f"q_lb_{name}")
overrides = {n: st.session_state[f"q_lb_{n}"] for n in names if st.session_state[f"q_lb_{n}"] != "default"}
layer_bits = tuple((n, schemes.FLOAT_BITS if v == "float" else int(v)) for n, v in overrides.items())

state.write_url(
    {
        "scheme": scheme,
        "bits": str(bits),
        "gran": granularity,
        "sym": "1" if symmetric else "0",
        "wts": "1" if weights_on else "0",
        "acts": "1" if acts_on else "0",
        "abits": str(act_bits),
        "calib": calibration,
        "init": kmeans_init,
        "avg": f"{avg_bits:g}",
        "lb": ";".join(f"{n}={v}" for n, v in overrides.items()) or None,
        "layer": st.session_state[
            "q_layer"
        ],  # the widgets below; their values are written here, in one change
        "qat": str(st.session_state["q_qat"]) if spec.qat else None,
        "kd": ("1" if st.session_state["q_kd"] else "0") if spec.qat else None,
        "sweep": "1" if st.session_state["q_sweep"] else "0",
    }
)


def build(scheme: str, bits: int, gran: str, sym: bool) -> Any:
    """The config of these main controls with the page's other (shared) settings."""
    return catalog.make_config(
        scheme,
        bits,
        granularity=gran,
        symmetric=sym,
        weights=weights_on,
        activations=acts_on,
        act_bits=act_bits,
        calibration=calibration,
        kmeans_init=kmeans_init,
        layer_bits=layer_bits if scheme in ("linear", "kmeans", "log", "mixed") else (),
        avg_bits=avg_bits,
    )


try:
    config = build(scheme, bits, granularity, symmetric)
except ValueError as exc:
    st.error(f"These settings don't make a valid configuration: {fmt.md(exc)}")
    st.stop()
cfg_json = json.dumps(techniques.to_dict(config), sort_keys=True)
AB_KNOBS = (
    ab.Knob("scheme", "Scheme", tuple(catalog.SCHEMES), title=lambda s: catalog.SCHEMES[s].title),
    ab.LevelKnob("bits", "Bits per weight", tuple(BITS), help="Ignored by schemes of a fixed width."),
    ab.Knob("gran", "Granularity", tuple(schemes.GRANULARITIES)),
    ab.FlagKnob("sym", "Symmetric"),
)
a_values = {"scheme": scheme, "bits": bits, "gran": granularity, "sym": symmetric}
b_values = ab.b_controls(lay.b, AB_KNOBS, a_values) if lay else {}


# ---------------------------------------------------------------- cached computation


@st.cache_resource(show_spinner="Quantizing...", max_entries=64)
def quantized(
    weights_hash: str, dataset: str, cfg: str, timed: bool, threads: int, _ctx: sidebar.Context
) -> tuple[Any, Any]:
    """(model, measurement) per baseline and config; shared read-only across sessions."""
    conf = techniques.from_dict(json.loads(cfg))
    real = isinstance(conf, catalog.int8.Int8PTQ | schemes.FloatQuant)
    return catalog.run(_ctx.model, _ctx.ds, conf, latency=timed or real, min_run_time=0.2)


@st.cache_resource(show_spinner=False)
def result_cache() -> prefetch.ResultCache:
    """Process-wide: PTQ results per (baseline, config), with the other widths prefetched."""
    return prefetch.ResultCache()


def fast_result(cfg: str) -> tuple[Any, Any]:
    """Untimed PTQ result from the shared cache; queue the other bit widths of this config behind it."""
    cache = result_cache()
    model, ds = ctx.model, ctx.ds

    def job(c: str) -> Any:
        return lambda: catalog.run(model, ds, techniques.from_dict(json.loads(c)), latency=False)

    result = cache.get((ctx.weights_hash, ctx.choice.dataset, cfg), job(cfg))
    d = json.loads(cfg)
    if "bits" in d and sum(p.numel() for p in model.parameters()) < 2_000_000:  # keep memory bounded
        others = sorted((b for b in BITS if b != d["bits"]), key=lambda b: abs(b - int(d["bits"])))
        variants = []
        for b in others:
            try:
                c = json.dumps(techniques.to_dict(techniques.from_dict({**d, "bits": b})), sort_keys=True)
            except ValueError:  # e.g. 16 bits for k-means
                continue
            variants.append(((ctx.weights_hash, ctx.choice.dataset, c), job(c)))
        cache.prefetch(variants)
    return result


@st.cache_resource(show_spinner=False, max_entries=64)
def layer_charts(weights_hash: str, result: str, layer: str, _w: Any, _q: core.QTensor) -> tuple[Any, ...]:
    """Grid, codes and error figures of one layer under the shown config (shared: plotly_chart copies)."""
    return charts.plot_grid(_w, _q, layer=layer), charts.plot_codes(_q), charts.plot_error(_w, _q)


@st.cache_resource(show_spinner=False, max_entries=64)
def side_by_side(weights_hash: str, layer: str, b: int, _ctx: sidebar.Context) -> Any:
    """The layer under five schemes at `b` bits, as one figure (per tensor: one set of levels each)."""
    w = dict(model_ops.layers(_ctx.model))[layer].weight.detach()
    return charts.plot_side_by_side(
        w,
        {
            "linear": core.quantize_linear(w, b, True, False),
            "k-means": core.quantize_kmeans(w, min(b, 8)),
            "log": core.quantize_log(w, min(b, 8)),
            "binary": core.quantize_binary(w, False),
            "ternary": core.quantize_ternary(w, False),
        },
    )


@st.cache_resource(show_spinner=False, max_entries=64)
def size_latency(base: metrics.Measurement, m: metrics.Measurement) -> Any:
    """Theoretical versus measured figure (~17 ms to build: not on every slider move)."""
    return charts.plot_size_latency(base, m)


@st.cache_data(show_spinner="Sweeping every scheme over bit widths (validation subset)...", max_entries=16)
def sweep(weights_hash: str, dataset: str, gran: str, _ctx: sidebar.Context) -> list[dict[str, object]]:
    return analysis.bit_sweep(_ctx.model, _ctx.ds, granularity=gran, n=1000)


@st.cache_data(show_spinner="Quantizing one layer at a time...", max_entries=16)
def sensitivity(weights_hash: str, dataset: str, sch: str, _ctx: sidebar.Context) -> list[dict[str, object]]:
    return analysis.layer_sensitivity(_ctx.model, _ctx.ds, sch, n=1000)


def ptq_result(conf: object, cfg: str, timed: bool) -> tuple[Any, Any]:
    """(model, measurement) of a PTQ config: timed when asked or when it runs real kernels."""
    if timed or isinstance(conf, catalog.int8.Int8PTQ | schemes.FloatQuant):
        return quantized(ctx.weights_hash, ctx.choice.dataset, cfg, timed, latency.measurement_threads(), ctx)
    with st.spinner("Quantizing and measuring..."):
        return fast_result(cfg)


def grid_side(key: str, qm: Any, m: Any, layer: str) -> ab.Side:
    """One A/B side: its numbers and the grid of `layer` (the lab's main chart), when it has one."""
    w = dict(model_ops.layers(ctx.model))[layer].weight.detach()
    q = model_ops.records(qm).get(layer)
    if q is None:
        return ab.Side(
            key, qm, m, None, f"No grid to show for {layer} under this scheme (float, half or INT8)."
        )
    levels = q.qmax + 1 if q.kind == "affine" or q.codebook is None else int(q.codebook.numel())
    title = f"{levels} levels ({q.bits} bits) on {layer}"
    return ab.Side(key, qm, m, layer_charts(ctx.weights_hash, key, layer, w, q)[0], title=title)


def b_side(values: dict[str, Any], timed: bool, layer: str) -> ab.Side | str:
    """Setting B's post-training result from the same cached helpers as A (QAT is A's job only)."""
    try:
        conf = build(**values)
        cfg = json.dumps(techniques.to_dict(conf), sort_keys=True)
        qm, mb = ptq_result(conf, cfg, timed)
    except Exception as exc:  # noqa: BLE001 - as for A: a scheme that cannot apply is said, not a crash
        return f"Setting B could not be applied: {fmt.md(type(exc).__name__)}: {fmt.md(exc)}"
    return grid_side(cfg, qm, mb, layer)


def pick_layer() -> str:
    return str(st.selectbox("Layer", names, key="q_layer"))


base = measured.baseline(ctx)
manager = sidebar.job_manager()
qmodel = m = None
result_key = cfg_json  # what the shown model is: this config's PTQ, or a QAT job below

if spec.qat:  # in the A/B view folded (it is A's alone), so the comparison comes first
    qat_box = (
        st.expander("Quantization-aware training (setting A)", expanded="qat_job" in st.query_params)
        if lay
        else st.container(border=True)
    )
    with qat_box:
        st.markdown(
            ("For setting A: " if lay else "")
            + "**Quantization-aware training** fine-tunes the model with the quantizer in the forward pass "
            "(straight-through estimator; for k-means the shared centroids are trained), recovering accuracy "
            "that post-training quantization loses at low widths. It runs in the background."
        )
        q1, q2 = st.columns([1, 3])
        epochs = q1.number_input("QAT epochs", 1, 50, key="q_qat")
        kd = q1.checkbox(
            "KD from the float baseline",
            key="q_kd",
            help="QAT learns from the float model's soft targets (T = 4, alpha = 0.7) as well as the labels.",
        )
        qat_cfg = catalog.make_config(
            scheme,
            bits,
            granularity=granularity,
            symmetric=symmetric,
            activations=acts_on,
            act_bits=act_bits,
            kmeans_init=kmeans_init,
            qat_epochs=int(epochs),
        )
        qat_rec = KDRecovery.wrap(qat_cfg) if kd else qat_cfg  # what is run and recorded
        qat_json = json.dumps(techniques.to_dict(qat_rec), sort_keys=True)
        job_key = (
            "qat-"
            + hashlib.sha256(f"{ctx.weights_hash}{ctx.choice.dataset}{qat_json}".encode()).hexdigest()[:12]
        )
        if q2.button("Start QAT", type="primary"):

            def work(progress: Any, stop: Any, c: object = qat_cfg, kd: bool = kd) -> tuple[Any, Any]:
                with kd_context(ctx.model) if kd else contextlib.nullcontext():
                    return catalog.run(
                        ctx.model, ctx.ds, c, min_run_time=0.2, progress=progress, should_stop=stop
                    )

            st.query_params["qat_job"] = manager.submit(f"QAT {scheme} {bits} bits", work, key=job_key)
        job = sidebar.page_job("qat_job", "qat-", job_key)
        if job is not None:
            sidebar.job_progress(job.id)
            if job.state == "done":
                show = st.toggle("Show the QAT result below", value=True, key="q_show_qat")
                if show:
                    qmodel, m = job.result
                    result_key = f"job:{job.id}"
                    config = qat_rec if job.id == job_key else config

if qmodel is None:
    timed = st.toggle(
        "Also time the fake-quantized model",
        value=False,
        key="q_timed",
        help="Fake-quantized models run the same float32 kernels as the baseline; timing them costs ~1 s.",
    )
    try:
        qmodel, m = ptq_result(config, cfg_json, timed)
    except Exception as exc:  # noqa: BLE001 - e.g. a model that torch.ao cannot trace: say so, don't crash
        st.error(f"This scheme could not be applied to {ctx.choice.model}: {type(exc).__name__}: {exc}")
        st.stop()
assert m is not None and qmodel is not None
kind = storage.kind_of(qmodel)

# ---------------------------------------------------------------- numbers

if lay:
    ab_layer = pick_layer()
    timed_b = bool(st.session_state.get("q_timed", False))
    ab.show(
        ab.Lab(
            knobs=AB_KNOBS,
            ctx=ctx,
            base=base,
            chart_caption=f"layer {ab_layer}: grey, its float weights; red lines, the values a weight may take; "
            "shaded band, the clipping range.",
            scope_note="Both sides on the full test set; speed paired with the float baseline when timed (real "
            "INT8 / half-precision kernels always, fake quantization with 'Also time').",
            technique="quantization",
            metrics=(*ab_charts.HEADLINE, ab_charts.BITS),
            remeasure=quantized.clear,
        ),
        a_values,
        b_values,
        grid_side(result_key, qmodel, m, ab_layer),
        b_side(b_values, timed_b, ab_layer),
    )
else:
    cols = present.metric_grid(controls, 5)  # the numbers under the slider, beside the chart
    cols[0].metric("Top-1 accuracy", f"{m.top1:.2%}", **measured.points_delta(m.top1 - base.top1, "float32"))
    cols[1].metric(
        "File size",
        fmt.bytes_(m.size_artifact_bytes),
        **measured.ratio_delta(
            r := m.size_artifact_bytes / max(1, base.size_artifact_bytes), f"{r:.1%} of float32"
        ),
        help="Bytes of the artifact written to disk: bit-packed codes plus scales or codebooks.",
    )
    cols[2].metric(
        "Theoretical size",
        fmt.bytes_(m.size_theoretical_bytes),
        **measured.ratio_delta(
            r := m.size_theoretical_bytes / max(1, base.size_dense_bytes), f"{1 / max(r, 1e-9):.1f}x smaller"
        ),
        help="Non-zero weights x bits per weight, no headers, scales or codebooks.",
    )
    cols[3].metric(
        "Effective bits per weight",  # not the slider's width: codebooks, scales and float layers count
        f"{m.effective_bits:.2f}",
        f"{m.effective_bits - base.effective_bits:+.1f} bits vs float32",
        help="Measured over the stored weights: codebooks, scales and layers left float raise it above the "
        "slider's width.",
        delta_color="inverse",  # fewer bits: a negative delta, green
    )
    if m.speedup_b256 is None:  # untimed fake quantization: float kernels, so the float model's speed
        cols[4].metric(
            "Latency, batch 256",
            fmt.ms(base.latency_b256_ms),
            help="Fake quantization runs float32 kernels: this is the float model's speed (not timed again).",
        )
        cols[4].caption(
            f"the float model's (same kernels; not timed again) · b1: {fmt.ms(base.latency_b1_ms)} · simulated: "
            "runs in float"
        )
    else:
        measured.speed_card(cols[4], m, 256)
        kernels = {"int8": "real INT8 kernels", "simulated": "float kernels (simulated)"}.get(
            kind, f"real {getattr(qmodel, '_cla_float', '')} kernels"
        )
        cols[4].caption(
            f"b1: {fmt.ms(m.latency_b1_ms)}, {fmt.speedup(m.speedup_b1, m.speedup_b1_lo, m.speedup_b1_hi)} "
            f"paired · {kernels}"
        )
        measured.noisy_notice(m, quantized.clear, key="q_remeasure")

for note in storage.gap_notes(m, qmodel):
    st.info(note)

# ---------------------------------------------------------------- charts

recs = model_ops.records(qmodel)
st.subheader("What happens to one layer")
layer = ab_layer if lay else pick_layer()  # in the A/B view the layer is picked above both sides
w = dict(model_ops.layers(ctx.model))[layer].weight.detach()
q = recs.get(layer)
if q is None:
    no_grid = (
        "This layer has no grid to show for this scheme (kept float, half precision or a real INT8 kernel); "
        "pick a bit-width scheme to see the grid."
    )
    st.caption(no_grid)
    if not lay:  # beside the controls: what such a scheme changes (the chart column was left blank)
        present.plotly(stage_chart, size_latency(base, m), key="q_stage_size_latency")
        stage_chart.caption(f"{no_grid} Here: the size and, when timed, the latency it changes.")
else:
    grid_fig, codes_fig, error_fig = layer_charts(ctx.weights_hash, result_key, layer, w, q)
    present.plotly(stage_chart, grid_fig, key="q_grid_chart")
    stage_chart.caption(
        "Grey: the float weights. Red lines: the values a weight may take; the shaded band is the clipping range "
        "(weights outside it are clamped to the end levels)."
    )

# only the open tab's charts are drawn (a new browser draws the main chart sooner)
(t_codes, codes_open), (t_error, error_open), (t_side, side_open), (t_size, size_open) = lazy.tabs(
    lessons.LABS["quantize"].view_labels()
)
for tab, is_open, what in ((t_codes, codes_open, "codes"), (t_error, error_open, "error")):
    if is_open and q is None:
        tab.caption(f"No grid for this scheme, so no {what} either.")
with t_codes:
    if codes_open and q is not None:
        used = int(q.codes.unique().numel())
        st.caption(f"Each weight's integer code as a colour; {used} of the grid's levels are in use.")
        present.plotly(st, codes_fig, key="q_codes_chart")
with t_error:
    if error_open and q is not None:
        st.caption(
            "Quantized minus float: inside the clipping range a linear grid errs by at most half a step."
        )
        present.plotly(st, error_fig, key="q_error_chart")
with t_side:
    if side_open:
        st.caption(
            f"The same layer under five schemes at {bits} bits, one set of levels per tensor (binary and ternary "
            "have fixed widths). Each dot is a level; its area is the share of weights that snap to it; grey: the "
            "float weights."
        )
        present.plotly(st, side_by_side(ctx.weights_hash, layer, int(bits), ctx), key="q_side")
with t_size:
    if size_open:
        st.caption(
            "Left: float32 size, what the bits promise, and the bytes really written. Right: "
            + (
                "the float baseline's latency next to this model's, timed interleaved in one run (for fake "
                "quantization they are the same kernels)."
                if m.timed
                else "the float baseline's latency alone: this model was not timed (turn on 'Also time the "
                "fake-quantized model'; fake quantization runs the same float kernels)."
            )
        )
        present.plotly(st, size_latency(base, m), key="q_size_latency")

st.subheader("Sweeps")
run_sweep = st.toggle(
    "Compute accuracy-versus-bits curves and per-layer sensitivity (a few seconds, then cached)",
    key="q_sweep",
)
if run_sweep:
    s1, s2 = st.columns(2)
    with s1:
        st.caption("Validation accuracy of each scheme at each width: where each one falls off the cliff.")
        present.plotly(
            st,
            charts.plot_bit_curves(sweep(ctx.weights_hash, ctx.choice.dataset, granularity, ctx)),
            key="q_curves",
        )
    with s2:
        sens_scheme = scheme if scheme in ("linear", "kmeans", "log") else "linear"
        st.caption(
            f"Accuracy drop when only one layer is quantized ({sens_scheme}); red layers need more bits."
        )
        present.plotly(
            st,
            charts.plot_sensitivity(sensitivity(ctx.weights_hash, ctx.choice.dataset, sens_scheme, ctx)),
            key="q_sens",
        )

if getattr(qmodel, "_cla_layer_bits", None):
    st.subheader("Bits per layer (mixed precision)")
    searched = isinstance(config, schemes.MixedPrecision) and not config.layer_bits
    st.caption(
        "Size budget: the mean bits per weight, weighted by each layer's weights n_l: "
        r"mean bits = $\sum_l n_l b_l \,/\, \sum_l n_l$ (conv and linear weights; biases stay float32, "
        "which is why the Effective bits per weight metric above can be a little higher). "
        + (
            "The map was searched on the validation split: it starts from the best uniform width that fits "
            "the budget, moves only to maps that score better there, then spends what is left of the budget."
            if searched
            else "The map is the per-layer overrides; other layers use the default width."
        )
    )
    chosen = {n: int(qmodel._cla_layer_bits.get(n, bits)) for n in names}
    present.plotly(
        st,
        charts.plot_layer_bits(chosen, analysis.layer_params(ctx.model), avg_bits if searched else None),
        key="q_layer_bits",
    )

record.record_button(ctx, qmodel, [config], m, technique=type(config).technique, key="quant")  # type: ignore[attr-defined]
evidence.recorded(["quantization.md", "quant_correct.md"], key="q_recorded")
