"""Low-rank factorisation: truncated SVD of linear layers, Tucker-2 and CP of convolutions.

A linear layer W (out x in) ~ U_r S_r V_r^T becomes two linear layers (in -> r -> out):
r (in + out) weights instead of in x out. A k x k convolution W (O, I, k, k) becomes, with
Tucker-2 over its channel modes (Kim et al. 2016), 1x1 (I -> R_in), k x k core (R_in -> R_out)
and 1x1 (R_out -> O); with CP (Lebedev et al. 2015), 1x1 (I -> R), depthwise k x 1, depthwise
1 x k and 1x1 (R -> O). tensorly (pytorch back end) does the tensor decompositions.

Ranks come three ways: a fixed rank, the smallest rank keeping `energy` of the squared singular
values, or VBMF (Nakajima et al. 2013's empirical variational Bayes closed form, reimplemented
below in a few lines), which finds the rank the data supports without a knob.

A factorised layer is an `nn.Sequential` in the original's place, so its state-dict keys are
`name.0.weight`, `name.1.weight`, ...: `restructure(model, state)` rebuilds that structure on a
fresh zoo model from the keys and shapes alone, so a factorised model's file loads back.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

METHODS = ("svd", "tucker", "cp")
RANK_RULES = ("rank", "energy", "auto")


class LowRankLinear(nn.Sequential):
    """Linear in -> rank -> out: `0` holds S_r^1/2 V_r^T (no bias), `1` holds U_r S_r^1/2 and the bias."""


class Tucker2Conv(nn.Sequential):
    """1x1 (I -> R_in), k x k core (R_in -> R_out, the original stride/padding), 1x1 (R_out -> O, bias)."""


class CPConv(nn.Sequential):
    """1x1 (I -> R), depthwise k x 1, depthwise 1 x k, 1x1 (R -> O, bias)."""


FACTORISED = (LowRankLinear, Tucker2Conv, CPConv)


# ---------------------------------------------------------------- ranks


def spectrum(w: torch.Tensor, mode: int = 0) -> np.ndarray:
    """Singular values of the weight unfolded along `mode` (0: output rows, 1: input channels)."""
    m = w.detach().double()
    m = m.movedim(mode, 0).reshape(m.shape[mode], -1)
    if min(m.shape) > 128:  # big unfoldings: eigenvalues of the small Gram matrix (fast, double precision)
        gram = m @ m.t() if m.shape[0] <= m.shape[1] else m.t() @ m
        return torch.linalg.eigvalsh(gram).flip(0).clamp_min(0).sqrt().numpy()
    return torch.linalg.svdvals(m).numpy()


def energy_rank(s: np.ndarray, energy: float) -> int:
    """Smallest r whose top-r squared singular values keep at least `energy` (0..1] of the total."""
    e = np.cumsum(np.asarray(s, dtype=np.float64) ** 2)
    if e.size == 0 or e[-1] == 0:
        return 1
    return int(min(len(s), np.searchsorted(e / e[-1], min(energy, 1.0) - 1e-12) + 1))


def kept_energy(s: np.ndarray, rank: int) -> float:
    e = np.asarray(s, dtype=np.float64) ** 2
    return float(e[:rank].sum() / max(e.sum(), 1e-300))


def vbmf_rank(y: np.ndarray) -> int:
    """Empirical VBMF (Nakajima, Sugiyama, Babacan & Tomioka 2013, Theorem 13): the rank of the
    global optimum with the noise variance estimated by minimising the free energy."""
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, dtype=np.float64)
    if y.shape[0] > y.shape[1]:
        y = y.T
    big_l, big_m = y.shape
    s = np.linalg.svd(y, compute_uv=False)
    alpha = big_l / big_m
    tau_bar = 2.5129 * math.sqrt(alpha)
    x_bar = (1 + tau_bar) * (1 + alpha / tau_bar)
    residual = max(0.0, float((y**2).sum() - (s**2).sum()))
    eh_ub = int(min(math.ceil(big_l / (1 + alpha)) - 1, big_l)) - 1
    upper = (float((s**2).sum()) + residual) / (big_l * big_m)
    lower = max(
        s[eh_ub + 1] ** 2 / (big_m * x_bar) if eh_ub + 1 < len(s) else 0.0,
        float(np.mean(s[eh_ub + 1 :] ** 2)) / big_m if eh_ub + 1 < len(s) else 0.0,
    )
    lower = max(lower, upper * 1e-12)

    def tau(x: np.ndarray) -> np.ndarray:
        return 0.5 * (x - (1 + alpha) + np.sqrt(np.maximum((x - (1 + alpha)) ** 2 - 4 * alpha, 0.0)))

    def free_energy(sigma2: float) -> float:
        x = s**2 / (big_m * sigma2)
        z1, z2 = x[x > x_bar], x[x <= x_bar]
        t1 = tau(z1)
        return float(
            np.sum(z2 - np.log(z2))
            + np.sum(z1 - t1)
            + np.sum(np.log((t1 + 1) / z1))
            + alpha * np.sum(np.log(t1 / alpha + 1))
            + residual / (big_m * sigma2)
            + (big_l - len(s)) * math.log(sigma2)
        )

    if upper <= lower:
        return 1
    sigma2 = minimize_scalar(free_energy, bounds=(lower, upper), method="bounded").x
    threshold = math.sqrt(big_m * sigma2 * (1 + tau_bar) * (1 + alpha / tau_bar))
    return max(1, int((s > threshold).sum()))


def choose_rank(w: torch.Tensor, rule: str, value: float, mode: int = 0) -> int:
    """The rank of `w` unfolded along `mode` under a rule: rank (value = r), energy (value = p), auto (VBMF)."""
    full = w.shape[mode] if w.dim() > 2 else min(w.shape)
    full = min(full, int(np.prod(w.shape)) // w.shape[mode])
    if rule == "rank":
        return int(max(1, min(full, int(value))))
    if rule == "energy":
        return max(1, min(full, energy_rank(spectrum(w, mode), value)))
    if rule == "auto":
        m = w.detach().double().movedim(mode, 0).reshape(w.shape[mode], -1).numpy()
        return max(1, min(full, vbmf_rank(m)))
    raise ValueError(f"Unknown rank rule '{rule}' (use {', '.join(RANK_RULES)})")


# ---------------------------------------------------------------- factorising one layer


def svd_linear(layer: nn.Linear, rank: int) -> LowRankLinear:
    """W ~ U_r S_r V_r^T as two linear layers; the squared error is the discarded energy sum_{i>r} s_i^2."""
    w = layer.weight.detach().double()
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    r = max(1, min(rank, s.numel()))
    root = s[:r].sqrt()
    first = nn.Linear(layer.in_features, r, bias=False)
    second = nn.Linear(r, layer.out_features, bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_((root[:, None] * vh[:r]).float())
        second.weight.copy_((u[:, :r] * root[None, :]).float())
        if layer.bias is not None:
            second.bias.copy_(layer.bias.detach())
    return LowRankLinear(first, second)


def _tl():
    import tensorly as tl

    tl.set_backend("pytorch")
    return tl


def _leading_vectors(m: torch.Tensor, r: int) -> torch.Tensor:
    """The r leading left singular vectors of m (rows x cols), via the eigenvectors of m m^T."""
    _, vecs = torch.linalg.eigh(m @ m.t())
    return vecs[:, -r:].flip(1)


def tucker2_conv(layer: nn.Conv2d, rank_out: int, rank_in: int, iterations: int = 2) -> Tucker2Conv:
    """Tucker-2 over the output and input channel modes: HOSVD, then a few HOOI sweeps.

    The factors are the leading singular vectors of the two channel unfoldings (HOSVD, whose
    error is at most the sum of the two discarded energies); HOOI sweeps only lower it. Written with
    torch's eigh on the small Gram matrices: tensorly's partial_tucker gives the same factors but
    took 10 s for one 512 x 512 x 3 x 3 kernel on the development machine (full SVDs of 512 x 4608).
    """
    w = layer.weight.detach().double()
    o, i = w.shape[:2]
    r_out = max(1, min(rank_out, o))
    r_in = max(1, min(rank_in, i))
    u_out = _leading_vectors(w.reshape(o, -1), r_out)  # (O, R_out)
    u_in = _leading_vectors(w.transpose(0, 1).reshape(i, -1), r_in)  # (I, R_in)
    for _ in range(iterations):  # HOOI: each factor from the kernel projected on the other
        u_out = _leading_vectors(torch.einsum("oihw,ib->obhw", w, u_in).reshape(o, -1), r_out)
        u_in = _leading_vectors(torch.einsum("oihw,oa->iahw", w, u_out).reshape(i, -1), r_in)
    core = torch.einsum("oihw,oa,ib->abhw", w, u_out, u_in)
    first = nn.Conv2d(layer.in_channels, r_in, 1, bias=False)
    mid = nn.Conv2d(r_in, r_out, layer.kernel_size, layer.stride, layer.padding, layer.dilation, bias=False)
    last = nn.Conv2d(r_out, layer.out_channels, 1, bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_(u_in.t().reshape(r_in, -1, 1, 1).float())
        mid.weight.copy_(core.float())
        last.weight.copy_(u_out.reshape(layer.out_channels, r_out, 1, 1).float())
        if layer.bias is not None:
            last.bias.copy_(layer.bias.detach())
    return Tucker2Conv(first, mid, last)


def cp_conv(layer: nn.Conv2d, rank: int) -> CPConv:
    """CP (PARAFAC by ALS, tensorly, seeded random start: its SVD start takes full SVDs) into four thin convolutions."""
    from tensorly.decomposition import parafac

    _tl()
    w = layer.weight.detach().double()
    r = max(1, rank)
    weights, (a, b, c, d) = parafac(w, rank=r, init="random", n_iter_max=50, tol=1e-6, random_state=0)
    a = a * weights[None, :]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (
        layer.kernel_size,
        layer.stride,
        layer.padding,
        layer.dilation,
    )  # type: ignore[misc]
    first = nn.Conv2d(layer.in_channels, r, 1, bias=False)
    vert = nn.Conv2d(r, r, (kh, 1), (sh, 1), (ph, 0), (dh, 1), groups=r, bias=False)
    horiz = nn.Conv2d(r, r, (1, kw), (1, sw), (0, pw), (1, dw), groups=r, bias=False)
    last = nn.Conv2d(r, layer.out_channels, 1, bias=layer.bias is not None)
    with torch.no_grad():
        first.weight.copy_(b.t().reshape(r, -1, 1, 1).float())
        vert.weight.copy_(c.t().reshape(r, 1, kh, 1).float())
        horiz.weight.copy_(d.t().reshape(r, 1, 1, kw).float())
        last.weight.copy_(a.reshape(layer.out_channels, r, 1, 1).float())
        if layer.bias is not None:
            last.bias.copy_(layer.bias.detach())
    return CPConv(first, vert, horiz, last)


def reconstruct(f: nn.Module) -> torch.Tensor:
    """The dense weight a factorised layer computes (for error checks and the spectrum view)."""
    if isinstance(f, LowRankLinear):
        return f[1].weight.detach() @ f[0].weight.detach()
    if isinstance(f, Tucker2Conv):
        u_in = f[0].weight.detach().flatten(1)  # (R_in, I)
        u_out = f[2].weight.detach().flatten(1)  # (O, R_out)
        return torch.einsum("oa,abhw,bi->oihw", u_out, f[1].weight.detach(), u_in)
    if isinstance(f, CPConv):
        b = f[0].weight.detach().flatten(1)  # (R, I)
        c = f[1].weight.detach().flatten(1)  # (R, kh)
        d = f[2].weight.detach().flatten(1)  # (R, kw)
        a = f[3].weight.detach().flatten(1)  # (O, R)
        return torch.einsum("or,ri,rh,rw->oihw", a, b, c, d)
    raise TypeError(f"{type(f).__name__} is not a factorised layer")


def eligible(module: nn.Module, method: str) -> bool:
    """SVD takes linear layers; Tucker-2 and CP take ordinary (not grouped) k x k convolutions."""
    if method == "svd":
        return type(module) is nn.Linear
    return (
        type(module) is nn.Conv2d
        and module.groups == 1
        and tuple(module.kernel_size) != (1, 1)
        and module.padding_mode == "zeros"
        and isinstance(module.padding, tuple)
    )


def params_of(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- loading factorised files


def restructure(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Give a freshly built zoo model the factorised layers that `state` holds (in place).

    A layer `name` whose `name.weight` is missing while `name.0.weight` is present was factorised:
    2 parts (linear) is SVD, 3 parts Tucker-2, 4 parts CP; ranks come from the stored shapes.
    """
    for name, module in list(model.named_modules()):
        prefix = f"{name}." if name else ""
        if (
            not isinstance(module, nn.Linear | nn.Conv2d)
            or prefix + "weight" in state
            or prefix + "0.weight" not in state
        ):
            continue
        parts = sum(1 for i in range(4) if f"{prefix}{i}.weight" in state)
        shapes = [tuple(state[f"{prefix}{i}.weight"].shape) for i in range(parts)]
        if isinstance(module, nn.Linear) and parts == 2:
            new: nn.Module = svd_linear(module, shapes[0][0])
        elif isinstance(module, nn.Conv2d) and parts == 3:
            new = Tucker2Conv(
                nn.Conv2d(module.in_channels, shapes[0][0], 1, bias=False),
                nn.Conv2d(
                    shapes[1][1],
                    shapes[1][0],
                    module.kernel_size,
                    module.stride,
                    module.padding,
                    module.dilation,
                    bias=False,
                ),
                nn.Conv2d(shapes[2][1], module.out_channels, 1, bias=module.bias is not None),
            )
        elif isinstance(module, nn.Conv2d) and parts == 4:
            with torch.no_grad():
                new = cp_conv_shell(module, shapes[0][0])
        else:
            continue
        set_module(model, name, new)
    return model


def cp_conv_shell(layer: nn.Conv2d, r: int) -> CPConv:
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = layer.kernel_size, layer.stride, layer.padding, layer.dilation  # type: ignore[misc]
    return CPConv(
        nn.Conv2d(layer.in_channels, r, 1, bias=False),
        nn.Conv2d(r, r, (kh, 1), (sh, 1), (ph, 0), (dh, 1), groups=r, bias=False),
        nn.Conv2d(r, r, (1, kw), (1, sw), (0, pw), (1, dw), groups=r, bias=False),
        nn.Conv2d(r, layer.out_channels, 1, bias=layer.bias is not None),
    )


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)
