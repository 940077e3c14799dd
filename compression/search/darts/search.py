"""The bilevel search: weights on one half of a training subset, alphas on the other (DARTS).

Each step first moves the architecture parameters on an alpha-half batch, then the weights on a
weight-half batch. First order takes the gradient of the alpha-half loss at the current weights;
second order (DARTS's unrolled step) takes it at w' = w - xi grad_w L_train(w, alpha) and adds the
implicit term -xi grad^2_{alpha,w} L_train . grad_w' L_val, estimated by finite differences.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
from torch import nn

from compression import data as data_mod
from compression import rng
from compression.search.darts.config import (
    MAX_SKIPS,
    SELECTION_IMAGES,
    DartsConfig,
    EpochRecord,
    SearchResult,
    device_name,
    pick_device,
)
from compression.search.darts.genotype import Genotype, derive
from compression.search.darts.selection import perturbation_scores, selection_passes
from compression.train import Cancelled, Progress, StopFlag

ARCH_BETAS = (0.5, 0.999)
ARCH_WEIGHT_DECAY = 1e-3
GRAD_CLIP = 5.0
HVP_EPS = 0.01  # finite-difference step: eps = 0.01 / ||grad_w' L_val|| (DARTS)


def search_halves(
    ds: data_mod.Dataset, cfg: DartsConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded subset of the training split, cut in two: (x_w, y_w) trains weights, (x_a, y_a) alphas."""
    n = min(cfg.search_subset, len(ds.x_train))
    idx = torch.randperm(len(ds.x_train), generator=torch.Generator().manual_seed(cfg.seed))[:n]
    half = n // 2
    w, a = idx[:half], idx[half : 2 * half]
    return ds.x_train[w], ds.y_train[w], ds.x_train[a], ds.y_train[a]


def _grads(loss: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    grads = torch.autograd.grad(loss, list(params), allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)]


def size_term(net: nn.Module, penalty: float) -> torch.Tensor | float:
    """The size penalty added to the alphas' loss: penalty x the cells' expected op size (0 when off)."""
    return penalty * net.expected_cost() if penalty > 0 else 0.0  # type: ignore[operator]


def first_order_step(
    net: nn.Module, a_opt: torch.optim.Optimizer, xv: torch.Tensor, yv: torch.Tensor, penalty: float = 0.0
) -> torch.Tensor:
    """alpha -= lr * grad_alpha (L_val(w, alpha) + penalty * expected size); returns the alpha-half logits."""
    arch = net.arch_parameters()  # type: ignore[operator]
    logits = net(xv)
    loss = nn.functional.cross_entropy(logits, yv) + size_term(net, penalty)
    for p, g in zip(arch, _grads(loss, arch), strict=True):
        p.grad = g
    a_opt.step()
    return logits.detach()


def _virtual_step(
    weights: list[nn.Parameter], grads: list[torch.Tensor], w_opt: torch.optim.SGD, xi: float
) -> None:
    """w <- w - xi (momentum buffer + grad + weight decay), the step SGD would take (DARTS's w')."""
    group = w_opt.param_groups[0]
    with torch.no_grad():
        for w, g in zip(weights, grads, strict=True):
            buf = w_opt.state.get(w, {}).get("momentum_buffer")
            step = g + group["weight_decay"] * w
            if buf is not None:
                step = step + group["momentum"] * buf
            w.sub_(xi * step)


