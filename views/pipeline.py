"""Pipeline: chain techniques (prune -> share -> Huffman, low-rank -> quantize, ...) and see what each
stage buys on a waterfall of real file sizes, with accuracy after every stage."""

from __future__ import annotations

import contextlib

import streamlit as st

from ui import lazy, present, sidebar, state
from ui import pipeline as block

state.keep_only("recipe", "both", "record", "job")
ctx = sidebar.render()

st.title("Pipeline")
st.caption(
    "A recipe is an ordered list of techniques. Each stage starts from the previous one's model; every bar "
    "below is the size of that stage's file, really written, and the line is its test accuracy."
)
with lazy.expander("Deep Compression in three stages (Han et al., ICLR 2016)", key="pl_explain") as shown:
    if shown:
        st.markdown(
            "1. **Prune**: zero the smallest weights and fine-tune; the file keeps only the survivors and their "
            "positions as relative indices (the gap to the previous survivor).\n"
            "2. **Share weights**: k-means on each layer's survivors, so every weight is a short code into "
            "$2^b$ shared values; fine-tuning trains the shared values (zeros stay zero).\n"
            "3. **Huffman-code** the codes and the gaps: frequent symbols get short codes, "
            "$\\bar\\ell \\le H + 1$ bits per symbol. LeNet-300-100 went 40x smaller on MNIST with no loss."
        )

# presenter mode: the run controls, then the stages, beside the waterfall; otherwise all in page order
controls, stage_chart = present.stage()
run_box = controls.container() if present.active() else controls
with controls:
    stages = block.builder(ctx.choice.model)
state.seed("pl_both", st.query_params.get("both") == "1")
state.seed("pl_record", st.query_params.get("record") == "1")
c1, c2, c3 = (run_box, run_box, run_box) if present.active() else st.columns(3)  # presenter: one a row
both = c1.checkbox("Also run the reverse order, side by side", key="pl_both")
record = c2.checkbox("Record every stage as a run", key="pl_record", disabled=not block.can_record())
state.write_url({"both": "1" if both else None, "record": "1" if record else None})
job_id = block.job_key(stages, ctx, both, record)
job = sidebar.page_job("job", "pipeline-", job_id)
if c3.button("Run pipeline", type="primary", disabled=not stages or (job is not None and job.active)):
    block.start(job_id, stages, ctx, both, record)
    st.query_params["job"] = job_id
    st.rerun()
on = present.active()  # presenter mode: progress under the Run button, the waterfall beside it
if job is not None:
    with run_box if on else contextlib.nullcontext():
        sidebar.job_progress(job.id)
    if job.state == "done" and job.result:
        with stage_chart if on else contextlib.nullcontext():
            block.results(job.result)
else:
    (stage_chart if on else st).caption(
        "Run the pipeline to draw the waterfall (stages that fine-tune take a while: it runs in the background)."
    )
