"""Blocks of the Distillation lab: URL-backed controls, the instant soft-target explorer, the
student-vs-scratch training job with live curves, and the sweeps. The page only arranges them."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from typing import Any

import streamlit as st
import torch

from compression import fmt, lessons, metrics, models, runs, techniques, train
from compression.charts import distillation as charts
from compression.distillation import (
    LOSSES,
    DistillConfig,
    cache,
    explore,
    start_settings,
    train_pair,
    twin_recipe,
)
from ui import lazy, measured, present, record, sidebar, state

WIDTHS = {"1/16": 1 / 16, "1/8": 1 / 8, "1/4": 0.25, "1/2": 0.5, "1": 1.0}
LABELS = [0, 100, 500, 1000, 2000, 5000, 10000]  # 0: every label
SWEEPS = {
    "temperature": [1.0, 2.0, 4.0, 8.0, 16.0, 20.0],
    "labels": [100, 500, 1000, 2000, 5000],
    "width": [1 / 16, 1 / 8, 0.25, 0.5, 1.0],
}
MAX_EPOCHS = 50


def _label_text(n: int) -> str:
    return "all labels" if n == 0 else f"{n:,} labelled, rest unlabelled"


# ---------------------------------------------------------------- controls


def controls(ctx: sidebar.Context, where: Any) -> tuple[DistillConfig, int]:
    """Every control, seeded from the URL and written back to it; returns (config, test image). The
    temperature slider goes in `where` (the column beside the soft-target chart)."""
    seed = state.seed
    n_test = len(ctx.ds.x_test)
    t_raw = state.url_float("T", 4.0, 1.0, 50.0)
    seed("d_T", min(explore.TEMPERATURES, key=lambda t: abs(t - t_raw)))
    seed("d_alpha", round(state.url_float("alpha", 0.9, 0.0, 1.0), 2))
    seed("d_loss", state.url_choice("loss", "kl", list(LOSSES)))
    seed("d_student", state.url_choice("student", "lenet-300-100", list(models.MODELS)))
    seed("d_width", state.url_choice("width", "1/4", list(WIDTHS)))
    dataset = ctx.choice.dataset
    start_epochs, lr = start_settings(dataset)
    seed("d_epochs", state.url_int("epochs", start_epochs, 1, MAX_EPOCHS))
    seed("d_labels", state.url_choice("labels", "0", [str(n) for n in LABELS]))
    seed("d_img", state.url_int("img", 0, 0, n_test - 1))
    seed("d_jitter", state.url_int("jitter", 0, 0, 4))

    temperature = where.select_slider(
        "Temperature T (log scale)",
        options=list(explore.TEMPERATURES),
        key="d_T",
        help="Divides the teacher's logits before the softmax: T = 1 is the plain softmax, larger T "
        "spreads probability onto the wrong-but-similar classes.",
    )
    c1, c2, c3 = st.columns(3)
    alpha = c1.slider(
        "alpha (weight of the soft term)",
        0.0,
        1.0,
        step=0.05,
        key="d_alpha",
        help="Hinton's convention, as torchdistill: alpha x soft loss + (1 - alpha) x CE on labels. "
        "Intel's INC uses the opposite naming.",
    )
    loss = c2.selectbox(
        "Loss", list(LOSSES), key="d_loss", help="; ".join(f"{k}: {v}" for k, v in LOSSES.items())
    )
    image = c3.number_input("Test image (explorer)", 0, n_test - 1, key="d_img")
    c1, c2, c3, c4, c5 = st.columns(5)
    student = c1.selectbox(
        "Student", list(models.MODELS), key="d_student", format_func=lambda n: models.MODELS[n].title
    )
    width = c2.select_slider("Student width", list(WIDTHS), key="d_width")
    epochs = c3.number_input("Epochs", 1, MAX_EPOCHS, key="d_epochs")
    labels = c4.selectbox(
        "Labels", [str(n) for n in LABELS], key="d_labels", format_func=lambda s: _label_text(int(s))
    )
    jitter = c5.number_input(
        "Shift images (+- px)",
        0,
        4,
        key="d_jitter",
        disabled=loss == "hint",
        help="Both students see every training image shifted at random (the same batches); the teacher labels "
        "each shifted image, so its soft targets are not its memorised answers. Not with the hint loss.",
    )
    values = {
        "T": f"{temperature:g}",
        "alpha": f"{alpha:.2f}",
        "loss": loss,
        "student": student,
        "width": width,
        "epochs": str(epochs),
        "labels": labels,
        "img": str(image),
        "jitter": str(jitter),
    }
    state.write_url(values)
    config = DistillConfig(
        student=student,
        width=WIDTHS[width],
        temperature=float(temperature),
        alpha=float(alpha),
        loss=loss,
        epochs=int(epochs),
        labels=int(labels),
        jitter=0 if loss == "hint" else int(jitter),
        batch_size=train.DEFAULT_BATCH.get(dataset, 128),
        lr=lr,
    )
    return config, int(image)


@st.cache_data(show_spinner=False, max_entries=64)
def student_size(name: str, width: float, dataset: str, _ctx: sidebar.Context) -> int | str:
    """The student's parameter count, or why it cannot be built."""
    try:
        model = models.build(name, _ctx.ds.input_shape, _ctx.ds.num_classes, width)
    except ValueError as exc:
        return str(exc)
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- instant explorer


