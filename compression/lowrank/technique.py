"""The low-rank technique: a frozen config, a per-layer plan, and `apply` through the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from compression import techniques, train
from compression.data import Dataset
from compression.lowrank import core

DEFAULT_LR = {"sgd": 0.01, "adam": 1e-4}


@dataclass(frozen=True)
class LowRank:
    """Factorise layers into thin ones: truncated SVD (linear), Tucker-2 or CP (convolutions)."""

    technique: ClassVar[str] = "low-rank"
    family: ClassVar[str] = "low-rank"
    method: str = "svd"  # svd: linear layers | tucker: Tucker-2 of k x k convs | cp: CP of k x k convs
    rule: str = "energy"  # rank (fixed) | energy (keep p of sum s^2) | auto (VBMF)
    rank: int = 16  # rule=rank: the rank of every layer (Tucker-2: both channel modes; CP: R)
    rank_in: int | None = (
        None  # Tucker-2 with rule=rank or layer_ranks: the input-channel rank, when it differs
    )
    energy: float = 0.9  # rule=energy: fraction of squared singular values kept per layer
    layers: tuple[str, ...] = ()  # only these layers (empty: every eligible layer)
    exclude: tuple[str, ...] = ()  # layers left as they are (e.g. the 10-way classifier)
    layer_ranks: tuple[tuple[str, int], ...] = ()  # per-layer fixed ranks, override the rule
    skip_if_larger: bool = True  # keep a layer whole when its factorisation would have more weights
    finetune_epochs: int = 0  # fine-tuning epochs after factorising (0: none)
    optimizer: str = "adam"  # adam | sgd (momentum 0.9)
    lr: float | None = None  # None: 1e-4 adam, 0.01 sgd
    schedule: str = "cosine"  # cosine: the rate decays to 0 over the fine-tuning | constant
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in core.METHODS:
            raise ValueError(f"Unknown method '{self.method}' (use {', '.join(core.METHODS)})")
        if self.rule not in core.RANK_RULES:
            raise ValueError(f"Unknown rule '{self.rule}' (use {', '.join(core.RANK_RULES)})")
        if self.rank < 1 or (self.rank_in is not None and self.rank_in < 1):
            raise ValueError("rank must be >= 1")
        train.check_lr(self.lr, "fine-tuning learning rate")
        train.check_epochs(self.finetune_epochs, "finetune_epochs")
        if not 0.0 < self.energy <= 1.0:
            raise ValueError("energy must be in (0, 1]")
        if self.finetune_epochs < 0:
            raise ValueError("finetune_epochs must be >= 0")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError("schedule must be cosine or constant")
        if self.optimizer not in DEFAULT_LR:
            raise ValueError(f"optimizer must be one of {', '.join(DEFAULT_LR)}")


@dataclass(frozen=True)
class LayerPlan:
    name: str
    kind: str  # Linear | Conv2d
    shape: tuple[int, ...]
    ranks: tuple[int, ...]  # svd: (r,); tucker: (R_out, R_in); cp: (R,)
    full_ranks: tuple[int, ...]  # the largest meaningful ranks
    energy_kept: float  # of the output-mode spectrum at the chosen rank
    params_before: int  # weights of the layer (bias included)
    params_after: int  # weights of its factorisation (bias included)
    factorise: bool  # False: the factorisation would not be smaller (kept whole)


def factorised_params(module: nn.Module, method: str, ranks: tuple[int, ...]) -> int:
    bias = module.bias.numel() if getattr(module, "bias", None) is not None else 0
    if method == "svd":
        out_f, in_f = module.weight.shape
        return ranks[0] * (in_f + out_f) + bias
    o, i, kh, kw = module.weight.shape
    if method == "tucker":
        r_out, r_in = ranks
        return i * r_in + r_in * r_out * kh * kw + r_out * o + bias
    r = ranks[0]
    return r * (i + kh + kw + o) + bias


def plan(model: nn.Module, config: LowRank) -> list[LayerPlan]:
    """What `apply` would do to each eligible layer, without doing it (cheap: spectra only)."""
    overrides = dict(config.layer_ranks)
    value = config.rank if config.rule == "rank" else config.energy
    rows: list[LayerPlan] = []
    for name, module in model.named_modules():
        if not core.eligible(module, config.method) or name in config.exclude:
            continue
        if config.layers and name not in config.layers:
            continue
        w = module.weight.detach()
        s0 = core.spectrum(w, 0)
        if config.method == "svd":
            full: tuple[int, ...] = (min(w.shape),)
            r = overrides.get(name) or core.choose_rank(w, config.rule, value)
            ranks: tuple[int, ...] = (min(int(r), full[0]),)
        elif config.method == "tucker":
            full = (w.shape[0], w.shape[1])
            if name in overrides or config.rule == "rank":
                r = int(overrides.get(name, config.rank))
                ranks = (min(r, full[0]), min(config.rank_in or r, full[1]))
            else:
                ranks = (
                    core.choose_rank(w, config.rule, value, 0),
                    core.choose_rank(w, config.rule, value, 1),
                )
        else:
            full = (max(w.shape[0], w.shape[1]),)
            if name in overrides:
                ranks = (int(overrides[name]),)
            elif config.rule == "rank":
                ranks = (int(config.rank),)
            else:
                ranks = (
                    max(
                        core.choose_rank(w, config.rule, value, 0), core.choose_rank(w, config.rule, value, 1)
                    ),
                )
        before = core.params_of(module)
        after = factorised_params(module, config.method, ranks)
        rows.append(
            LayerPlan(
                name=name,
                kind=type(module).__name__,
                shape=tuple(w.shape),
                ranks=ranks,
                full_ranks=full,
                energy_kept=core.kept_energy(s0, ranks[0]),
                params_before=before,
                params_after=after,
                factorise=after < before or not config.skip_if_larger,
            )
        )
    return rows


def factorise(model: nn.Module, config: LowRank) -> nn.Module:
    """A factorised copy of `model` (no fine-tuning)."""
    out = train.clone(model).eval()
    modules = dict(out.named_modules())
    for row in plan(out, config):
        if not row.factorise:
            continue
        layer = modules[row.name]
        if config.method == "svd":
            new: nn.Module = core.svd_linear(layer, row.ranks[0])  # type: ignore[arg-type]
        elif config.method == "tucker":
            new = core.tucker2_conv(layer, *row.ranks)  # type: ignore[arg-type]
        else:
            new = core.cp_conv(layer, row.ranks[0])  # type: ignore[arg-type]
        core.set_module(out, row.name, new)
    return out.eval()


@techniques.register(LowRank, slow=False)
def apply_lowrank(
    model: nn.Module,
    config: LowRank,
    data: Dataset,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> nn.Module:
    """Factorise, then (optionally) fine-tune the thin layers together with the rest."""
    if progress:
        progress(0.0, f"factorising ({config.method}, {config.rule})")
    out = factorise(model, config)
    if config.finetune_epochs > 0:
        lr = config.lr if config.lr is not None else DEFAULT_LR[config.optimizer]
        train.fit(
            out,
            data,
            epochs=config.finetune_epochs,
            optimizer=config.optimizer,
            lr=lr,
            seed=config.seed,
            progress=progress,
            should_stop=should_stop,
            progress_span=(0.05, 1.0),
            schedule=config.schedule,
        )
    if progress:
        progress(1.0, "factorised")
    return out.eval()


def layer_macs(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Multiply-accumulates per image of every conv and linear leaf (forward hooks on one image)."""
    found: dict[str, int] = {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            hooks.append(
                m.register_forward_hook(
                    lambda mod, i, o, n=name: found.__setitem__(n, mod.in_features * mod.out_features)
                )
            )
        elif isinstance(m, nn.Conv2d):

            def conv_hook(mod: nn.Conv2d, i: object, o: torch.Tensor, n: str = name) -> None:
                per_out = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
                found[n] = int(o[0].numel()) * per_out

            hooks.append(m.register_forward_hook(conv_hook))
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
    return found
