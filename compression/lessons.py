"""Lessons: guided walks through the labs, written as data files a lecturer can edit or load.

A lesson is Markdown with a YAML (or JSON, which YAML reads too) header between `---` lines: the
header lists the steps (the lab and its URL parameters, the one chart to look at, the formula, a
live check), the body has one `## ` section of narrative per step, in the same order. A file is
untrusted input: size-capped, parsed with `yaml.safe_load` semantics without aliases, every field
checked; a bad file raises `LessonError` saying what is wrong. A check computes its numbers from
the engine when the step is shown, so a lesson never states a result that the learner cannot see.
"""

from __future__ import annotations

import functools
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from compression import fmt

LESSON_DIR = Path(__file__).resolve().parent.parent / "assets" / "lessons"
MAX_BYTES = 64 * fmt.KB  # a lesson is prose: 64 KB is ten times the longest shipped one
MAX_STEPS = 30
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_VALUE = re.compile(r"^[A-Za-z0-9_.,;=+\-/ ]{0,200}$")  # what a lab's URL parameter may hold
_JSON_VALUE = re.compile(r'^[A-Za-z0-9_.,:;=+\-/ \[\]{}"]{0,2000}$')  # a JSON parameter (the page parses it)
JSON_PARAMS = frozenset({"recipe"})


class LessonError(ValueError):
    """The lesson file was refused; the message says why."""


# ---------------------------------------------------------------- the labs a lesson can drive


@dataclass(frozen=True)
class Lab:
    page: str  # the page file, for st.page_link
    url: str  # its url_path
    title: str
    params: tuple[str, ...]  # URL parameters the page reads (the page validates their values)
    charts: dict[str, str]  # element key of a chart -> its name on the page
    views: dict[str, str] = field(default_factory=dict)  # chart key -> the tab it is drawn in (URL "view")

    def view_labels(self) -> list[str]:
        """The page's chart tabs, in order."""
        return list(dict.fromkeys(self.views.values()))


SHARED = ("dataset", "model")
LABS: dict[str, Lab] = {
    "model": Lab(
        "views/model.py",
        "model",
        "Model",
        ("layer", "log"),
        {"hist": "Weight histogram", "confusion": "Confusion matrix", "samples": "Sample predictions"},
        {"hist": "Weights", "confusion": "Mistakes", "samples": "Examples"},
    ),
    "prune": Lab(
        "views/prune.py",
        "prune",
        "Pruning lab",
        ("amount", "exclude", "ft", "full", "gran", "kd", "l1", "method", "opt", "sched", "scope", "steps"),
        {
            "p_size_latency": "Theory vs measured: size and latency",
            "p_hist": "Weight histogram, before and after",
            "p_sparsity": "Sparsity per layer",
            "p_matrix": "The weight matrix before and after",
        },
        {"p_hist": "Weight histogram", "p_sparsity": "Sparsity per layer", "p_matrix": "One layer's weights"},
    ),
    "quantize": Lab(
        "views/quantize.py",
        "quantize",
        "Quantization lab",
        ("abits", "acts", "avg", "bits", "calib", "gran", "init", "layer", "lb", "scheme", "sym", "wts"),
        {
            "q_grid_chart": "Weights on the quantization grid",
            "q_codes_chart": "Codes in use",
            "q_error_chart": "Quantization error",
            "q_side": "Weights before and after",
            "q_size_latency": "Theory vs measured: size and latency",
        },
        {
            "q_codes_chart": "Codes",  # one chart a tab: a new browser draws the open tab's with the main chart
            "q_error_chart": "Error",
            "q_side": "Five schemes",
            "q_size_latency": "Theory vs measured",
        },
    ),
    "distill": Lab(
        "views/distill.py",
        "distill",
        "Distillation lab",
        ("T", "alpha", "loss", "student", "width", "epochs", "labels", "img"),
        {
            "d_soft": "Soft targets at T",
            "d_entropy": "Entropy against T",
            "d_similarity": "Class similarity (dark knowledge)",
        },
        {"d_entropy": "Entropy against T", "d_similarity": "Class similarity"},
    ),
    "search": Lab(
        "views/search.py",
        "search",
        "Search lab",
        ("strategy", "budget", "tlimit", "obj", "cap", "seed", "val"),
        {
            "s_space": "Trials in accuracy-size space",
            "s_hv": "Hypervolume over trials",
            "s_par": "Policies (parallel coordinates)",
        },
    ),
    "darts": Lab(
        "views/darts.py",
        "darts",
        "DARTS lab",
        (
            "epochs",
            "warm",
            "cells",
            "nodes",
            "ch",
            "order",
            "pc",
            "cure",
            "sel",
            "retrain",
            "imgs",
            "seed",
            "alr",
            "wlr",
            "size",
        ),
        {
            "da_alphas": "softmax(α) per edge",
            "da_cell_graph": "The derived cell",
            "da_acc": "Search and validation accuracy",
            "da_skips": "Skip connections per epoch",
            "da_compare": "DARTS vs random cells",
        },
    ),
    "lowrank": Lab(
        "views/lowrank.py",
        "lowrank",
        "Low-rank lab",
        ("method", "layer", "rank", "rule", "energy", "ft"),
        {"lr_spectrum": "Singular values and the cut", "lr_speed": "Measured speed against rank"},
    ),
    "pipeline": Lab(
        "views/pipeline.py",
        "pipeline",
        "Pipeline",
        ("recipe", "both", "record"),
        {
            "pl_waterfall_0": "Waterfall: file bytes per stage",
            "pl_waterfall_1": "Waterfall of the reverse order",
        },
    ),
    "compare": Lab(
        "views/compare.py",
        "compare",
        "Compare (Pareto)",
        ("acc", "fcol", "logx", "sel", "sym", "x", "ds", "arch", "tech", "tag"),
        {"pareto": "The Pareto front"},
    ),
}