def second_order_step(
    net: nn.Module,
    a_opt: torch.optim.Optimizer,
    w_opt: torch.optim.SGD,
    batch: tuple[torch.Tensor, torch.Tensor],
    xv: torch.Tensor,
    yv: torch.Tensor,
    penalty: float = 0.0,
) -> torch.Tensor:
    """The unrolled architecture step (the size penalty depends on alpha alone: its gradient is added as it
    is); returns the alpha-half logits (at w')."""
    ce = nn.functional.cross_entropy
    xb, yb = batch
    arch = net.arch_parameters()  # type: ignore[operator]
    weights = net.weight_parameters()  # type: ignore[operator]
    xi = float(w_opt.param_groups[0]["lr"])
    backup = [w.detach().clone() for w in weights]
    _virtual_step(weights, _grads(ce(net(xb), yb), weights), w_opt, xi)
    logits = net(xv)
    grads = _grads(ce(logits, yv), arch + weights)
    d_alpha, d_w = grads[: len(arch)], grads[len(arch) :]
    norm = torch.sqrt(sum((g * g).sum() for g in d_w))  # type: ignore[arg-type]
    eps = HVP_EPS / max(float(norm), 1e-12)

    def train_grad_at(sign: float) -> list[torch.Tensor]:
        with torch.no_grad():
            for w, b, g in zip(weights, backup, d_w, strict=True):
                w.copy_(b + sign * eps * g)
        return _grads(ce(net(xb), yb), arch)

    g_plus, g_minus = train_grad_at(1.0), train_grad_at(-1.0)
    with torch.no_grad():
        for w, b in zip(weights, backup, strict=True):
            w.copy_(b)
    size = size_term(net, penalty)
    d_size = _grads(size, arch) if isinstance(size, torch.Tensor) else [torch.zeros_like(p) for p in arch]
    for p, da, gp, gm, ds in zip(arch, d_alpha, g_plus, g_minus, d_size, strict=True):
        p.grad = da - xi * (gp - gm) / (2 * eps) + ds
    a_opt.step()
    return logits.detach()


def weight_step(
    net: nn.Module, w_opt: torch.optim.Optimizer, xb: torch.Tensor, yb: torch.Tensor
) -> torch.Tensor:
    logits = net(xb)
    loss = nn.functional.cross_entropy(logits, yb)
    w_opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.weight_parameters(), GRAD_CLIP)  # type: ignore[operator]
    w_opt.step()
    for p in net.arch_parameters():  # type: ignore[operator]
        p.grad = None  # the weight loss does not move the alphas
    return logits.detach()


def current(net: nn.Module, cfg: DartsConfig) -> tuple[Genotype, int]:
    """The genotype derived now (cure applied) and the normal cell's skips before any cap."""
    normal = net.selection_weights(False)  # type: ignore[operator]
    reduce = net.selection_weights(True)  # type: ignore[operator]
    skips = sum(op == "skip_connect" for op, _ in derive(normal, cfg.nodes))
    genotype = Genotype(derive(normal, cfg.nodes, cap_skips=cfg.cap()), derive(reduce, cfg.nodes))
    return genotype, skips


def early_stop_fires(cfg: DartsConfig, skips: int) -> bool:
    """DARTS+: with the early-stop cure, stop once the normal cell holds more than 2 skips."""
    return cfg.cure == "early-stop" and skips > MAX_SKIPS


def final_genotype(records: Sequence[EpochRecord]) -> Genotype:
    """The search's answer: the last epoch's genotype, or, when the early-stop cure fired, the one of
    the epoch before (the architecture before the skips took over; DARTS+)."""
    if records[-1].stopped and len(records) > 1:
        return records[-2].genotype
    return records[-1].genotype


SEARCH_SHARE = 0.85  # of the progress bar, when perturbation selection follows the epochs


