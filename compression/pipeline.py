"""Pipelines: a recipe (an ordered list of technique configs, as JSON) run stage by stage.

Each stage applies one technique to the previous stage's model (`techniques.apply`), then the
result is measured like every model (`metrics.measure` against the original baseline: its file
really written, its bytes, accuracy, MACs; latency paired with the baseline when asked) and,
when asked, recorded as a run. The run schema has no parent column, so a stage's lineage is in
its tags (`pipeline:<id>`, `stage:<i>`, `prev-run:<id>`) and in its recipe, which is the recipe's
prefix up to and including that stage. The waterfall chart reads the stage results.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from compression import metrics, techniques, train, uploads
from compression.data import Dataset
from compression.train import Progress, StopFlag


@dataclass(frozen=True)
class Recipe:
    name: str
    stages: tuple[Any, ...]  # technique configs, applied in order
    dataset: str = "digits"  # the baseline the recipe was written for (the CLI's default)
    model: str = "lenet5"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "dataset": self.dataset,
            "model": self.model,
            "stages": [techniques.to_dict(c) for c in self.stages],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Recipe:
        if not isinstance(d, dict) or not isinstance(d.get("stages"), list):
            raise ValueError("A recipe is a JSON object with a 'stages' list of technique configs")
        unknown = set(d) - {"name", "description", "dataset", "model", "stages"}
        if unknown:
            raise ValueError(f"A recipe has no field(s) {', '.join(sorted(unknown))}")
        stages = []
        for i, s in enumerate(d["stages"]):
            if not isinstance(s, dict):
                raise ValueError(f"Stage {i + 1} is not an object")
            try:
                stages.append(techniques.from_dict(s))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"Stage {i + 1}: {exc}") from exc
        return cls(
            name=str(d.get("name", "recipe")),
            stages=tuple(stages),
            dataset=str(d.get("dataset", "digits")),
            model=str(d.get("model", "lenet5")),
            description=str(d.get("description", "")),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        return cls.from_dict(parse_json(text))


MAX_RECIPE_CHARS = 100_000  # a recipe of 20 stages is ~10,000


def parse_json(text: str) -> Any:
    """A recipe's JSON text, bounded: too long, too deeply nested or not JSON raises ValueError."""
    if len(text) > MAX_RECIPE_CHARS:
        raise ValueError(f"A recipe is at most {MAX_RECIPE_CHARS:,} characters (this one {len(text):,})")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"Not valid JSON: {exc}") from exc
    except RecursionError as exc:  # thousands of nested brackets
        raise ValueError("Not a recipe: its JSON is nested too deeply") from exc


def load_recipe(path: str | Path) -> Recipe:
    return Recipe.from_json(uploads.read_at_most(Path(path), MAX_RECIPE_CHARS * 4).decode("utf-8", "replace"))


@dataclass
class StageResult:
    index: int  # 0: the baseline as it is (dense fp32); 1..n: after each stage
    label: str  # what the bar is called
    technique: str  # registry name ("baseline" for stage 0)
    config: dict[str, Any] | None
    measurement: metrics.Measurement
    seconds: float  # time the stage took (technique only, not the measurement)
    run_id: int | None = None

    @property
    def bytes(self) -> int:
        return self.measurement.size_artifact_bytes

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "label": self.label,
            "technique": self.technique,
            "config": self.config,
            "seconds": round(self.seconds, 2),
            "run_id": self.run_id,
            "artifact_bytes": self.bytes,
            "top1": self.measurement.top1,
            "measurement": self.measurement.as_dict(),
        }


@dataclass
class PipelineResult:
    pipeline_id: str
    recipe: Recipe
    stages: list[StageResult] = field(default_factory=list)
    model: nn.Module | None = field(default=None, repr=False)  # the last stage's model

    @property
    def ratio(self) -> float:
        """Bytes of the baseline's file over the bytes of the last stage's file."""
        return self.stages[0].bytes / max(1, self.stages[-1].bytes) if self.stages else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline_id": self.pipeline_id,
            "recipe": self.recipe.to_dict(),
            "ratio": self.ratio,
            "stages": [s.as_dict() for s in self.stages],
        }


STAGE_LABELS = {
    "magnitude-prune": "pruned",
    "random-prune": "pruned (random)",
    "structured-prune": "filters removed",
    "sparse-sharing": "weights shared",
    "quant-kmeans": "k-means",
    "quant-qat": "QAT",
    "huffman": "Huffman-coded",
    "low-rank": "low-rank",
    "kd-recovery": "KD-recovered",
    "distill": "distilled student",
}