def _test_logits(ctx: sidebar.Context) -> torch.Tensor:
    """The teacher's test logits: computed once per (weights, dataset, split) by the engine's cache."""
    return cache.teacher_outputs(ctx.model, ctx.ds, "test", teacher_hash=ctx.weights_hash).logits


@st.cache_data(show_spinner=False, max_entries=512)
def _explorer_data(whash: str, dataset: str, t: float, image: int, _ctx: sidebar.Context) -> dict[str, Any]:
    z = _test_logits(_ctx)
    classes = _ctx.ds.classes
    return {
        "soft": charts.soft_target_data(z[image], t, classes),
        "entropy": charts.entropy_data(z[image], z, t, len(classes)),
        "similarity": charts.similarity_data(z, _ctx.ds.y_test, t, classes),
        "label": classes[int(_ctx.ds.y_test[image])],
        "predicted": classes[int(z[image].argmax())],
    }


@st.cache_data(show_spinner=False, max_entries=64)
def _image(dataset: str, image: int, _ctx: sidebar.Context) -> Any:
    x = _ctx.ds.x_test[image]
    x = (x - x.min()) / (x.max() - x.min() + 1e-9)
    return x.permute(1, 2, 0).squeeze(-1).numpy() if x.shape[0] in (1, 3) else x[0].numpy()


def explorer(ctx: sidebar.Context, temperature: float, image: int, stage: tuple[Any, Any]) -> None:
    """The soft-target explorer: its numbers go under the slider (`stage[0]`), the soft-target chart beside
    it (`stage[1]`)."""
    d = _explorer_data(ctx.weights_hash, ctx.choice.dataset, temperature, image, ctx)
    c0, c1, c2, c3 = present.metric_grid(stage[0], 4)
    c0.image(_image(ctx.choice.dataset, image, ctx), caption=f"#{image}: {d['label']}", width=96, clamp=True)
    c1.metric("Teacher says", d["predicted"], help=f"Its top-1 at any T; the true class is {d['label']}.")
    c2.metric(
        "Entropy at T (this image)",
        f"{d['entropy']['at_t']:.2f} bits",
        f"{d['entropy']['at_t'] - d['soft']['entropy_1']:+.2f} vs T = 1",
        help=f"0 bits: one-hot; {d['entropy']['max']:.2f} bits: uniform over the classes.",
    )
    c3.metric(
        "Mean entropy at T (test set)",
        f"{d['entropy']['mean_at_t']:.2f} bits",
        help="How much a student learns per image beyond the label grows with this.",
    )
    present.plotly(stage[1], charts.plot_soft_targets(d["soft"]), key="d_soft", width="stretch")
    # only the open tab's chart is drawn (a new browser draws the main chart sooner)
    (t_entropy, entropy_open), (t_similar, similar_open) = lazy.tabs(lessons.LABS["distill"].view_labels())
    with t_entropy:
        if entropy_open:
            present.plotly(st, charts.plot_entropy(d["entropy"]), key="d_entropy", width="stretch")
    with t_similar:
        if similar_open:
            present.plotly(st, charts.plot_similarity(d["similarity"]), key="d_similarity", width="stretch")
            st.markdown(
                f"**Dark knowledge at T = {temperature:g}** (mean soft target of each class, top two others)"
            )
            st.markdown("\n".join(f"- {s}" for s in d["similarity"]["sentences"]))


# ---------------------------------------------------------------- training job


@st.cache_resource(show_spinner=False)
def _live() -> dict[str, list[dict[str, Any]]]:
    """Per-job epoch rows, appended by the job's thread and read by the page while it runs."""
    return {}


_LIVE_LOCK = threading.Lock()


