"""Pipeline: chain techniques (prune -> share -> Huffman, low-rank -> quantize, ...) and see what each
stage buys on a waterfall of real file sizes, with accuracy after every stage."""

from __future__ import annotations

import streamlit as st

from ui import evidence, lazy, present, sidebar, state
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

# the run controls, then the stages, beside the waterfall
controls, stage_chart = present.stage()
run_box = controls.container()
with controls:
    stages = block.builder()
state.seed("pl_both", st.query_params.get("both") == "1")
state.seed("pl_record", st.query_params.get("record") == "1")
both = run_box.checkbox("Also run the reverse order, side by side", key="pl_both")
record = run_box.checkbox("Record every stage as a run", key="pl_record", disabled=not block.can_record())
state.write_url({"both": "1" if both else None, "record": "1" if record else None})
job_id = block.job_key(stages, ctx, both, record)
job = sidebar.page_job("job", "pipeline-", job_id)
if run_box.button("Run pipeline", type="primary", disabled=not stages or (job is not None and job.active)):
    block.start(job_id, stages, ctx, both, record)
    st.query_params["job"] = job_id
    st.rerun()
if job is not None:  # the progress under the Run button, the waterfall beside it
    with run_box:
        sidebar.job_progress(job.id)
    if job.state == "done" and job.result:
        with stage_chart:
            block.results(job.result)
else:
    stage_chart.caption(
        "Run the pipeline to draw the waterfall (stages that fine-tune take a while: it runs in the background)."
    )
evidence.recorded(["deep_compression.md"], key="pl_recorded")
