"""The Pipeline page's blocks: the stage builder (state in the URL as recipe JSON), the job that
runs one or two orders of the stages, and the side-by-side waterfalls."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import streamlit as st

from compression import fmt, pipeline, runs, techniques
from compression.charts import pipeline as charts
from compression.distillation import KDRecovery
from ui import present, sidebar

KEY = "pl_stages"  # session: the stage configs as dicts (techniques.to_dict)


def default_stages() -> list[dict[str, Any]]:
    """The engine's starting recipe (pipeline.default_recipe) as the builder's stage dicts."""
    return [techniques.to_dict(c) for c in pipeline.default_recipe().stages]


def load_stages() -> list[dict[str, Any]]:
    """The URL's `recipe` (JSON list) when it differs from this tab's stages (a link was followed, e.g. from
    a lesson), else this tab's stages, else the default recipe."""
    raw = st.query_params.get("recipe")
    mine = st.session_state.get(KEY)
    if mine is None or (raw and raw != json.dumps(mine, separators=(",", ":"))):
        stages = default_stages() if mine is None else mine
        if raw:
            try:
                stages = [
                    techniques.to_dict(c)
                    for c in pipeline.Recipe.from_dict({"stages": pipeline.parse_json(raw)}).stages
                ]
            except (ValueError, TypeError) as exc:
                st.warning(f"Ignoring the recipe in the link: {fmt.md(exc, 4 * fmt.QUOTE_CHARS)}")
                del st.query_params["recipe"]
        st.session_state[KEY] = stages
        if "recipe" in st.query_params:  # the link's recipe in the page's own spelling
            st.query_params["recipe"] = json.dumps(stages, separators=(",", ":"))
    return list(st.session_state[KEY])


def save_stages(stages: list[dict[str, Any]]) -> None:
    st.session_state[KEY] = stages
    st.query_params["recipe"] = json.dumps(stages, separators=(",", ":"))


def builder() -> list[dict[str, Any]]:
    """Stage list with move up / down / remove, an add row, JSON import and export."""
    stages = load_stages()
    if st.query_params.get("recipe") is None:
        st.query_params["recipe"] = json.dumps(stages, separators=(",", ":"))
    for i, d in enumerate(stages):  # one row: the stage, then its buttons at their own width
        row = st.container(horizontal=True, vertical_alignment="center", wrap=False)
        row.markdown(f"**{i + 1}.** {fmt.md(pipeline.describe(techniques.from_dict(d)))}", width="stretch")
        icons = ":material/arrow_upward:", ":material/arrow_downward:", ":material/close:"
        if row.button("", icon=icons[0], key=f"pl_up_{i}", disabled=i == 0, help="move up"):
            stages[i - 1], stages[i] = stages[i], stages[i - 1]
            save_stages(stages)
            st.rerun()
        if row.button("", icon=icons[1], key=f"pl_down_{i}", disabled=i == len(stages) - 1, help="move down"):
            stages[i + 1], stages[i] = stages[i], stages[i + 1]
            save_stages(stages)
            st.rerun()
        if row.button("", icon=icons[2], key=f"pl_rm_{i}", help="remove"):
            save_stages(stages[:i] + stages[i + 1 :])
            st.rerun()
    if not stages:
        st.info("No stage yet: add one below.")
    with st.container(border=True):  # the kind on a row of its own (its titles are long), then its settings
        kinds = pipeline.STAGE_KINDS
        kind = st.selectbox("Add a stage", list(kinds), format_func=lambda k: kinds[k].title, key="pl_kind")
        spec = kinds[kind]
        c2, c3, c4, c5 = st.columns([3, 3, 2, 3], vertical_alignment="bottom")
        value = spec.default
        if spec.knob:
            value = c2.number_input(
                spec.knob, min_value=float(spec.lo), max_value=float(spec.hi), value=float(spec.default),
                step=float(spec.step), key=f"pl_value_{kind}",
            )  # fmt: skip
        epochs = c3.number_input("fine-tune epochs", 0, 20, 0, key="pl_epochs", disabled=not spec.trains)
        kd = c4.checkbox(
            "KD",
            key="pl_kd",
            disabled=not spec.trains or epochs == 0,
            help="fine-tuning distils from the stage's input model",
        )
        if c5.button("Add stage", key="pl_add", type="primary"):
            config = spec.build(kind, float(value), int(epochs))
            if kd and spec.trains and epochs > 0:
                config = KDRecovery.wrap(config)
            save_stages([*stages, techniques.to_dict(config)])
            st.rerun()
    c1, c2 = st.columns(2)
    recipe = pipeline.Recipe("pipeline", tuple(techniques.from_dict(d) for d in stages))
    c1.download_button(
        "Export recipe (JSON)", recipe.to_json(), file_name="recipe.json", mime="application/json"
    )
    upload = c2.file_uploader("Import a recipe (JSON)", type=["json"], key="pl_import", max_upload_size=1)
    if upload is not None and st.session_state.get("_pl_imported") != upload.file_id:
        st.session_state["_pl_imported"] = upload.file_id
        try:
            imported = pipeline.Recipe.from_json(upload.getvalue().decode("utf-8", errors="replace"))
        except ValueError as exc:
            st.error(f"That file is not a recipe: {fmt.md(exc)}")
        else:
            save_stages([techniques.to_dict(c) for c in imported.stages])
            st.rerun()
    return stages