def config_key(ctx: sidebar.Context, config: DistillConfig) -> str:
    blob = json.dumps(techniques.to_dict(config), sort_keys=True)
    return hashlib.sha256(f"{ctx.weights_hash}|{ctx.choice.dataset}|{blob}".encode()).hexdigest()[:16]


def _work(ctx: sidebar.Context, config: DistillConfig, job_id: str) -> Any:
    teacher, ds, whash = ctx.model, ctx.ds, ctx.weights_hash
    live = _live()

    def on_epoch(row: dict[str, Any]) -> None:
        with _LIVE_LOCK:
            live.setdefault(job_id, []).append(dict(row))

    def work(progress: train.Progress, stop: train.StopFlag) -> dict[str, Any]:
        with _LIVE_LOCK:
            live[job_id] = []
        r = train_pair(
            teacher,
            config,
            ds,
            progress=lambda f, m: progress(0.92 * f, m),
            should_stop=stop,
            on_epoch=on_epoch,
            teacher_hash=whash,
        )
        assert r.scratch is not None
        progress(0.93, "measuring the distilled student (latency paired with the teacher)")
        m_student = metrics.measure(r.student, ds, baseline=teacher, min_run_time=0.2)
        progress(0.97, "measuring the scratch twin")
        m_scratch = metrics.measure(r.scratch, ds, baseline=teacher, min_run_time=0.2)
        return {
            "student": r.student,
            "scratch": r.scratch,
            "history": r.history,
            "m_student": m_student,
            "m_scratch": m_scratch,
            "cost_ratio": r.epoch_cost_ratio,
        }

    return work


@st.fragment(run_every=1.0)
def live_curves(job_id: str, teacher_top1: float) -> None:
    rows = list(_live().get(job_id, []))
    job = sidebar.job_manager().get(job_id)
    if job is not None and job.state == "done" and isinstance(job.result, dict):
        rows = job.result["history"]
    if rows:
        present.plotly(
            st, charts.plot_training_curves(rows, teacher_top1), key=f"d_curves_{job_id}", width="stretch"
        )
    elif job is not None and job.active:
        st.caption("The curves appear after the first epoch.")


def training(ctx: sidebar.Context, config: DistillConfig) -> None:
    st.subheader("Distil a student, next to its scratch twin")
    manager = sidebar.job_manager()
    job_id = f"distill-{config_key(ctx, config)}"
    job = manager.get(job_id)
    mb = measured.baseline(ctx)
    twin_text = (
        "the same batches in the same order"
        if config.labels == 0
        else f"the {config.labels:,} labelled images alone, for the same number of steps"
    )
    st.caption(
        f"Both students start from the same weights (seed {config.seed}) with the same optimizer ({config.optimizer}, "
        f"lr {config.lr:g}, {config.schedule}) and batch size; the scratch twin sees {twin_text}. "
        "Teacher outputs are computed once and cached, so a distillation epoch costs about a scratch epoch."
    )
    idle = job is None or (not job.active and job.state != "done")
    if idle and st.button("Distil (and train the scratch twin)", type="primary", key="d_go"):
        manager.submit(
            f"Distil {config.student} x{config.width:g} ({config.epochs} epochs)",
            _work(ctx, config, job_id),
            key=job_id,
        )
        st.query_params["job"] = job_id
        st.rerun()
    if manager.get(job_id) is None:
        return
    st.query_params["job"] = job_id
    sidebar.job_progress(job_id)
    live_curves(job_id, mb.top1)
    job = manager.get(job_id)
    if job is None or job.state != "done":
        return
    res = job.result
    ms, mt = res["m_student"], res["m_scratch"]
    cols = st.columns(5)
    cols[0].metric(
        "Distilled top-1",
        f"{ms.top1:.2%}",
        **measured.points_delta(ms.top1 - mt.top1, "scratch twin"),
        help="Test split; the twin is the same student trained without the teacher.",
    )
    cols[1].metric(
        "Scratch twin top-1",
        f"{mt.top1:.2%}",
        f"{(mt.top1 - mb.top1) * 100:+.2f} pts vs teacher",
        delta_color="off",
    )
    cols[2].metric(
        "Student size",
        fmt.bytes_(ms.size_artifact_bytes),
        f"{mb.size_artifact_bytes / max(1, ms.size_artifact_bytes):.1f}x smaller than the teacher",
        delta_color="off",
        help=f"{ms.params_total:,} parameters vs the teacher's {mb.params_total:,}.",
    )
    measured.speed_card(cols[3], ms, label="Student latency, batch 256")
    ratio = res["cost_ratio"]
    cols[4].metric(
        "Epoch cost",
        f"{ratio:.2f}x" if ratio else "-",
        "distilled / scratch",
        delta_color="off",
        help="Time in the distilled student's steps over the twin's, timed interleaved in one loop.",
    )
    st.caption(measured.speed_caption(ms))
    steps = explore.optimizer_steps(config.epochs, len(ctx.ds.y_train), config.batch_size)
    st.info(explore.explain_gap(100 * (ms.top1 - mt.top1), steps, config.temperature, config.labels))
    student_ctx = dataclasses.replace(ctx, choice=state.Choice(ctx.choice.dataset, config.student))
    c1, c2 = st.columns(2)
    with c1:
        record.record_button(
            student_ctx, res["student"], [config], ms, technique=config.technique, key=f"{job_id}_student"
        )
    with c2:
        st.caption("The scratch twin, for the same front (its lineage is the teacher it is compared with).")
        record.record_button(
            student_ctx,
            res["scratch"],
            [twin_recipe(config)],
            mt,
            technique="scratch-twin",
            key=f"{job_id}_twin",
        )


