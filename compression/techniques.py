"""The technique registry: a technique is a frozen config plus `apply(model, config, data)`.

Like torchao's `quantize_(model, Config)`: one entry point, one handler registered per config
class. The same config drives pages, the CLI, the run store, shareable URLs and recipes (an
ordered list of configs). `apply` never mutates its input model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch
from torch import nn

from compression.data import Dataset
from compression.train import Progress, StopFlag


class TechniqueConfig(Protocol):
    technique: ClassVar[str]  # registry key, e.g. "magnitude-prune"
    family: ClassVar[str]  # pruning | quantization | distillation | search | low-rank | encoding


Apply = Callable[..., nn.Module]  # (model, config, data, progress=, should_stop=) -> new model


@dataclass(frozen=True)
class Technique:
    name: str
    family: str
    config_cls: type
    apply: Apply
    slow: bool  # True when it trains (fine-tuning, QAT, slimming): run as a background job


REGISTRY: dict[str, Technique] = {}


def register(config_cls: type, slow: bool = False) -> Callable[[Apply], Apply]:
    """Decorator: register `fn` as the handler of `config_cls`."""

    def deco(fn: Apply) -> Apply:
        name = config_cls.technique  # type: ignore[attr-defined]
        REGISTRY[name] = Technique(name, config_cls.family, config_cls, fn, slow)  # type: ignore[attr-defined]
        return fn

    return deco


def to_dict(config: Any) -> dict[str, Any]:
    return {"technique": type(config).technique, **dataclasses.asdict(config)}


def from_dict(d: dict[str, Any]) -> Any:
    """Rebuild a config from its JSON form; unknown techniques or fields are refused clearly."""
    _load_all()
    d = dict(d)
    name = d.pop("technique", None)
    if name not in REGISTRY:
        raise ValueError(f"Unknown technique '{name}'. Known: {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[name].config_cls
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - fields
    if unknown:
        raise ValueError(f"Technique '{name}' has no field(s) {', '.join(sorted(unknown))}")
    for f in dataclasses.fields(cls):  # JSON has lists where configs hold tuples
        if isinstance(d.get(f.name), list):
            d[f.name] = tuple(tuple(v) if isinstance(v, list) else v for v in d[f.name])
    try:
        config = cls(**d)
        if hasattr(config, "validate"):  # pruning configs check their values here, the rest on creation
            config.validate()
        named_layers(config)  # layer lists are lists (a text would be read letter by letter)
    except TypeError as exc:  # a value of the wrong type: "abc" for an amount, a list for a rate
        raise ValueError(f"Technique '{name}': a value of the wrong type ({exc})") from exc
    return config


LAYER_FIELDS = ("exclude", "layers", "layer_amounts", "layer_bits", "layer_ranks")  # fields naming layers


def named_layers(config: Any) -> list[str]:
    """The layer names a config refers to (excluded, chosen, or given their own amount, bits or rank)."""
    names: list[str] = []
    for field in LAYER_FIELDS:
        value = getattr(config, field, ())
        if isinstance(value, str):
            raise ValueError(
                f"{config.technique}: '{field}' is a list of layer names, not the text {value!r}"
            )
        names += [v[0] if isinstance(v, tuple | list) else v for v in value]
    return [str(n) for n in names]


def check_layers(model: nn.Module, config: Any) -> None:
    """ValueError naming the layers a config refers to that `model` does not have (they were ignored)."""
    have = {name for name, _ in model.named_modules()}
    unknown = [n for n in named_layers(config) if n not in have]
    if unknown:
        raise ValueError(f"{config.technique}: no layer(s) {', '.join(unknown)} in this model")


def apply(
    model: nn.Module,
    config: Any,
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    """Apply one technique through the registry; a result with NaN or infinite weights (fine-tuning that
    diverged) raises ValueError rather than reaching a chart or the run store."""
    _load_all()
    tech = REGISTRY[type(config).technique]
    out = tech.apply(model, config, data, progress=progress, should_stop=should_stop)
    for name, t in [*out.named_parameters(), *out.named_buffers()]:
        plain = type(t) in (torch.Tensor, nn.Parameter)  # not torchao's packed tensors (no isfinite)
        if plain and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(
                f"{type(config).technique}: the result holds NaN or infinite values in '{name}' (its "
                "fine-tuning diverged); lower the learning rate."
            )
    return out


def apply_recipe(
    model: nn.Module,
    recipe: Sequence[Any],
    data: Dataset,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
) -> nn.Module:
    """Apply an ordered list of configs, each on the previous result."""
    for i, config in enumerate(recipe):
        span = (i / len(recipe), (i + 1) / len(recipe))

        def sub(frac: float, msg: str, span: tuple[float, float] = span) -> None:
            if progress:
                progress(span[0] + (span[1] - span[0]) * frac, msg)

        model = apply(model, config, data, sub, should_stop)
    return model


def _load_all() -> None:
    """Import the technique modules so that they register themselves."""
    import importlib

    for mod in (
        "compression.pruning",
        "compression.quantization",
        "compression.distillation",
        "compression.lowrank",
        "compression.encoding.sharing",
        "compression.search.darts",
    ):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