# ---------------------------------------------------------------- live checks


@dataclass(frozen=True)
class Check:
    """A computation from the engine that a step shows: its values fill the step's `say` sentence."""

    run: Callable[[dict[str, str]], dict[str, str]]  # the step's lab parameters -> formatted values
    fields: dict[str, str]  # value name -> what it is (shown as the metric's label)
    note: str  # what the check does, in one line


def _pct(v: float) -> str:
    return f"{v:.2%}"  # as the labs' cards


def _pts(v: float) -> str:
    return f"{v * 100:+.2f}"


@functools.lru_cache(maxsize=4)
def _baseline(dataset: str, model: str) -> tuple[Any, Any]:
    """(dataset, trained baseline) from the shipped or cached weights; never trains (a lesson waits for nobody)."""
    from compression import data, models, train

    if dataset not in data.DATASETS or model not in models.MODELS:
        raise LessonError(f"Unknown dataset or model: {dataset!r}, {model!r}.")
    base = train.load_baseline(train.default_config(dataset, model))
    if base is None:
        raise LessonError(
            f"No trained {model} baseline for {dataset} on this machine: open the Model page once with this "
            f"dataset and model (it trains and caches it), or `python -m compression train --dataset {dataset} "
            f"--model {model}`."
        )
    return data.load(dataset), base


def _ds_model(p: dict[str, str]) -> tuple[Any, Any]:
    return _baseline(p.get("dataset", "digits"), p.get("model", "lenet5"))


def _num(p: dict[str, str], key: str, default: float, lo: float, hi: float) -> float:
    try:
        v = float(p.get(key, default))
    except ValueError as exc:
        raise LessonError(f"{key}={p[key]!r} is not a number.") from exc
    if not lo <= v <= hi:
        raise LessonError(f"{key}={v:g} is outside {lo:g}..{hi:g}.")
    return v


def _prune_config(p: dict[str, str]) -> Any:
    from compression import pruning as P

    method = p.get("method", "magnitude")
    if method not in P.METHODS or method == "slimming":
        raise LessonError(f"A pruning check needs an instant method (not {method!r}).")
    return P.make_config(
        method,
        _num(p, "amount", 0.5, 0.0, 0.99),
        scope=p.get("scope", "layer"),
        granularity=p.get("gran", "weight") if not P.METHODS[method].removes else "weight",
        schedule=p.get("sched", "one-shot"),
        steps=int(_num(p, "steps", 1, 1, 10)),
        finetune_epochs=int(_num(p, "ft", 0, 0, 5)),  # a lecture waits for the retraining: a few epochs
        optimizer=p.get("opt", "sgd"),
    )


def _measure_pruned(p: dict[str, str], latency: bool) -> tuple[Any, Any, str]:
    """Baseline and pruned measurements, and the share of conv and linear weights gone (the lab's card)."""
    from compression import metrics, techniques
    from compression import pruning as P

    ds, base = _ds_model(p)
    model = techniques.apply(base, _prune_config(p), ds)
    mb = metrics.measure(base, ds, latency=False)
    mp = metrics.measure(model, ds, baseline=base, latency=latency, min_run_time=0.2)
    return mb, mp, f"{P.methods.removed_fraction(base, model):.1%}"


def _accuracy_values(mb: Any, mp: Any) -> dict[str, str]:
    return {
        "top1_base": _pct(mb.top1),
        "top1": _pct(mp.top1),
        "drop": _pts(mp.top1 - mb.top1),
        "size_ratio": f"{mb.size_artifact_bytes / max(1, mp.size_artifact_bytes):.1f}x",
        "theory_ratio": f"{mp.size_dense_bytes / max(1, mp.size_theoretical_bytes):.1f}x",
    }


_ACC_FIELDS = {
    "top1_base": "Top-1 of the baseline",
    "top1": "Top-1 after",
    "drop": "Change in top-1 (points)",
    "size_ratio": "Measured file: times smaller",
    "theory_ratio": "Theory: times smaller",
}


def _check_weights(p: dict[str, str]) -> dict[str, str]:
    """How a trained network's weights sit around zero: the reason magnitude pruning costs little."""
    import torch

    from compression import metrics

    _, base = _ds_model(p)
    weights = metrics.layer_weights(base)
    n = sum(w.numel() for w in weights.values())
    small = sum(metrics.near_zero(w) for w in weights.values())
    flat = torch.cat([w.detach().flatten().abs() for w in weights.values()])
    biggest = max(weights, key=lambda k: weights[k].numel())
    return {
        "weights": f"{n:,}",
        "layers": str(len(weights)),
        "small": _pct(small / n),
        "median": f"{float(flat.median()):.3f}",
        "max": f"{float(flat.max()):.3f}",
        "biggest": f"{biggest} ({weights[biggest].numel() / n:.0%} of the weights)",
    }


