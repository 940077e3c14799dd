"""Distillation lab: move the temperature and see what soft targets carry; distil a student next to its scratch twin."""

from __future__ import annotations

import streamlit as st

from ui import distill, evidence, lazy, present, sidebar, state

state.keep_only(
    "T", "alpha", "loss", "student", "width", "epochs", "labels", "img", "jitter", lazy.VIEW, "job"
)
ctx = sidebar.render()

st.title("Distillation lab")
st.caption(
    f"Teacher: the sidebar's baseline ({ctx.choice.model}, {ctx.source}). A smaller student learns from the "
    "teacher's softened probabilities as well as from the labels, and is compared with the same student trained "
    "from scratch."
)
with lazy.expander("How distillation works (formulas)", key="d_formulas") as shown:
    if shown:
        st.markdown(
            "The teacher's logits $z$ are softened by a temperature $T$ (Hinton, Vinyals and Dean 2015):"
        )
        st.latex(r"p_i(T) = \frac{e^{z_i / T}}{\sum_j e^{z_j / T}}")
        st.markdown(
            "At $T = 1$ a well-trained teacher is almost one-hot; a larger $T$ reveals which wrong classes it "
            "finds similar (a shirt resembles a T-shirt, not a bag): the *dark knowledge*. The student $s$ is trained on"
        )
        st.latex(
            r"L = \alpha\, T^2\, \mathrm{KL}\big(p^{t}(T)\,\|\,p^{s}(T)\big) + (1 - \alpha)\, \mathrm{CE}\big(y, p^{s}(1)\big)"
        )
        st.markdown(
            "**alpha weighs the soft term** (Hinton's and torchdistill's convention; Intel's INC names the weights the "
            "other way round). The $T^2$ keeps the soft gradients the same size when $T$ changes: the gradient of the KL "
            "shrinks like $1/T^2$. For large $T$ and zero-mean logits the KL term becomes logit matching, "
            "$\\tfrac{1}{2}\\lVert z^s - z^t \\rVert^2 / N$ (Ba and Caruana 2014), the **mse** loss here. The **hint** loss "
            "(FitNets, Romero et al. 2015) adds $\\lVert W_r h^s - h^t \\rVert^2$ between the students' and teacher's "
            "penultimate features through a learned linear adapter $W_r$. With a **label budget** only $N$ training "
            "images keep their label; the rest are an unlabelled *transfer set* that the student learns from the "
            "teacher alone (CE is taken on the labelled images only)."
        )

stage = present.stage()  # the temperature and the teacher's numbers beside the soft targets
config, image = distill.controls(ctx, stage[0])
size = distill.student_size(config.student, config.width, ctx.choice.dataset, ctx)
if isinstance(size, str):
    st.error(f"This student cannot be built: {size}")
else:
    teacher_params = sum(p.numel() for p in ctx.model.parameters())
    st.caption(
        f"Student: {config.student} at width {config.width:g}, {size:,} parameters "
        f"({teacher_params / max(1, size):.1f}x fewer than the teacher's {teacher_params:,})."
    )

distill.explorer(ctx, config.temperature, image, stage)
if not isinstance(size, str):
    distill.training(ctx, config)
    distill.sweeps(ctx, config)
st.info(
    "Measured on fashion-mnist with the shipped LeNet-5 teacher (90.6 %; distillation.md at the foot of this page). "
    "**Transfer set:** with 2,000 labels and the other 53,000 training images unlabelled, a width-1/4 "
    "LeNet-300-100 student distilled at T = 4 reaches 87.1 % against 81.0 % for the same student trained on the "
    "labels alone (+6.1 points, 3 seeds). **Every label:** the 0.5-point target over the scratch twin was not "
    "reached on plain images (width-1/2 students, T 2 to 4, alpha 0.5 to 0.9, 15 epochs: -0.7 to +0.04 points). "
    "The teacher was trained on these very images without augmentation, so its soft targets on them are nearly "
    "one-hot and add little beyond the labels (a LeNet-5 trained with +-2 pixel shifts reached only 89.1 %, too "
    "weak to help). With **Shift images** on, the teacher labels every shifted image and the distilled width-1/2 "
    "LeNet-300-100 beats its equally shifted twin by +0.85 points, though shifting itself costs that MLP more "
    "(and a width-1/2 LeNet-5 trained 10 epochs did not gain). "
    "**Temperature:** the narrow (1/16) student does best at T = 1 and loses up to 7 points at T = 20 with "
    "alpha = 0.9 (the soft term, scaled by T^2, drowns the labels); the wide one is flat within a point for T >= 4."
)
evidence.recorded(["distillation.md"], key="d_recorded")