def select(
    net: nn.Module,
    cfg: DartsConfig,
    x: torch.Tensor,
    y: torch.Tensor,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> tuple[Genotype, dict[str, list[list[float]]]]:
    """Perturbation-based selection (DARTS-PT) on the trained supernet: both cells scored on the first
    SELECTION_IMAGES of the alpha half, then derived as from alphas (the cap cure applies)."""
    x, y = x[:SELECTION_IMAGES], y[:SELECTION_IMAGES]
    total = selection_passes(cfg.nodes)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if should_stop is not None and should_stop():
            raise Cancelled("cancelled by the user")
        if progress is not None:
            share = SEARCH_SHARE + (1 - SEARCH_SHARE) * done / total
            progress(share, f"selection by perturbation: {done}/{total} passes")

    scores = {
        name: perturbation_scores(net, x, y, reduction, step)
        for name, reduction in (("normal", False), ("reduce", True))
    }
    genotype = Genotype(
        derive(scores["normal"], cfg.nodes, cap_skips=cfg.cap()), derive(scores["reduce"], cfg.nodes)
    )
    return genotype, scores


def _correct(logits: torch.Tensor, y: torch.Tensor) -> int:
    return int((logits.argmax(1) == y).sum())


def search(
    cfg: DartsConfig,
    ds: data_mod.Dataset,
    *,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    device: str | torch.device | None = None,
) -> SearchResult:
    """Run the search for cfg.epochs epochs (fewer when the early-stop cure fires)."""
    from compression.search.darts.network import SearchNetwork

    cfg.validate()
    dev = pick_device(device)
    start = time.perf_counter()
    xw, yw, xa, ya = (t.to(dev) for t in search_halves(ds, cfg))
    with rng.seeded(cfg.seed):
        net = SearchNetwork(
            ds.input_shape,
            ds.num_classes,
            channels=cfg.channels,
            cells=cfg.cells,
            nodes=cfg.nodes,
            partial=cfg.partial_channels,
        ).to(dev)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    a_opt = torch.optim.Adam(
        net.arch_parameters(), lr=cfg.arch_lr, betas=ARCH_BETAS, weight_decay=ARCH_WEIGHT_DECAY
    )
    steps = max(1, math.ceil(len(xw) / cfg.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, cfg.epochs * steps)
    records: list[EpochRecord] = []
    stopped_at: int | None = None
    share = SEARCH_SHARE if cfg.selection == "perturbation" else 1.0
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        seen = right_w = right_a = 0
        pairs = zip(
            data_mod.batches(xw, yw, cfg.batch_size, shuffle_seed=cfg.seed * 1000 + epoch),
            data_mod.batches(xa, ya, cfg.batch_size, shuffle_seed=cfg.seed * 1000 + 500 + epoch),
            strict=False,
        )
        for step, ((xb, yb), (xv, yv)) in enumerate(pairs, 1):
            if should_stop is not None and should_stop():
                raise Cancelled("cancelled by the user")
            if epoch <= cfg.warmup_epochs:
                with torch.no_grad():
                    val_logits = net(xv)
            elif cfg.order == 2:
                val_logits = second_order_step(net, a_opt, w_opt, (xb, yb), xv, yv, cfg.size_penalty)
            else:
                val_logits = first_order_step(net, a_opt, xv, yv, cfg.size_penalty)
            logits = weight_step(net, w_opt, xb, yb)
            sched.step()
            seen += len(yb)
            right_w += _correct(logits, yb)
            right_a += _correct(val_logits, yv)
            if progress is not None:
                done = ((epoch - 1) + step / steps) / cfg.epochs
                progress(share * done, f"search epoch {epoch}/{cfg.epochs}")
        genotype, skips = current(net, cfg)
        stopped = early_stop_fires(cfg, skips)
        record = EpochRecord(
            epoch=epoch,
            alphas_normal=net.op_weights(False).detach().cpu().tolist(),
            alphas_reduce=net.op_weights(True).detach().cpu().tolist(),
            train_acc=right_w / max(1, seen),
            val_acc=right_a / max(1, seen),
            skips=skips,
            genotype=genotype,
            seconds=time.perf_counter() - t0,
            stopped=stopped,
            ranked_normal=net.selection_weights(False).cpu().tolist(),
            ranked_reduce=net.selection_weights(True).cpu().tolist(),
        )
        records.append(record)
        if on_epoch is not None:
            on_epoch(record)
        if stopped:
            stopped_at = epoch
            break
    genotype, scores, selection_s = final_genotype(records), None, 0.0
    if cfg.selection == "perturbation":  # from the supernet where the search ended
        t_sel = time.perf_counter()
        genotype, scores = select(net, cfg, xa, ya, progress, should_stop)
        selection_s = time.perf_counter() - t_sel
    return SearchResult(
        config=cfg,
        records=records,
        genotype=genotype,
        device=device_name(dev),
        stopped_at=stopped_at,
        seconds=time.perf_counter() - start,
        selection_scores=scores,
        selection_seconds=selection_s,
    )
