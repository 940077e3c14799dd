"""DARTS lab: set a search budget, watch softmax(alpha) move and the cell take shape, see the collapse and
its cures, retrain the derived cell next to random cells and record it on the front."""

from __future__ import annotations

import streamlit as st

from compression.search import darts as engine
from ui import darts, evidence, lazy, measured, present, sidebar, state

ctx = sidebar.render()
state.keep_only(*darts.DEFAULTS, "cell", "job")

st.title("DARTS lab")
st.caption(
    "Differentiable architecture search (Liu, Simonyan and Yang 2019): every edge of a cell mixes eight "
    "candidate operations, the mixture weights α are learned by gradient descent next to the network's "
    "weights, and the strongest operations are kept. The derived network is retrained from scratch and "
    f"measured like any model. Dataset: {ctx.choice.dataset} (the sidebar's)."
)
with lazy.expander(
    "How DARTS works: the mixed op, the bilevel optimisation, the collapse and its cures", key="da_explain"
) as shown:
    if shown:
        st.markdown(
            "A cell is a small DAG: two inputs (the outputs of the two previous cells, $c_{k-2}$ and $c_{k-1}$), "
            "$N$ intermediate nodes, and an output that concatenates the nodes. Each node sums one **mixed "
            "operation** per earlier vertex; the mixed op on edge $(i, j)$ is the softmax-weighted sum of the "
            "eight candidates $\\mathcal{O}$ (none, 3x3 max and avg pool, skip, 3x3 and 5x5 separable and "
            "dilated convolutions):"
        )
        st.latex(
            r"\bar o^{(i,j)}(x)=\sum_{o\in\mathcal O}\frac{e^{\alpha^{(i,j)}_o}}{\sum_{o'\in\mathcal O}"
            r"e^{\alpha^{(i,j)}_{o'}}}\,o(x),\qquad x_j=\sum_{i<j}\bar o^{(i,j)}(x_i)"
        )
        st.markdown(
            "The architecture $\\alpha$ and the weights $w$ are learned together as a **bilevel** problem: $w$ "
            "on one half of the search images, $\\alpha$ on the other half (a validation loss):"
        )
        st.latex(
            r"\min_\alpha \mathcal L_{val}\big(w^*(\alpha),\alpha\big)\quad\text{s.t.}\quad "
            r"w^*(\alpha)=\arg\min_w \mathcal L_{train}(w,\alpha)"
        )
        st.markdown(
            "**First order** approximates $w^*(\\alpha)\\approx w$ and alternates one SGD step on $w$ with one "
            "Adam step on $\\alpha$. **Second order** unrolls one virtual step, "
            "$\\nabla_\\alpha \\mathcal L_{val}(w-\\xi\\nabla_w\\mathcal L_{train}(w,\\alpha),\\alpha)$, with a "
            "finite-difference Hessian-vector product (about 3x the cost). **Deriving** the cell: each node keeps "
            "its two strongest incoming edges, an edge's strength being its largest softmax weight other than "
            "*none*, with that operation.\n\n"
            "**The collapse.** Parameter-free operations (skip connections above all) make the supernet train "
            "fastest early on, so a long search piles up skips; the derived cell is then shallow and retrains "
            "badly. Here it shows when the weights learn too slowly for α (*Weights' step* 0.005): a "
            "fashion-mnist search with all channels ends with 4 skips of 6 edges; with $K = 4$ it ends in average "
            "pooling on every edge, which the skip cures do not catch (the dotted line of the skip chart counts "
            "all parameter-free ops; darts_collapse.md at the foot of the page). **Cures:** DARTS+ stops the search once the normal cell holds more than 2 skips (early "
            "stop); P-DARTS derives with at most 2 skips (cap); PC-DARTS sends only $1/K$ of the channels "
            "through the mixed ops, with edge weights $\\beta$ normalising the edges (less memory, faster "
            "epochs, a regularising effect)."
        )
        st.markdown(
            "**Choosing by perturbation (DARTS-PT, Wang et al. 2021).** The size of $\\alpha$ is a poor guide "
            "to what an op contributes: a skip can hold a large weight while the supernet leans on a convolution. "
            "*Cell chosen by: removal test* scores each op $o$ on each edge $e$ of the trained supernet "
            "by the rise of the validation loss when its weight alone is set to zero,"
        )
        st.latex(
            r"s_{e,o}=\mathcal L_{val}\big(w,\alpha;\ m_{e,o}=0\big)-\mathcal L_{val}(w,\alpha),\qquad"
            r"\bar o^{e}(x)=\sum_{o}m_{e,o}\,\mathrm{softmax}(\alpha^{e})_o\,o(x),\ m\equiv 1"
        )
        st.markdown(
            "then derives the cell from $s$ as from the softmax weights (per edge the best op, per node the two "
            "edges whose best op scores highest; the skip cap applies). Simplified from the paper: every edge is "
            "scored against the same supernet, without re-training between edges."
        )
        st.markdown(
            "**A size penalty (resource-aware DARTS).** A compression search wants a small cell, not only an "
            "accurate one. *Size λ* adds the cells' expected op size to $\\alpha$'s loss, the cost terms of SNAS "
            "and FBNet, with an op's weights where FBNet uses its latency; $c_o$ is op $o$'s weights as a share of a 5x5 separable "
            "convolution's (0 for pools and skips, 0.31 for a 3x3 dilated convolution):"
        )
        st.latex(
            r"\min_\alpha\ \mathcal L_{val}(w,\alpha)+\lambda\,\frac{1}{|E|}\sum_{e\in E}\sum_{o\in\mathcal O}"
            r"\mathrm{softmax}(\alpha^{e})_o\,c_o"
        )

controls, chart = present.stage()
cfg = darts.controls(ctx, controls)
with controls:
    job = darts.actions(ctx, cfg)
    cell = darts.cell_choice()
    darts.cost_note()
    if not present.active():  # the projector's narrow controls column keeps to the settings
        darts.target_note()
with chart:
    darts.alpha_chart(job, cfg, cell)
darts.panels(job, cfg, cell)
if job is not None and job.state == "done" and isinstance(job.result, engine.SearchResult):
    darts.summary(job.result)
    darts.retrain_block(ctx, job.result, measured.baseline(ctx))
evidence.recorded(["darts_target.md", "darts_collapse.md", "darts.md"], key="da_recorded")