def _check_prune(p: dict[str, str]) -> dict[str, str]:
    mb, mp, gone = _measure_pruned(p, latency=False)
    return {"sparsity": gone, **_accuracy_values(mb, mp)}


def _check_prune_speed(p: dict[str, str]) -> dict[str, str]:
    mb, mp, gone = _measure_pruned(p, latency=True)
    return {
        "sparsity": gone,
        "drop": _pts(mp.top1 - mb.top1),
        "macs_ratio": f"{mp.macs / max(1, mp.baseline_macs or mb.macs):.0%}",
        "macs_effective_ratio": f"{mp.macs_effective / max(1, mp.baseline_macs or mb.macs):.0%}",
        "speedup_b256": fmt.speedup(mp.speedup_b256, mp.speedup_b256_lo, mp.speedup_b256_hi),
        "speedup_b1": fmt.speedup(mp.speedup_b1, mp.speedup_b1_lo, mp.speedup_b1_hi),
        "cpu": mp.cpu or "this CPU",
    }


def _check_quantize(p: dict[str, str]) -> dict[str, str]:
    from compression.quantization import catalog

    scheme = p.get("scheme", "linear")
    if scheme not in catalog.SCHEMES or scheme.startswith("int8") or scheme == "mixed":
        raise LessonError(f"A quantization check needs a weight scheme (not {scheme!r}).")
    from compression import metrics
    from compression.quantization import model_ops

    config = catalog.make_config(
        scheme,
        int(_num(p, "bits", 8, 1, 16)),
        granularity=p.get("gran", "per-channel"),
        symmetric=p.get("sym", "1") == "1",
        calibration=p.get("calib", "minmax"),
        kmeans_init=p.get("init", "linear"),
    )
    ds, base = _ds_model(p)
    quantized, mp = catalog.run(base, ds, config, latency=False)  # measured as the lab measures it
    mb = metrics.measure(base, ds, latency=False)
    names = model_ops.layer_names(base)
    layer = p.get("layer") if p.get("layer") in names else model_ops.default_layer(names)
    q = model_ops.records(quantized).get(layer)
    return {
        "bits": f"{mp.effective_bits:.2f}",
        "levels": f"{len(q.levels()):,}" if q is not None else "no grid",  # what the grid chart draws
        "layer": layer,
        **_accuracy_values(mb, mp),
    }