def stage_label(config: Any) -> str:
    name = type(config).technique
    label = STAGE_LABELS.get(name, name)
    if name == "kd-recovery":
        label = f"{stage_label(config.inner())} + KD"
    elif name == "sparse-sharing":
        label = f"shared {config.bits}-bit" + (
            f" (conv {config.conv_bits})" if config.conv_bits not in (None, config.bits) else ""
        )
    elif name == "magnitude-prune":
        label = f"pruned {100 * config.amount:g}%"
    elif name == "low-rank":
        label = f"{config.method} ({config.rule})"
    return label


def _measure(model: nn.Module, ds: Dataset, baseline: nn.Module, latency: bool) -> metrics.Measurement:
    from compression.quantization import catalog

    return catalog.measure(model, ds, baseline, latency=latency, min_run_time=0.2)


def run(
    recipe: Recipe,
    baseline: nn.Module,
    ds: Dataset,
    *,
    latency: bool = False,
    record: bool = False,
    store: Any = None,
    who: str = "",
    arch: str | None = None,
    progress: Progress | None = None,
    should_stop: StopFlag | None = None,
    pipeline_id: str | None = None,
) -> PipelineResult:
    """Apply the recipe's stages in order; measure (and record, when asked) the baseline and every stage."""
    pid = pipeline_id or uuid.uuid4().hex[:10]
    result = PipelineResult(pid, recipe)
    n = len(recipe.stages)
    arch = arch or str((getattr(baseline, "_cla_meta", None) or {}).get("model", recipe.model))
    base_hash = train.weights_hash(baseline) if record else ""

    def say(frac: float, msg: str) -> None:
        if progress:
            progress(min(1.0, frac), msg)

    say(0.0, "measuring the baseline")
    model = baseline
    stages: list[StageResult] = [
        StageResult(0, "dense fp32", "baseline", None, _measure(baseline, ds, baseline, latency), 0.0)
    ]
    prev_run: int | None = None
    for i, config in enumerate(recipe.stages, start=1):
        if should_stop is not None and should_stop():
            raise train.Cancelled("cancelled by the user")
        span = ((i - 1) / n, i / n)

        def sub(frac: float, msg: str, span: tuple[float, float] = span, i: int = i) -> None:
            say(span[0] + (span[1] - span[0]) * 0.9 * frac, f"stage {i}/{n}: {msg}")

        try:
            techniques.check_layers(model, config)  # the model as this stage meets it (low rank renames)
        except ValueError as exc:
            raise ValueError(f"Stage {i}: {exc}") from exc
        t0 = time.perf_counter()
        model = techniques.apply(model, config, ds, sub, should_stop)
        seconds = time.perf_counter() - t0
        say(span[0] + (span[1] - span[0]) * 0.92, f"stage {i}/{n}: measuring")
        m = _measure(model, ds, baseline, latency)
        stage = StageResult(
            i, stage_label(config), type(config).technique, techniques.to_dict(config), m, seconds
        )
        if record:
            from compression import runs

            tags = [f"pipeline:{pid}", f"stage:{i}/{n}", f"recipe:{recipe.name}"]
            if prev_run is not None:
                tags.append(f"prev-run:{prev_run}")
            stage.run_id = runs.record_run(
                model,
                dataset=ds.name,
                arch=arch,
                baseline_hash=base_hash,
                recipe=list(recipe.stages[:i]),
                measurement=m,
                technique=type(config).technique,
                who=who,
                tags=tags,
                store=store,
                baseline=lambda: (baseline, stages[0].measurement),
            )
            prev_run = stage.run_id
        stages.append(stage)
        result.stages = stages
    result.stages = stages
    result.model = model
    say(1.0, f"done: {result.ratio:.1f}x smaller")
    return result


def reordered(recipe: Recipe, order: Sequence[int]) -> Recipe:
    """The same stages in another order (pruning before quantizing, or after?)."""
    if sorted(order) != list(range(len(recipe.stages))):
        raise ValueError("order must be a permutation of the stage indices")
    return Recipe(
        name=f"{recipe.name} (order {'-'.join(str(i + 1) for i in order)})",
        stages=tuple(recipe.stages[i] for i in order),
        dataset=recipe.dataset,
        model=recipe.model,
        description=recipe.description,
    )


# ---------------------------------------------------------------- the page's stage menu


@dataclass(frozen=True)
class StageKind:
    title: str
    knob: str | None  # the one number the builder asks for ("" when none)
    lo: float
    hi: float
    default: float
    step: float
    trains: bool  # takes fine-tune epochs

    def build(self, kind: str, value: float, epochs: int) -> Any:
        return _BUILDERS[kind](value, epochs)


