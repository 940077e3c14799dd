"""The compression-policy space (AMC / HAQ style): a prune rate and a bit width per layer.

A point is a dict of Optuna parameters, `prune:<layer>` and `bits:<layer>`, on ordered grids
(FloatDistribution with a step, IntDistribution), so TPE and GP see the order and our own
samplers (simulated annealing, REINFORCE) can step or index along each grid. A point becomes
a recipe of existing techniques: magnitude pruning with per-layer amounts, then a quantization
scheme with per-layer bits. Nothing new is applied here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from torch import nn

from compression import techniques
from compression.pruning.unstructured import MagnitudePrune
from compression.quantization import schemes
from compression.train import Progress, StopFlag

SCHEMES: dict[str, type] = {  # how the per-layer bits are spent: every config takes layer_bits
    "linear": schemes.LinearQuant,  # per-channel symmetric uniform
    "kmeans": schemes.KMeansQuant,  # Deep Compression weight sharing
    "log": schemes.LogQuant,  # powers of two
}


@dataclass(frozen=True)
class PolicySpace:
    kind: ClassVar[str] = "policy"
    title: ClassVar[str] = "compression policy"
    technique: ClassVar[str] = "search-policy"
    costs: ClassVar[tuple[str, ...]] = ("size", "macs")  # masked / fake-quantized weights time like dense

    prune_max: float = 0.95  # highest per-layer prune rate on the grid
    prune_step: float = 0.05  # grid step of the prune rate (0 = keep every weight)
    bits_min: int = 2  # narrowest weight width on the grid
    bits_max: int = 8  # widest; float (32) is not a choice: the search is about compressing
    scheme: str = "linear"  # linear (per-channel symmetric) | kmeans | log

    def __post_init__(self) -> None:
        if not 0.0 < self.prune_step <= self.prune_max < 1.0:
            raise ValueError("need 0 < prune_step <= prune_max < 1")
        if not 1 <= self.bits_min <= self.bits_max <= 8:
            raise ValueError("need 1 <= bits_min <= bits_max <= 8")
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}")

    def distributions(self, layers: list[str]) -> dict[str, BaseDistribution]:
        space: dict[str, BaseDistribution] = {}
        hi = self._prune_hi()
        for name in layers:
            space[f"prune:{name}"] = FloatDistribution(0.0, hi, step=self.prune_step)
            space[f"bits:{name}"] = IntDistribution(self.bits_min, self.bits_max)
        return space

    def uniform(self, layers: list[str], prune: float, bits: int) -> dict[str, Any]:
        """The uniform policy: the same prune rate and bit width in every layer."""
        return {k: (prune if k.startswith("prune:") else bits) for k in self.distributions(layers)}

    def spread(self, layers: list[str], n: int) -> list[dict[str, Any]]:
        """n uniform policies from the widest (no pruning, bits_max) to the narrowest (prune_max,
        bits_min), evenly along both grids: a first generation that spans the size axis."""
        prunes, bits = (
            grid(FloatDistribution(0.0, self._prune_hi(), step=self.prune_step)),
            grid(IntDistribution(self.bits_min, self.bits_max)),
        )
        steps = [i / max(1, n - 1) for i in range(n)]
        return [
            self.uniform(layers, prunes[round(f * (len(prunes) - 1))], bits[round((1 - f) * (len(bits) - 1))])
            for f in steps
        ]

    def _prune_hi(self) -> float:
        return round(round(self.prune_max / self.prune_step) * self.prune_step, 6)

    def recipe(self, layers: list[str], params: dict[str, Any], finetune_epochs: int = 0) -> list[object]:
        """The point as an ordered list of technique configs (what a recorded run keeps).

        finetune_epochs > 0: prune, fine-tune the pruned model with its masks kept (gentle SGD),
        then quantize: the optional short fine-tune of a chosen trial.
        """
        amounts = tuple((n, round(float(params[f"prune:{n}"]), 6)) for n in layers)
        bits = tuple((n, int(params[f"bits:{n}"])) for n in layers)
        top = max((a for _, a in amounts), default=0.0)
        recipe: list[object] = []
        if top > 0 or finetune_epochs > 0:
            recipe.append(MagnitudePrune(amount=top, layer_amounts=amounts, finetune_epochs=finetune_epochs))
        recipe.append(SCHEMES[self.scheme](bits=self.bits_max, layer_bits=bits))
        return recipe

    def proxy_text(self, dataset: str | None = None) -> str:
        return "applied to the trained baseline without fine-tuning"

    def trial_model(self, ctx: Any, params: dict[str, Any]) -> nn.Module:
        """The policy applied to the baseline with the existing techniques (no fine-tuning: fast)."""
        return techniques.apply_recipe(ctx.baseline, self.recipe(ctx.layers, params), ctx.ds)

    def build(
        self,
        ctx: Any,
        params: dict[str, Any],
        epochs: int = 0,
        progress: Progress | None = None,
        should_stop: StopFlag | None = None,
    ) -> tuple[nn.Module, list[object]]:
        """A chosen trial re-applied (epochs > 0: fine-tuned that long after pruning, masks kept)."""
        recipe = self.recipe(ctx.layers, params, epochs)
        return techniques.apply_recipe(ctx.baseline, recipe, ctx.ds, progress, should_stop), recipe

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)  # no "kind": a policy problem's key stays what it was


def grid(dist: BaseDistribution) -> list[float | int]:
    """Every value of an ordered, stepped distribution, low to high."""
    if isinstance(dist, IntDistribution):
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        n = int(round((dist.high - dist.low) / dist.step))
        return [round(dist.low + i * dist.step, 6) for i in range(n + 1)]
    raise ValueError(f"{dist} is not a stepped grid")


def index_of(dist: BaseDistribution, value: float | int) -> int:
    """The grid index nearest to `value`."""
    values = grid(dist)
    return min(range(len(values)), key=lambda i: abs(values[i] - value))


def layer_of(param: str) -> tuple[str, str]:
    """'prune:features.0' -> ('prune', 'features.0')."""
    kind, _, layer = param.partition(":")
    return kind, layer
