"""Search lab: set a budget, pick a strategy and objectives, watch the front grow, record the winners."""

from __future__ import annotations

import streamlit as st

from ui import evidence, lazy, present, search, sidebar, state

state.keep_only("space", "strategy", "budget", "tlimit", "obj", "cap", "seed", "val", "study", "group")
ctx = sidebar.render()

st.title("Search lab")
st.caption(
    "Search a compression policy (AMC / HAQ style: a prune rate and a weight bit width for every layer, applied "
    "to the trained baseline without fine-tuning) or an architecture (depth, channels, kernels, width of a "
    "LeNet-5 / BN-CNN-like family, each trial trained briefly on a training subset). Every strategy runs on "
    "Optuna; several processes or machines can share one study."
)
with lazy.expander("How the strategies work", key="s_explain") as shown:
    if shown:
        st.markdown(
            "A trial picks, for each layer $l$, a prune rate $p_l \\in \\{0, 0.05, \\dots, 0.95\\}$ and bits "
            "$b_l \\in \\{2, \\dots, 8\\}$; the policy is applied (magnitude pruning, then per-channel linear "
            "quantization) and scored on validation accuracy and the measured file size (or MACs). "
            "**Random** samples uniformly; **TPE** models good and bad trials with Parzen densities; **NSGA-II** "
            "evolves a population by non-dominated sorting (its first generation: uniform policies from no pruning at 8 "
            "bits to 95 % at 2 bits, which random search is not given; the bench also runs random search with them); **GP** fits a Gaussian process and maximises expected "
            "hypervolume improvement. **Simulated annealing** (PaddleSlim's SANAS) walks to a neighbour and "
            "accepts a worse score $s'$ with probability"
        )
        st.latex(
            r"P = \exp\big((s' - s)/T_k\big),\quad T_k = T_0\,r^k,\quad s = \text{acc} - \lambda \log\tfrac{\text{size}}{\text{size}_0}"
        )
        st.markdown(
            "(or accuracy minus a penalty over a size budget). **REINFORCE** keeps a softmax policy per choice and "
            "moves its logits by $\\eta\\,(R - b)\\,\\nabla \\log \\pi(a)$. The **hypervolume** is the share of the box "
            "between the baseline corner (0 % accuracy, dense size) and the ideal point that the front dominates: "
            "higher is a better front. In the **architecture** space a trial picks a depth (1-3 conv blocks), channels and "
            "a kernel (3 or 5) per block, a width multiplier and a fully connected width; the network is trained briefly "
            "from scratch on a training subset (the proxy named under the controls) and scored the same way."
        )

if not search.storage_ready():
    st.stop()
controls, chart = present.stage()  # the budget slider beside the live front
with controls:
    study = search.current_study()
    settings = search.controls(ctx.choice.dataset, len(ctx.ds.x_val), study)
    name = search.actions(settings, ctx, study.name if study else None)
    if name is not None:
        name = search.pick_study(name, study)
if name is None:
    with chart:
        search.earlier_study(ctx)
else:
    with chart:
        if search.is_live(name):
            search.live_view(name)
        else:
            search.study_view(name)
    search.importances(name)
    st.subheader("Record trials as runs")
    search.record_block(name, ctx)
evidence.recorded(["search.md"], key="s_recorded")