def _prune(value: float, epochs: int) -> Any:
    from compression.pruning import MagnitudePrune

    return MagnitudePrune(
        amount=round(value, 3), scope="global", schedule="gradual" if epochs else "one-shot",
        steps=3 if epochs else 1, finetune_epochs=epochs,
    )  # fmt: skip


def _structured(value: float, epochs: int) -> Any:
    from compression.pruning import make_config

    return make_config("l1-filter", round(value, 3), finetune_epochs=epochs)


def _share(value: float, epochs: int) -> Any:
    from compression.encoding.sharing import SparseSharing

    return SparseSharing(bits=int(value), finetune_epochs=epochs)


def _quant(scheme: str) -> Any:
    def build(value: float, epochs: int) -> Any:
        from compression.quantization import catalog

        return catalog.make_config(scheme, int(value), qat_epochs=epochs)

    return build


def _lowrank(method: str) -> Any:
    def build(value: float, epochs: int) -> Any:
        from compression.lowrank import LowRank

        return LowRank(method=method, rule="energy", energy=round(value, 3), finetune_epochs=epochs)

    return build


def _distill(value: float, epochs: int) -> Any:
    return techniques.from_dict(
        {
            "technique": "distill",
            "student": "lenet-300-100",
            "width": round(value, 3),
            "epochs": max(1, epochs),
        }
    )


def _huffman(value: float, epochs: int) -> Any:
    from compression.encoding.sharing import HuffmanCode

    return HuffmanCode()


STAGE_KINDS: dict[str, StageKind] = {
    # 0.7, not Han's 0.9: the page's starting recipe (one fine-tuning epoch per stage) keeps digits LeNet-5 at
    # 97.5 % at 70 %, 66 % at 90 % (34 % at 90 % without fine-tuning); 90 % wants more epochs
    "prune": StageKind("Magnitude pruning (global)", "prune rate", 0.1, 0.99, 0.7, 0.01, True),
    "structured": StageKind("Filter pruning (L1, channels removed)", "prune rate", 0.1, 0.9, 0.5, 0.05, True),
    "share": StageKind("Weight sharing, zeros kept (Deep Compression)", "bits", 1, 8, 5, 1, True),
    "kmeans": StageKind("k-means quantization (every weight)", "bits", 1, 8, 4, 1, True),
    "linear": StageKind("Linear quantization (per channel)", "bits", 2, 8, 8, 1, True),
    "svd": StageKind("Low-rank SVD of linear layers", "energy kept", 0.3, 1.0, 0.9, 0.01, True),
    "tucker": StageKind("Low-rank Tucker-2 of convolutions", "energy kept", 0.3, 1.0, 0.9, 0.01, True),
    "distill": StageKind(
        "Distil into a narrower LeNet-300-100 (epochs >= 1)", "student width", 0.125, 1.0, 0.5, 0.125, True
    ),
    "huffman": StageKind("Huffman coding of the file", None, 0, 0, 0, 1, False),
}
_BUILDERS = {
    "prune": _prune,
    "structured": _structured,
    "share": _share,
    "kmeans": _quant("kmeans"),
    "linear": _quant("linear"),
    "svd": _lowrank("svd"),
    "tucker": _lowrank("tucker"),
    "distill": _distill,
    "huffman": _huffman,
}


def default_recipe() -> Recipe:
    """The Pipeline page's starting recipe: Deep Compression with its retraining, one epoch each (pruning in 3
    gradual steps, then the shared centroids), then Huffman. Without the retraining LeNet-5 on digits lost 6.4
    points (91.7 %); with it 0.6 (97.5 %), at 11.8x either way, ~1 s more."""
    epochs = {"prune": 1, "share": 1, "huffman": 0}
    kinds = STAGE_KINDS
    return Recipe(
        "deep-compression", tuple(kinds[k].build(k, kinds[k].default, n) for k, n in epochs.items())
    )


def describe(config: Any) -> str:
    """One line for a stage: its technique and the settings that differ from the defaults."""
    d = techniques.to_dict(config)
    name = d.pop("technique")
    if name == "kd-recovery":
        return f"kd-recovery of {json.loads(d['step'])['technique']}"
    defaults = techniques.to_dict(type(config)()) if _has_defaults(config) else {}
    parts = [f"{k}={v}" for k, v in d.items() if defaults.get(k, object()) != v]
    return f"{name}" + (f" ({', '.join(parts)})" if parts else "")


def _has_defaults(config: Any) -> bool:
    try:
        type(config)()
    except TypeError:
        return False
    return True