def job_key(stages: list[dict[str, Any]], ctx: sidebar.Context, both: bool, record: bool) -> str:
    blob = json.dumps([stages, ctx.choice.dataset, ctx.weights_hash, both, record], sort_keys=True)
    return "pipeline-" + hashlib.sha1(blob.encode()).hexdigest()[:12]


def start(job_id: str, stages: list[dict[str, Any]], ctx: sidebar.Context, both: bool, record: bool) -> None:
    """Run the recipe (and its reverse when `both`) as one background job; the result is a list of dicts."""
    recipe = pipeline.Recipe(
        "pipeline", tuple(techniques.from_dict(d) for d in stages), ctx.choice.dataset, ctx.choice.model
    )
    orders = [recipe] + ([pipeline.reordered(recipe, list(range(len(stages)))[::-1])] if both else [])
    base, ds, arch = ctx.model, ctx.ds, ctx.choice.model

    def work(progress: Any, stop: Any) -> list[dict[str, Any]]:
        out = []
        for k, r in enumerate(orders):
            lo, hi = k / len(orders), (k + 1) / len(orders)
            res = pipeline.run(
                r, base, ds, record=record, arch=arch, who="pipeline page", should_stop=stop,
                progress=lambda f, m, lo=lo, hi=hi, k=k: progress(lo + (hi - lo) * f, f"order {k + 1}: {m}"),
            )  # fmt: skip
            out.append(res.as_dict())
        return out

    sidebar.job_manager().submit(
        f"Pipeline ({len(stages)} stages{', both orders' if both else ''})", work, key=job_id
    )


def results(done: list[dict[str, Any]]) -> None:
    """One column per order: its waterfall and its table of stages."""
    cols = st.columns(len(done))
    for k, (col, res) in enumerate(zip(cols, done, strict=True)):
        stages = res["stages"]
        first, last = stages[0], stages[-1]
        title = "Stages in the order built" if k == 0 else "The reverse order"
        with col:
            fig = charts.plot_waterfall(stages, title=title)
            if present.active():  # beside the stage list on a 1280x720 projector: x1.15 = 414 px
                fig.update_layout(height=360)
            present.plotly(st, fig, key=f"pl_waterfall_{k}", width="stretch")
            drop = 100 * (first["top1"] - last["top1"])
            st.markdown(
                f"**{res['ratio']:.1f}x** smaller than the dense fp32 file ({first['artifact_bytes']:,} B -> "
                f"{last['artifact_bytes']:,} B), top-1 {100 * last['top1']:.2f}% ({-drop:+.2f} points)."
            )
            recorded = any(s["run_id"] is not None for s in stages)  # a run column only when there are runs
            rows = [
                {
                    "stage": f"{s['index']}. {s['label']}",
                    "file bytes": s["artifact_bytes"],
                    "x vs dense": round(first["artifact_bytes"] / max(1, s["artifact_bytes"]), 2),
                    "top-1 %": round(100 * s["top1"], 2),
                    "seconds": round(s["seconds"], 2),
                    **({"run": f"#{s['run_id']}" if s["run_id"] is not None else "—"} if recorded else {}),
                }
                for s in stages
            ]
            st.dataframe(
                rows,
                hide_index=True,
                width="stretch",
                column_config={"file bytes": st.column_config.NumberColumn(format="localized")},
            )
    if len(done) == 2:
        a, b = (r["stages"][-1] for r in done)
        smaller = "the order built" if a["artifact_bytes"] <= b["artifact_bytes"] else "the reverse order"
        accurate = "the order built" if a["top1"] >= b["top1"] else "the reverse order"
        st.caption(
            f"Smaller file: {smaller} ({a['artifact_bytes']:,} B vs {b['artifact_bytes']:,} B); more accurate: "
            f"{accurate} ({100 * a['top1']:.2f}% vs {100 * b['top1']:.2f}%)."
        )


def can_record() -> bool:
    return not runs.read_only()
