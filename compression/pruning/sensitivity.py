"""Per-layer sensitivity scan: prune one layer alone at several sparsities, measure validation accuracy.

Layers whose accuracy collapses early are sensitive (often the first conv and the classifier);
robust layers can be pruned much harder. `rates_for_drop` turns a scan into per-layer rates:
"prune each layer as far as it tolerates an accuracy drop of X".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from compression import metrics, train
from compression.data import Dataset
from compression.pruning import core

DEFAULT_AMOUNTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
PAGE_IMAGES = 2000  # validation images the page's scan uses: 10 levels of LeNet-5 in seconds, not minutes


@dataclass(frozen=True)
class SensitivityScan:
    layers: tuple[str, ...]
    amounts: tuple[float, ...]
    accuracy: tuple[tuple[float, ...], ...]  # [layer][amount], validation top-1
    baseline: float  # validation top-1 of the unpruned model
    granularity: str

    def rows(self) -> list[dict[str, object]]:
        """Long format: one row per (layer, amount)."""
        return [
            {"layer": layer, "amount": a, "accuracy": acc, "drop": self.baseline - acc}
            for layer, accs in zip(self.layers, self.accuracy, strict=True)
            for a, acc in zip(self.amounts, accs, strict=True)
        ]


@torch.no_grad()
def scan(
    model: nn.Module,
    data: Dataset,
    amounts: Sequence[float] = DEFAULT_AMOUNTS,
    *,
    granularity: str = "weight",
    layers: Sequence[str] | None = None,
    max_images: int | None = None,
    progress: train.Progress | None = None,
    should_stop: train.StopFlag | None = None,
) -> SensitivityScan:
    """Magnitude-prune each layer alone at each amount and record validation top-1.

    The input model is not modified: we work on a clone and restore each layer after its row.
    """
    work = train.clone(model).eval()
    x, y = data.x_val, data.y_val
    if max_images is not None:
        x, y = x[:max_images], y[:max_images]
    base = metrics.evaluate(work, x, y)[0]
    all_layers = dict(core.prunable_layers(work))
    names = list(layers) if layers is not None else list(all_layers)
    unknown = [n for n in names if n not in all_layers]
    if unknown:
        raise ValueError(f"Unknown layer(s) {', '.join(unknown)}; prunable: {', '.join(all_layers)}")
    total = max(1, len(names) * len(amounts))
    table: list[tuple[float, ...]] = []
    for li, name in enumerate(names):
        module = all_layers[name]
        original = module.weight.detach().clone()
        scores = core.unit_scores(original, granularity, "magnitude", None)
        order = torch.sort(scores, stable=True).indices  # sorted once: each amount is a prefix
        row: list[float] = []
        for ai, a in enumerate(amounts):
            core.check_stop(should_stop)
            keep = torch.ones(scores.numel(), dtype=torch.bool)
            keep[order[: core.exact_count(a, scores.numel())]] = False
            mask = keep[:, None].expand(core.unit_view(original, granularity).shape).reshape(original.shape)
            module.weight.copy_(original * mask)
            row.append(metrics.evaluate(work, x, y)[0])
            if progress:
                done = li * len(amounts) + ai + 1
                progress(done / total, f"{name} at {a:.0%}: {row[-1]:.1%}")
        module.weight.copy_(original)
        table.append(tuple(row))
    return SensitivityScan(tuple(names), tuple(float(a) for a in amounts), tuple(table), base, granularity)


def rates_for_drop(result: SensitivityScan, max_drop: float) -> dict[str, float]:
    """Per layer, the largest scanned amount such that it and every smaller amount lose <= max_drop.

    max_drop is in accuracy fraction (0.01 = one point). A layer that cannot lose even the
    smallest amount gets 0.
    """
    rates: dict[str, float] = {}
    for layer, accs in zip(result.layers, result.accuracy, strict=True):
        best = 0.0
        for a, acc in sorted(zip(result.amounts, accs, strict=True)):
            if result.baseline - acc > max_drop:
                break
            best = a
        rates[layer] = best
    return rates