# ---------------------------------------------------------------- sweeps


def _sweep_work(ctx: sidebar.Context, config: DistillConfig, param: str, seeds: int, save: bool) -> Any:
    teacher, ds, whash, dataset = ctx.model, ctx.ds, ctx.weights_hash, ctx.choice.dataset
    values = SWEEPS[param]

    def work(progress: train.Progress, stop: train.StopFlag) -> list[dict[str, Any]]:
        rows = []
        total = len(values) * seeds
        for i, (v, s) in enumerate((v, s) for v in values for s in range(seeds)):
            cfg = dataclasses.replace(config, **{param: type(getattr(config, param))(v)}, seed=s)
            span = (i / total, (i + 1) / total)
            r = train_pair(
                teacher,
                cfg,
                ds,
                progress=lambda f, m, span=span, v=v: progress(
                    span[0] + (span[1] - span[0]) * f, f"{param}={v:g}: {m}"
                ),
                should_stop=stop,
                teacher_hash=whash,
                evaluate_every_epoch=False,
            )
            assert r.scratch is not None
            row = {param: v, "seed": s}
            for kind, model, recipe, tech in (
                ("distilled", r.student, [cfg], cfg.technique),
                ("scratch", r.scratch, [twin_recipe(cfg)], "scratch-twin"),
            ):
                m = metrics.measure(model, ds, baseline=teacher, latency=False)
                row[kind] = m.top1
                if save:
                    try:
                        runs.record_run(
                            model,
                            dataset=dataset,
                            arch=cfg.student,
                            baseline_hash=whash,
                            recipe=recipe,
                            measurement=m,
                            technique=tech,
                            who="distill-sweep",
                            tags=[f"sweep-{param}"],
                            baseline=lambda: (teacher, metrics.measure(teacher, ds)),
                        )
                    except runs.StoreError as exc:
                        row["store_error"] = str(exc)
            rows.append(row)
        return rows

    return work


def sweeps(ctx: sidebar.Context, config: DistillConfig) -> None:
    st.subheader("Sweeps: accuracy against T, labels and student width")
    c1, c2, c3 = st.columns(3)
    param = c1.selectbox("Sweep", list(SWEEPS), key="d_sweep", format_func=lambda p: charts.SWEEP_AXES[p])
    seeds = int(c2.number_input("Seeds", 1, 5, 1, key="d_sweep_seeds"))
    save = c3.toggle("Record every student as a run", True, key="d_sweep_save")
    values = SWEEPS[param]
    st.caption(
        f"Trains {len(values) * seeds} distilled students and as many scratch twins ({', '.join(f'{v:g}' for v in values)}"
        f"), every other setting as above ({config.epochs} epochs each); latency is not timed (no pairing in a sweep)."
    )
    manager = sidebar.job_manager()
    sweep_id = f"dsweep-{param}-{seeds}-{config_key(ctx, config)}"
    if manager.get(sweep_id) is None and st.button("Run the sweep", key="d_sweep_go"):
        manager.submit(f"Sweep {param}", _sweep_work(ctx, config, param, seeds, save), key=sweep_id)
    if manager.get(sweep_id) is None:
        return
    sidebar.job_progress(sweep_id)
    job = manager.get(sweep_id)
    if job is not None and job.state == "done" and job.result:
        present.plotly(
            st, charts.plot_sweep(charts.sweep_data(job.result, param)), key="d_sweep_chart", width="stretch"
        )
        errors = {r["store_error"] for r in job.result if "store_error" in r}
        if errors:
            st.warning(f"Some runs were not recorded: {fmt.md('; '.join(errors))}")