def _lowrank_choice(p: dict[str, str], base: Any) -> tuple[str, str, Any, int, int]:
    """(method, layer, the layer's module, its full rank, the step's rank), each checked against the model."""
    from compression import lowrank
    from compression.lowrank import explore

    method = p.get("method", "svd")
    if method not in lowrank.core.METHODS:
        raise LessonError(
            f"A low-rank check needs one of {', '.join(lowrank.core.METHODS)} (not {method!r})."
        )
    layers = explore.eligible_layers(base, method)
    layer = p.get("layer", layers[0] if layers else "")
    if layer not in layers:
        raise LessonError(
            f"{method} does not factorise layer {layer!r}; it takes {', '.join(layers) or 'none'}."
        )
    module = base.get_submodule(layer)
    full = explore.full_rank(module, method)
    return method, layer, module, full, int(_num(p, "rank", max(1, full // 4), 1, full))


def _check_lowrank(p: dict[str, str]) -> dict[str, str]:
    from compression import metrics
    from compression.lowrank import explore

    ds, base = _ds_model(p)
    method, layer, module, full, rank = _lowrank_choice(p, base)
    f = explore.one_layer(base, layer, method, rank)
    cost = explore.layer_cost(base, layer, method, rank, ds.input_shape, factorised=f)
    top1 = metrics.evaluate(f, ds.x_test, ds.y_test)[0]
    top1_base = metrics.evaluate(base, ds.x_test, ds.y_test)[0]
    return {
        "rank": str(rank),
        "full": str(full),
        "energy": _pct(cost["energy_kept"]),
        "params_before": f"{int(cost['params_before']):,}",
        "params_after": f"{int(cost['params_after']):,}",
        "params_ratio": f"{cost['params_after'] / cost['params_before']:.2f}x",
        "macs_ratio": f"{cost['macs_after'] / max(1, cost['macs_before']):.2f}x",
        "breakeven": f"{explore.params_breakeven(module, method):.0f}",
        "top1_base": _pct(top1_base),
        "top1": _pct(top1),
        "drop": _pts(top1 - top1_base),
    }


def _check_temperature(p: dict[str, str]) -> dict[str, str]:
    import torch

    from compression.distillation import explore

    ds, base = _ds_model(p)
    t = _num(p, "T", 4.0, 1.0, 50.0)
    with torch.inference_mode():
        logits = torch.cat([base.eval()(ds.x_test[i : i + 1000]) for i in range(0, len(ds.x_test), 1000)])
    h1, ht = explore.entropy_curve(logits, [1.0, t])
    sim = explore.class_similarity(logits, ds.y_test, t, len(ds.classes))
    sentences = explore.confusion_sentences(explore.top_confusions(sim, ds.classes, k=1))
    c = int(torch.argmin(torch.diagonal(sim)))  # the class whose soft targets spread most onto others
    return {
        "T": f"{t:g}",
        "entropy_1": f"{h1:.2f} bits",
        "entropy_t": f"{ht:.2f} bits",
        "entropy_max": f"{explore.max_entropy_bits(len(ds.classes)):.2f} bits",
        "lookalike": sentences[c],
    }


def _check_lowrank_speed(p: dict[str, str]) -> dict[str, str]:
    from compression import latency
    from compression.lowrank import explore

    ds, base = _ds_model(p)
    method, layer, module, full, rank = _lowrank_choice(p, base)
    row = explore.speed_vs_rank(base, layer, method, [rank], ds.input_shape)[0]
    return {
        "rank": str(rank),
        "full": str(full),
        "speedup": fmt.speedup(row["speedup"], row["lo"], row["hi"]) + (" (noisy)" if row["noisy"] else ""),
        "breakeven": f"{explore.params_breakeven(module, method):.0f}",
        "cpu": latency.cpu_info().describe(),
    }


def _check_search(p: dict[str, str]) -> dict[str, str]:
    from compression.search import PolicySpace, Problem
    from compression.search import problem as SP

    dataset, model = p.get("dataset", "digits"), p.get("model", "lenet5")
    _ds_model(p)  # a clear message when there is no baseline
    val = int(_num(p, "val", 500, 100, 2000))
    problem = Problem(
        dataset=dataset, model=model, space=PolicySpace(), objectives=("acc", "size"), val_images=val
    )
    ctx = SP.load_context(dataset, model)
    space = problem.space
    per_layer = (round(space.prune_max / space.prune_step) + 1) * (space.bits_max - space.bits_min + 1)
    ref = ctx.reference(problem)
    uniform = SP.evaluate(problem, ctx, space.uniform(ctx.layers, 0.5, 4))
    return {
        "layers": str(len(ctx.layers)),
        "per_layer": f"{per_layer:,}",
        "policies": f"10^{len(ctx.layers) * math.log10(per_layer):.0f}",
        "base_acc": _pct(ref.acc),
        "uniform_acc": _pct(uniform.acc),
        "uniform_kb": f"{uniform.size_kb:,.1f} KB",
        "dense_kb": f"{ref.dense_kb:,.1f} KB",
    }


def _check_distil(p: dict[str, str]) -> dict[str, str]:
    from fractions import Fraction

    from compression import metrics, train
    from compression.distillation import DistillConfig, explore, start_settings, train_pair

    ds, teacher = _ds_model(p)
    try:
        width = float(Fraction(p.get("width", "1/4")))
    except (ValueError, ZeroDivisionError) as exc:
        raise LessonError(f"width={p['width']!r} is not a fraction such as 1/4.") from exc
    labels = int(_num(p, "labels", 0, 0, len(ds.y_train)))
    cfg = DistillConfig(
        student=p.get("student", "lenet-300-100"),
        width=width,
        temperature=_num(p, "T", 4.0, 1.0, 50.0),
        alpha=_num(p, "alpha", 0.9, 0.0, 1.0),
        loss=p.get("loss", "kl"),
        epochs=int(_num(p, "epochs", 5, 1, 20)),  # a lecture waits for it: a few seconds on digits
        labels=labels,
        batch_size=train.DEFAULT_BATCH.get(p.get("dataset", "digits"), 128),
        lr=start_settings(p.get("dataset", "digits"))[1],  # as the lab the step opens
    )
    cfg.validate()
    pair = train_pair(teacher, cfg, ds, evaluate_every_epoch=False)
    assert pair.scratch is not None
    distilled = metrics.evaluate(pair.student, ds.x_test, ds.y_test)[0]
    scratch = metrics.evaluate(pair.scratch, ds.x_test, ds.y_test)[0]
    n = len(ds.y_train)
    return {
        "distilled": _pct(distilled),
        "scratch": _pct(scratch),
        "gain": _pts(distilled - scratch),
        "steps": f"{explore.optimizer_steps(cfg.epochs, n, cfg.batch_size):,}",
        "labels": f"{labels or n:,}",
        "transfer": f"{n - labels if labels else 0:,}",
    }


def _check_darts(p: dict[str, str]) -> dict[str, str]:
    import torch

    from compression import metrics
    from compression.search.darts.genotype import edge_count, random_genotype
    from compression.search.darts.network import SearchNetwork, build_network
    from compression.search.darts.ops import OPS

    ds, _ = _ds_model(p)
    cells, nodes = int(_num(p, "cells", 2, 1, 8)), int(_num(p, "nodes", 3, 1, 4))
    ch, k = int(_num(p, "ch", 8, 4, 32)), int(_num(p, "pc", 1, 1, 4))
    shape, classes = ds.input_shape, len(ds.classes)
    supernet = SearchNetwork(shape, classes, channels=ch, cells=cells, nodes=nodes, partial=k).eval()
    arch = sum(a.numel() for a in supernet.arch_parameters())
    share = torch.softmax(supernet.alphas_normal.detach(), dim=-1)
    lo, hi = f"{float(share.min()):.1%}", f"{float(share.max()):.1%}"
    one = build_network(random_genotype(nodes, 0), shape, classes, channels=ch, cells=cells)
    macs_super, macs_one = metrics.macs(supernet, shape)[0], metrics.macs(one, shape)[0]
    return {
        "edges": str(edge_count(nodes)),
        "ops": str(len(OPS)),
        "alphas": f"{arch:,}",
        "weights": f"{sum(w.numel() for w in supernet.parameters()) - arch:,}",
        "macs_super": fmt.count(macs_super),
        "macs_cell": fmt.count(macs_one),
        "ratio": f"{macs_super / max(1, macs_one):.1f}x",
        "share": lo if lo == hi else f"{lo} to {hi}",
    }


def _check_search_run(p: dict[str, str]) -> dict[str, str]:
    """The step's search, run now with random sampling and with TPE (same budget, seed and problem)."""
    import tempfile

    from compression.search import PolicySpace, Problem
    from compression.search import problem as SP
    from compression.search import study as SS

    dataset, model = p.get("dataset", "digits"), p.get("model", "lenet5")
    _ds_model(p)  # a clear message when there is no baseline
    budget, seed = int(_num(p, "budget", 20, 2, 40)), int(_num(p, "seed", 0, 0, 10_000))
    problem = Problem(
        dataset=dataset,
        model=model,
        space=PolicySpace(),
        objectives=("acc", "size"),
        val_images=int(_num(p, "val", 500, 100, 2000)),
    )
    ctx = SP.load_context(dataset, model)
    out: dict[str, str] = {"budget": str(budget)}
    with tempfile.TemporaryDirectory() as folder:  # a throwaway study store: the lab's list stays clean
        url = f"sqlite:///{folder}/lesson.db"
        for strategy in ("random", "tpe"):
            name = SS.create(problem, strategy, seed=seed, budget=budget, storage_url=url, ctx=ctx)
            SS.run(name, url, ctx=ctx)
            study = SS.load(name, url)
            info = SS.Info.of(study)
            df = SS.trials_frame(study, info)
            front = df[df["front"]]
            out[f"hv_{strategy}"] = f"{SS.hv_history(df, info)[-1]:.3f}"
            out[f"front_{strategy}"] = str(len(front))
            out[f"best_{strategy}"] = _pct(float(front["acc"].max()))
            out[f"smallest_{strategy}"] = f"{float(front['size_kb'].min()):.1f} KB"
    return out


def _check_pipeline(p: dict[str, str]) -> dict[str, str]:
    import json

    from compression import pipeline

    ds, base = _ds_model(p)
    if p.get("recipe"):
        try:
            recipe = pipeline.Recipe.from_dict({"stages": json.loads(p["recipe"])})
        except (ValueError, TypeError) as exc:
            raise LessonError(f"The step's recipe is not a pipeline recipe: {exc}") from exc
    else:  # a step without a recipe opens the Pipeline page at its starting recipe
        recipe = pipeline.default_recipe()
    if len(recipe.stages) > 6:
        raise LessonError("A lesson's pipeline check runs at most 6 stages.")
    res = pipeline.run(recipe, base, ds)
    first, last = res.stages[0], res.stages[-1]
    return {
        "ratio": f"{res.ratio:.1f}x",
        "dense": fmt_bytes(first.bytes),
        "final": fmt_bytes(last.bytes),
        "stages": "; ".join(f"{s.label} {fmt_bytes(s.bytes)}" for s in res.stages[1:]),
        "top1_base": _pct(first.measurement.top1),
        "top1": _pct(last.measurement.top1),
        "drop": _pts(last.measurement.top1 - first.measurement.top1),
    }


def fmt_bytes(n: float) -> str:
    return fmt.bytes_(n)


CHECKS: dict[str, Check] = {
    "weights": Check(
        _check_weights,
        {
            "weights": "Weights (conv and linear)",
            "layers": "Layers",
            "small": "Within 10 % of their layer's largest",
            "median": "Median |w|",
            "max": "Largest |w|",
            "biggest": "Largest layer",
        },
        "reads the trained baseline's weights and measures how many lie close to zero",
    ),
    "prune": Check(
        _check_prune,
        {"sparsity": "Weights gone", **_ACC_FIELDS},
        "prunes the baseline with the step's settings and measures it on the full test split",
    ),
    "prune-speed": Check(
        _check_prune_speed,
        {
            "sparsity": "Weights gone",
            "drop": "Change in top-1 (points)",
            "macs_ratio": "Executed MACs vs dense",
            "macs_effective_ratio": "MACs zero-skipping hardware would do",
            "speedup_b256": "Speed-up at batch 256 (paired)",
            "speedup_b1": "Speed-up at batch 1 (paired)",
            "cpu": "Timed on",
        },
        "prunes and times the result interleaved with the baseline (a paired ratio, with its IQR)",
    ),
    "quantize": Check(
        _check_quantize,
        {
            "bits": "Effective bits per weight",
            "levels": "Levels on the grid",
            "layer": "Layer drawn",
            **_ACC_FIELDS,
        },
        "quantizes the baseline's weights with the step's scheme and bits and measures it",
    ),
    "temperature": Check(
        _check_temperature,
        {
            "T": "Temperature",
            "entropy_1": "Mean entropy at T = 1",
            "entropy_t": "Mean entropy at T",
            "entropy_max": "Uniform (the maximum)",
            "lookalike": "Strongest dark knowledge",
        },
        "softens the teacher's test logits at T and measures what they carry",
    ),
    "pipeline": Check(
        _check_pipeline,
        {
            "ratio": "Times smaller than the dense file",
            "dense": "Dense fp32 file",
            "final": "After the last stage",
            "stages": "File after each stage",
            "top1_base": "Top-1 of the baseline",
            "top1": "Top-1 after the last stage",
            "drop": "Change in top-1 (points)",
        },
        "runs the step's pipeline stage by stage, writing and measuring every stage's file",
    ),
    "lowrank": Check(
        _check_lowrank,
        {
            "rank": "Rank kept",
            "full": "Full rank",
            "energy": "Energy kept",
            "params_before": "Layer weights, whole",
            "params_after": "Layer weights, factorised",
            "params_ratio": "Factorised / whole weights",
            "macs_ratio": "Factorised / whole MACs",
            "breakeven": "Break-even rank",
            "top1_base": "Top-1 of the baseline",
            "top1": "Top-1, this layer factorised",
            "drop": "Change in top-1 (points)",
        },
        "factorises the step's layer at the step's rank and measures the model on the full test split",
    ),
    "distil": Check(
        _check_distil,
        {
            "distilled": "Distilled student, top-1",
            "scratch": "Scratch twin, top-1",
            "gain": "Distilled - scratch (points)",
            "steps": "Optimizer steps",
            "labels": "Labelled training images",
            "transfer": "Unlabelled (teacher only)",
        },
        "trains the step's student twice from the same start, with the teacher and from the labels alone",
    ),
    "darts": Check(
        _check_darts,
        {
            "edges": "Edges per cell",
            "ops": "Operations on each edge",
            "alphas": "Architecture parameters (α, β)",
            "weights": "Supernet weights",
            "macs_super": "Supernet MACs / image",
            "macs_cell": "A derived network's MACs / image",
            "ratio": "Supernet / derived MACs",
            "share": "Each op's share before the search",
        },
        "builds the step's supernet and a network from a derived cell (a random one: before the search) and counts their multiply-accumulates",
    ),
    "lowrank-speed": Check(
        _check_lowrank_speed,
        {
            "rank": "Rank kept",
            "full": "Full rank",
            "speedup": "Factorised layer vs whole, batch 256 (paired)",
            "breakeven": "Break-even rank (weights)",
            "cpu": "Timed on",
        },
        "factorises the step's layer at the step's rank and times it interleaved with the whole layer",
    ),
    "search-run": Check(
        _check_search_run,
        {
            "budget": "Trials per search",
            "hv_random": "Hypervolume, random",
            "hv_tpe": "Hypervolume, TPE",
            "front_random": "Policies on the front, random",
            "front_tpe": "Policies on the front, TPE",
            "best_random": "Best on the front, random",
            "best_tpe": "Best on the front, TPE",
            "smallest_random": "Smallest on the front, random",
            "smallest_tpe": "Smallest on the front, TPE",
        },
        "runs the step's search budget twice, random sampling and TPE, with the same seed, on validation images",
    ),
    "search": Check(
        _check_search,
        {
            "layers": "Layers the policy sets",
            "per_layer": "Choices per layer",
            "policies": "Policies in the space",
            "base_acc": "Baseline, validation top-1",
            "uniform_acc": "Uniform 50 % / 4 bits, top-1",
            "uniform_kb": "Uniform policy's file",
            "dense_kb": "Dense fp32 weights",
        },
        "counts the search space and scores the uniform policy (50 % pruned, 4 bits) on validation images",
    ),
}


def run_check(step: Step) -> dict[str, str]:
    """The step's check, computed now from the engine (the page caches it by name and parameters)."""
    if step.check is None:
        return {}
    return CHECKS[step.check].run({**step.check_params})


def say(step: Step, values: dict[str, str]) -> str:
    """The step's sentence with the computed values filled in (fields were checked at parse time)."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(step.say):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, "?"))
    return "".join(out)


# ---------------------------------------------------------------- the lesson file


@dataclass(frozen=True)
class Step:
    title: str
    body: str  # Markdown narrative (the lesson author's)
    lab: str | None = None  # a key of LABS
    params: dict[str, str] = field(default_factory=dict)  # the lab's URL parameters
    chart: str | None = None  # the element key of the one chart to look at
    formula: str = ""  # LaTeX
    check: str | None = None  # a key of CHECKS
    check_args: dict[str, str] = field(default_factory=dict)  # beyond the link's parameters
    say: str = ""  # a sentence with {value} fields from the check

    @property
    def check_params(self) -> dict[str, str]:
        return {**self.params, **self.check_args}

    @property
    def chart_title(self) -> str:
        return LABS[self.lab].charts[self.chart] if self.lab and self.chart else ""

    def query(self) -> dict[str, str]:
        """The lab's URL parameters, with the tab that holds the step's chart opened."""
        tab = LABS[self.lab].views.get(self.chart or "") if self.lab else None
        return {**self.params, "view": tab} if tab else dict(self.params)

    def link(self) -> tuple[str, dict[str, str]] | None:
        """(page file, query parameters) for st.page_link, or None when the step opens no lab; the lab brings
        the step's chart on screen (`focus`: often it is below the fold)."""
        if self.lab is None:
            return None
        focus = {"focus": self.chart} if self.chart else {}
        return LABS[self.lab].page, {**self.query(), **focus}

    def url(self) -> str | None:
        """The step's settings as a relative URL ("prune?dataset=digits&amount=0.9"), what the page shows:
        not percent-encoded, so a recipe reads as JSON on a projector (the link itself is encoded)."""
        if self.lab is None:
            return None
        return f"{LABS[self.lab].url}?" + "&".join(f"{k}={v}" for k, v in self.query().items())


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    summary: str
    intro: str
    steps: tuple[Step, ...]
    minutes: int = 10
    order: int = 100  # position in the list


_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n?(.*)\Z", re.S)


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without anchors and aliases: a few bytes of aliases can expand to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: ANN401 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise LessonError(
                f"The header uses a YAML alias (line {event.start_mark.line + 1}); lessons may not."
            )
        return super().compose_node(parent, index)


def _text(d: dict[str, Any], key: str, where: str, *, required: bool = False, limit: int = 500) -> str:
    v = d.get(key)
    if v is None:
        if required:
            raise LessonError(f"{where}: '{key}' is missing.")
        return ""
    if not isinstance(v, str | int | float) or isinstance(v, bool):
        raise LessonError(f"{where}: '{key}' must be text.")
    v = str(v)
    if len(v) > limit:
        raise LessonError(f"{where}: '{key}' is longer than {limit} characters.")
    return v


def _strict(d: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        raise LessonError(f"{where} must be a mapping of keys to values.")
    unknown = sorted(str(k) for k in d if k not in allowed)
    if unknown:
        raise LessonError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}."
        )
    return d


def _number(lo: float, hi: float) -> Callable[[str], bool]:
    def ok(v: str) -> bool:
        try:
            return lo <= float(v) <= hi
        except ValueError:
            return False

    return ok


@functools.cache
def value_rules() -> dict[tuple[str, str], tuple[Callable[[str], bool], str]]:
    """(lab, parameter) -> (accepts a value?, what it takes): a lesson file is checked when it is loaded,
    not mid-lecture when its lab warns and clamps (the labs' own URL rules, for their main settings)."""
    from compression import data, models
    from compression import pruning as P
    from compression.quantization import catalog, core, schemes

    def one_of(options: Any) -> tuple[Callable[[str], bool], str]:
        return (lambda v: v in options), "one of " + ", ".join(options)

    def number(lo: float, hi: float) -> tuple[Callable[[str], bool], str]:
        return _number(lo, hi), f"a number from {lo:g} to {hi:g}"

    rules = {("*", "dataset"): one_of(list(data.DATASETS)), ("*", "model"): one_of(list(models.MODELS))}
    rules |= {
        ("prune", "amount"): number(0, 0.99),
        ("prune", "method"): one_of(list(P.METHODS)),
        ("prune", "scope"): one_of(P.SCOPES),
        ("prune", "gran"): one_of(P.GRANULARITIES),
        ("prune", "sched"): one_of(P.SCHEDULES),
        ("quantize", "scheme"): one_of(list(catalog.SCHEMES)),
        ("quantize", "bits"): number(1, 16),
        ("quantize", "gran"): one_of(schemes.GRANULARITIES),
        ("quantize", "calib"): one_of(core.RANGE_METHODS),
        ("quantize", "init"): one_of(core.KMEANS_INITS),
    }
    return rules


def _params(raw: Any, allowed: tuple[str, ...], where: str, lab: str | None = None) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LessonError(f"{where} must be a mapping of parameter names to values.")
    out: dict[str, str] = {}
    for k, v in raw.items():
        if k not in allowed:
            raise LessonError(
                f"{where}: '{k}' is not a parameter of this lab (it reads {', '.join(allowed)})."
            )
        if isinstance(v, bool):
            v = "1" if v else "0"
        if not isinstance(v, str | int | float):
            raise LessonError(f"{where}: '{k}' must be a plain value.")
        v = f"{v:g}" if isinstance(v, float) else str(v)
        if not (_JSON_VALUE if k in JSON_PARAMS else _VALUE).match(v):
            raise LessonError(f"{where}: '{k}' holds characters a lab parameter never has.")
        rule = value_rules().get((lab or "", k)) or value_rules().get(("*", k))
        if rule is not None and not rule[0](v):
            raise LessonError(f"{where}: '{k}: {v}' is not a value the lab takes ({rule[1]}).")
        out[str(k)] = v
    return out


_STEP_KEYS = {"title", "lab", "params", "chart", "formula", "check", "check_args", "say"}
_LESSON_KEYS = {"id", "title", "summary", "minutes", "order", "steps"}


def _step(raw: Any, body: str, i: int) -> Step:
    where = f"steps[{i}]"
    d = _strict(raw, _STEP_KEYS, where)
    title = _text(d, "title", where, required=True, limit=120)
    lab = _text(d, "lab", where) or None
    if lab is not None and lab not in LABS:
        raise LessonError(f"{where}: unknown lab '{lab}'; lessons can open {', '.join(LABS)}.")
    params = _params(d.get("params"), (*SHARED, *LABS[lab].params) if lab else (), f"{where}.params", lab)
    chart = _text(d, "chart", where) or None
    if chart is not None and (lab is None or chart not in LABS[lab].charts):
        names = ", ".join(LABS[lab].charts) if lab else "none (no lab)"
        raise LessonError(f"{where}: unknown chart '{chart}' for this lab; it has {names}.")
    check = _text(d, "check", where) or None
    if check is not None and check not in CHECKS:
        raise LessonError(f"{where}: unknown check '{check}'; known: {', '.join(CHECKS)}.")
    check_args = _params(
        d.get("check_args"), (*SHARED, *(LABS[lab].params if lab else ()), "val"), f"{where}.check_args", lab
    )
    text = _text(d, "say", where, limit=1000)
    try:
        fields = [
            (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text) if name is not None
        ]
    except ValueError as exc:
        raise LessonError(f"{where}.say: {exc} (write {{{{ and }}}} for literal braces).") from exc
    for name, spec, conv in fields:
        known = CHECKS[check].fields if check else {}
        if name not in known or spec or conv:
            raise LessonError(
                f"{where}.say: '{{{name}}}' is not a value of the check "
                f"({', '.join(known) if known else 'the step has no check'}); write plain {{name}} fields."
            )
    return Step(
        title=title,
        body=body,
        lab=lab,
        params=params,
        chart=chart,
        formula=_text(d, "formula", where, limit=2000),
        check=check,
        check_args=check_args,
        say=text,
    )


def parse(data: bytes | str, *, fallback_id: str = "lesson") -> Lesson:
    """A lesson from its file's bytes; raises LessonError with the reason for anything it refuses."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_BYTES:
        raise LessonError(
            f"The file is {fmt.bytes_(len(raw))}; a lesson may be at most {fmt.bytes_(MAX_BYTES)}."
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LessonError(f"The file is not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    m = _FRONT.match(text.lstrip("\ufeff"))
    if not m:
        raise LessonError(
            "The file has no header: it must start with '---', the YAML or JSON header, then '---'."
        )
    try:
        head = yaml.load(m.group(1), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader without aliases
    except LessonError:
        raise
    except yaml.YAMLError as exc:
        raise LessonError(f"The header is not valid YAML or JSON: {str(exc)[:300]}") from exc
    d = _strict(head, _LESSON_KEYS, "The header")
    lesson_id = _text(d, "id", "The header") or fallback_id
    if not _ID.match(lesson_id):
        raise LessonError("The header: 'id' must be lower-case letters, digits and dashes (at most 64).")
    steps_raw = d.get("steps")
    if not isinstance(steps_raw, list) or not 1 <= len(steps_raw) <= MAX_STEPS:
        raise LessonError(f"The header: 'steps' must be a list of 1 to {MAX_STEPS} steps.")
    intro, sections = _sections(m.group(2))
    if len(sections) != len(steps_raw):
        raise LessonError(
            f"The header lists {len(steps_raw)} steps but the text has {len(sections)} '## ' sections; "
            "write one section per step, in the same order."
        )
    steps = tuple(_step(s, body, i) for i, (s, body) in enumerate(zip(steps_raw, sections, strict=True)))
    minutes, order = d.get("minutes", 10), d.get("order", 100)
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1000 for v in (minutes, order)):
        raise LessonError("The header: 'minutes' and 'order' must be whole numbers from 0 to 1000.")
    return Lesson(
        id=lesson_id,
        title=_text(d, "title", "The header", required=True, limit=120),
        summary=_text(d, "summary", "The header", limit=500),
        intro=intro,
        steps=steps,
        minutes=minutes,
        order=order,
    )


def _sections(body: str) -> tuple[str, list[str]]:
    """(text before the first '## ' heading, the text of each '## ' section without its heading)."""
    parts = re.split(r"(?m)^## [^\n]*\n?", body)
    return parts[0].strip(), [p.strip() for p in parts[1:]]


def load_dir(folder: Path = LESSON_DIR) -> list[Lesson]:
    """Every lesson in a folder, in their `order`; a bad shipped file is a bug, so it raises."""
    lessons = []
    for path in sorted(folder.glob("*.md")):
        try:
            lessons.append(parse(path.read_bytes(), fallback_id=path.stem))
        except LessonError as exc:
            raise LessonError(f"{path.name}: {exc}") from exc
    ids = [lesson.id for lesson in lessons]
    if len(set(ids)) != len(ids):
        raise LessonError(f"Two lessons share an id in {folder.name}: {sorted(ids)}")
    return sorted(lessons, key=lambda lesson: (lesson.order, lesson.title))
