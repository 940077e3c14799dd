"""One measurement for every model: accuracy, size and compute, theoretical and measured.

Theoretical numbers are what a compression promises (non-zero weights at their effective bit
width, MACs that skip zero weights). Measured numbers come from a real artifact written to
disk and from timing the model as it really runs. `explain_gaps` says why they differ.
"""

from __future__ import annotations

import copy
import itertools
import math
import tempfile
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch.utils.flop_counter import FlopCounterMode

from compression import latency as timing
from compression.data import Dataset

EVAL_BATCH = 1000
ROUND_S = 0.015  # seconds each model runs per paired round


@dataclass(frozen=True)
class Measurement:
    top1: float  # test split, fraction 0..1
    top5: float
    loss: float
    params_total: int
    params_nonzero: int
    effective_bits: float  # parameter-weighted bits per stored weight (log2 of distinct levels)
    size_dense_bytes: int  # fp32, every parameter: the uncompressed reference
    size_theoretical_bytes: int  # non-zero weights at their effective bits, no index overhead
    size_artifact_bytes: int  # bytes of the artifact really written to disk
    macs: int  # executed multiply-accumulates per image (torch.utils.flop_counter)
    macs_effective: int  # what zero-skipping hardware would execute
    latency_b1_ms: float | None  # median over paired rounds (compression.latency)
    latency_b256_ms: float | None
    threads: int
    runs_dense: bool  # True when the model executes in float with every weight (masks, fake quant)
    # Against the run's original baseline (its lineage), never its own shape. Latencies are paired:
    # baseline and this model timed interleaved in one process, same threads (compression.latency).
    baseline_params: int = 0  # parameters of the original baseline (0: an old run that did not say)
    baseline_macs: int = 0
    baseline_latency_b1_ms: float | None = None
    baseline_latency_b256_ms: float | None = None
    speedup_b1: float | None = None  # median of per-round baseline/model time ratios: > 1 is faster
    speedup_b1_lo: float | None = None  # interquartile range of the per-round ratios
    speedup_b1_hi: float | None = None
    speedup_b256: float | None = None
    speedup_b256_lo: float | None = None
    speedup_b256_hi: float | None = None
    latency_noisy: bool = False  # wide spread or an overloaded machine: re-measure before acting
    cpu: str = ""  # model and INT8-relevant ISA flags of the CPU the latencies come from

    @property
    def sparsity(self) -> float:
        """Fraction of the original baseline's weights that are zero or physically removed."""
        return 1 - self.params_nonzero / max(1, self.baseline_params or self.params_total)

    @property
    def compression(self) -> float:
        """Dense fp32 size of the original baseline over the bytes of this model's file."""
        return self.size_dense_bytes / max(1, self.size_artifact_bytes)

    @property
    def timed(self) -> bool:
        """Whether this model's own latency was measured (an untimed one has only its baseline's)."""
        return self.latency_b1_ms is not None or self.latency_b256_ms is not None

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return asdict(self)


# ---------------------------------------------------------------- accuracy


@torch.inference_mode()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH
) -> tuple[float, float, float]:
    """Top-1, top-5 (fractions) and mean cross-entropy over (x, y) in batches."""
    model.eval()
    correct1 = correct5 = 0
    loss_sum = 0.0
    for i in range(0, len(x), batch_size):
        logits = model(x[i : i + batch_size]).float()
        yb = y[i : i + batch_size]
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        correct1 += int((logits.argmax(1) == yb).sum())  # one top-1 rule everywhere: argmax, as `predict`
        correct5 += int((top == yb[:, None]).any(dim=1).sum())
        loss_sum += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
    n = max(1, len(x))
    return correct1 / n, correct5 / n, loss_sum / n


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def confusion(model: nn.Module, ds: Dataset) -> torch.Tensor:
    pred = predict(model, ds.x_test)
    k = ds.num_classes
    return torch.bincount(ds.y_test * k + pred, minlength=k * k).reshape(k, k)


# ---------------------------------------------------------------- weights


def weight_tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """Every stored parameter tensor as float, real INT8 (torch.ao quantized) modules included."""
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        w = getattr(module, "weight", None)
        if callable(w) and not isinstance(w, nn.Parameter):  # quantized module: weight()
            q = w()
            yield f"{mod_name}.weight", q.dequantize() if q.is_quantized else q
            b = module.bias() if callable(getattr(module, "bias", None)) else None
            if b is not None:
                yield f"{mod_name}.bias", b
            continue
        for p_name, p in module.named_parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                yield f"{mod_name}.{p_name}" if mod_name else p_name, _plain(p.detach())


def _plain(t: torch.Tensor) -> torch.Tensor:
    """A tensor subclass that stores int8 codes and scales (torchao's Int8Tensor) as its float values."""
    if type(t) in (torch.Tensor, nn.Parameter) or not hasattr(t, "dequantize"):
        return t
    return t.dequantize()


def _level_bits(values: torch.Tensor, dtype_bits: float, has_zero: bool) -> float | None:
    """ceil(log2(distinct levels, zero included if present)) when values repeat, else None."""
    levels = int(torch.unique(values).numel()) + int(has_zero)
    if levels > 256 or 2 * levels > values.numel():  # values do not repeat: no sharing to exploit
        return None
    return min(dtype_bits, max(1.0, math.ceil(math.log2(levels))))


def effective_bits(t: torch.Tensor) -> float:
    """Bits needed per stored value: log2 of the distinct levels, capped by the dtype.

    Levels are counted over the whole tensor and per output channel (per-channel quantization
    gives every row a grid of its own); the cheaper count wins.
    """
    dtype_bits = float(torch.finfo(t.dtype).bits) if t.is_floating_point() else 8.0
    nz = t[t != 0]
    if nz.numel() == 0:
        return 0.0
    has_zero = nz.numel() < t.numel()  # decided on the whole tensor, before any sampling
    if nz.numel() > 1 << 17:  # huge tensors: a sample tells whether levels are few
        nz = nz.flatten()[torch.randperm(nz.numel(), generator=torch.Generator().manual_seed(0))[: 1 << 17]]
    candidates = [_level_bits(nz, dtype_bits, has_zero)]
    if t.dim() > 1 and t.shape[0] > 1:
        rows = [
            _level_bits(row[row != 0], dtype_bits, has_zero)
            for row in t.flatten(1)[:64]
            if bool((row != 0).any())
        ]
        if rows and all(r is not None for r in rows):
            candidates.append(max(r for r in rows if r is not None))
    found = [c for c in candidates if c is not None]
    bits = min(found) if found else None
    return dtype_bits if bits is None else bits


def int8_layers(model: nn.Module) -> set[str]:
    """Layers whose weights are stored as int8 codes: torch.ao's quantized modules (weight() is a method)
    and tensor subclasses that hold int8 codes and scales (torchao's Int8Tensor)."""

    def coded(w: object) -> bool:
        if callable(w) and not isinstance(w, nn.Parameter):
            return True
        return isinstance(w, torch.Tensor) and getattr(getattr(w, "qdata", None), "dtype", None) == torch.int8

    return {name for name, m in model.named_modules() if coded(getattr(m, "weight", None))}


def is_quantized_model(model: nn.Module) -> bool:
    return bool(int8_layers(model))


# ---------------------------------------------------------------- compute


def _leaf_macs(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """Executed MACs per module (flop counter's per-module totals / 2)."""
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, *input_shape))
    root = type(model).__name__
    out: dict[str, int] = {}
    for name, module in model.named_modules():
        if name and not list(module.children()):
            key = f"{root}.{name}"
            out[name] = int(sum(counter.get_flop_counts().get(key, {}).values())) // 2
    out[""] = int(counter.get_total_flops()) // 2
    return out


def macs(model: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(executed MACs, zero-skipping MACs) per image."""
    per = _leaf_macs(model, input_shape)
    total = per.pop("")
    skipped = 0.0
    for name, module in model.named_modules():
        w = getattr(module, "weight", None)
        if name in per and isinstance(w, torch.Tensor) and w.dim() > 1:
            skipped += per[name] * float((_plain(w) == 0).sum()) / w.numel()
    return total, int(round(total - skipped))


# ---------------------------------------------------------------- latency


def inference_forms(model: nn.Module, x: torch.Tensor) -> list[nn.Module]:
    """The equivalent forms a deployment could run: the model in eval mode and, when it has BatchNorm,
    a copy with each BatchNorm folded into the convolution before it (`fold_batchnorm`). Which is
    faster depends on the CPU's kernels: on the development machine folding sped up the dense BN-CNN
    but slowed its pruned twin (oneDNN convolutions with a bias ran slower there), so latency takes
    the faster of the two."""
    model.eval()
    if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        return [model]
    folded = fold_batchnorm(model, x)
    return [model] if folded is None else [model, folded]


def fold_batchnorm(model: nn.Module, x: torch.Tensor) -> nn.Module | None:
    """A copy with every BatchNorm2d folded into the Conv2d registered just before it in the same
    parent (torch's `fuse_conv_bn_eval` does the arithmetic). Hand-matched, not torch.fx's `fuse`:
    FX tracing patches nn.Module.__call__ process-wide, which broke models that other jobs were
    training in other threads meanwhile. Registration order is not data flow in every model, so the
    copy is kept only when its outputs on `x` match the model's; None when nothing folds or they differ."""
    folded = copy.deepcopy(model).eval()
    changed = False
    try:
        for parent in folded.modules():
            names = list(parent._modules)
            for a, b in itertools.pairwise(names):
                conv, bn = parent._modules[a], parent._modules[b]
                if (
                    type(conv) is nn.Conv2d
                    and type(bn) is nn.BatchNorm2d
                    and bn.track_running_stats
                    and bn.num_features == conv.out_channels
                ):
                    parent._modules[a] = fuse_conv_bn_eval(conv, bn)
                    parent._modules[b] = nn.Identity()
                    changed = True
        if not changed:
            return None
        with torch.inference_mode():
            want, got = model(x), folded(x)
        if not torch.allclose(got, want, rtol=1e-3, atol=1e-4 * float(want.abs().max()) + 1e-6):
            return None
    except Exception:  # noqa: BLE001 - a layer the fold cannot handle: time the model as it is
        return None
    return folded


def latency_ms(model: nn.Module, input_shape: tuple[int, ...], batch: int) -> float:
    """Median wall time of one forward pass at `batch` in ms, pinned threads, of the faster of the
    model's inference forms. A single model's milliseconds: compare two models with
    `compression.latency.paired_latency`, never with two of these taken at different moments."""
    return timing.latency_ms(model, input_shape, batch)


def paired_fields(
    baseline: nn.Module, model: nn.Module, input_shape: tuple[int, ...], rounds: int
) -> dict[str, object]:
    """Measurement fields of `model` timed paired with `baseline` at batch 1 and 256."""
    out: dict[str, object] = {"latency_noisy": False}
    for batch in (1, 256):
        p = timing.paired_latency(baseline, model, input_shape, batch, rounds=rounds)
        out |= {
            f"latency_b{batch}_ms": p.candidate_ms,
            f"baseline_latency_b{batch}_ms": p.baseline_ms,
            f"speedup_b{batch}": p.speedup,
            f"speedup_b{batch}_lo": p.speedup_lo,
            f"speedup_b{batch}_hi": p.speedup_hi,
        }
        out["latency_noisy"] = bool(out["latency_noisy"]) or p.noisy
    threads = timing.measurement_threads()
    return out | {"cpu": f"{timing.cpu_info().describe()}; {timing.clock_name(threads)}", "threads": threads}


def _rounds(min_run_time: float) -> int:
    """Paired rounds for a time budget per batch size (two models x rounds x ~15 ms)."""
    return int(min(40, max(16, min_run_time / (2 * ROUND_S))))


# ---------------------------------------------------------------- size


def dense_bytes(model: nn.Module) -> int:
    return sum(t.numel() for _, t in weight_tensors(model)) * 4


def theoretical_bytes(model: nn.Module) -> tuple[int, float]:
    """(bytes of non-zero weights at their effective bits, parameter-weighted mean bits)."""
    bits_total = 0.0
    weighted = 0.0
    n = 0
    for _, t in weight_tensors(model):
        b = effective_bits(t)
        bits_total += int((t != 0).sum()) * b
        weighted += t.numel() * b
        n += t.numel()
    return int(math.ceil(bits_total / 8)), (weighted / n if n else 0.0)


ArtifactWriter = Callable[[nn.Module, Path], None]


def artifact_bytes(model: nn.Module, writer: ArtifactWriter | None = None) -> int:
    """Write the model's artifact to a temporary file and return its size on disk (by default the
    file a recorded run keeps: `model_file.save`)."""
    from compression import model_file

    writer = writer or model_file.save
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.cla"
        writer(model, path)
        return path.stat().st_size


# ---------------------------------------------------------------- all together


_REFERENCES: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], tuple[int, int]]] = (
    weakref.WeakKeyDictionary()
)


def _reference(baseline: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    """(parameters, executed MACs) of a baseline, counted once per model object: every slider move
    measures a candidate against the same never-mutated baseline (pages share it from a cache)."""
    per_shape = _REFERENCES.setdefault(baseline, {})
    if input_shape not in per_shape:
        params = sum(t.numel() for _, t in weight_tensors(baseline))
        per_shape[input_shape] = (params, macs(baseline, input_shape)[0])
    return per_shape[input_shape]


def measure(
    model: nn.Module,
    ds: Dataset,
    *,
    baseline: nn.Module | None = None,
    latency: bool = True,
    min_run_time: float = 0.3,
    macs_model: nn.Module | None = None,
    writer: ArtifactWriter | None = None,
    runs_dense: bool | None = None,
) -> Measurement:
    """Measure `model` on the test split of `ds`, its ratios against `baseline`.

    baseline: the original model of this run's lineage (None: `model` is its own baseline). Dense
    size, sparsity and MACs are referred to it, and latency is timed paired with it (interleaved,
    same threads), so a structurally pruned model is never compared with its own shape.
    min_run_time: the time budget per batch size of the paired timing, in seconds.
    macs_model: a float twin to count MACs on when `model` runs kernels the flop counter
    cannot see (real INT8). runs_dense: whether zeros and fake-quantized levels still execute
    as dense float (default: True unless the model holds real quantized modules).
    """
    reference = model if baseline is None else baseline
    top1, top5, loss = evaluate(model, ds.x_test, ds.y_test)
    tensors = list(weight_tensors(model))
    total = sum(t.numel() for _, t in tensors)
    nonzero = sum(int((t != 0).sum()) for _, t in tensors)
    theo, bits = theoretical_bytes(model)
    executed, effective = macs(macs_model or model, ds.input_shape)
    ref_total, ref_macs = (total, executed) if baseline is None else _reference(baseline, ds.input_shape)
    timed: dict[str, object] = {
        "latency_b1_ms": None,
        "latency_b256_ms": None,
        "threads": timing.measurement_threads(),
    }
    if latency:
        timed |= paired_fields(reference, model, ds.input_shape, _rounds(min_run_time))
    return Measurement(
        top1=top1,
        top5=top5,
        loss=loss,
        params_total=total,
        params_nonzero=nonzero,
        effective_bits=bits,
        size_dense_bytes=ref_total * 4,
        size_theoretical_bytes=theo,
        size_artifact_bytes=artifact_bytes(model, writer),
        macs=executed,
        macs_effective=effective,
        runs_dense=(not is_quantized_model(model)) if runs_dense is None else runs_dense,
        baseline_params=ref_total,
        baseline_macs=ref_macs,
        **timed,  # type: ignore[arg-type]
    )


def explain_gaps(m: Measurement) -> list[str]:
    """Plain-language reasons why measured numbers differ from what compression promises."""
    notes: list[str] = []
    sparsity = m.sparsity
    if m.size_artifact_bytes > 1.15 * max(1, m.size_theoretical_bytes):
        why = []
        if m.params_nonzero < 0.99 * m.params_total:  # zeros in the file (a structured model has none)
            why.append(
                "theory counts zero weights as free, but a file must store where each non-zero weight sits "
                "(indices) or keep the zeros as codes"
            )
        if m.effective_bits < 32:
            why.append("codebooks, scales and bit padding cost bytes")
        why.append("the file holds a header and the layout of every tensor")
        notes.append(
            f"The artifact is {m.size_artifact_bytes / max(1, m.size_theoretical_bytes):.2f}x its "
            f"theoretical size: " + "; ".join(why) + "."
        )
    if m.macs_effective < 0.95 * m.macs and m.runs_dense:
        notes.append(
            f"{sparsity:.0%} of the parameters are zero, so zero-skipping hardware would do "
            f"{m.macs_effective / max(1, m.macs):.0%} of the MACs; but zero weights still run "
            "through dense kernels on this CPU, so measured latency does not drop."
        )
    if m.effective_bits < 32 and m.runs_dense:
        notes.append(
            "Weights snap to few levels (fake quantization) but still execute as float32: "
            "the file shrinks, the latency does not."
        )
    if not m.runs_dense:
        notes.append("This model runs on real quantized (INT8) kernels: its latency is real.")
    return notes


def layer_table(model: nn.Module, input_shape: tuple[int, int, int]) -> list[dict[str, object]]:
    """One row per layer with weights: type, shape, parameters, sparsity, bits, MACs, share."""
    per = _leaf_macs(model, input_shape)
    rows: list[dict[str, object]] = []
    total_bytes = 0
    for name, module in model.named_modules():
        params = [t for n, t in weight_tensors(module) if "." not in n.lstrip(".")]
        if not params or list(module.children()):
            continue
        n = sum(t.numel() for t in params)
        nz = sum(int((t != 0).sum()) for t in params)
        w = params[0]
        rows.append(
            {
                "layer": name,
                "type": type(module).__name__,
                "shape": "x".join(str(s) for s in w.shape),
                "params": n,
                "nonzero": nz,
                "sparsity": 1 - nz / max(1, n),
                "bits": effective_bits(w),
                "macs": per.get(name, 0),
            }
        )
        total_bytes += n
    for r in rows:
        r["size_share"] = int(r["params"]) / max(1, total_bytes)  # type: ignore[arg-type]
    return rows


def near_zero(w: torch.Tensor, frac: float = 0.1) -> int:
    """How many of a layer's weights lie within `frac` of its largest magnitude (0 for an empty layer)."""
    a = w.detach().abs()
    return int((a < frac * a.max()).sum()) if a.numel() else 0


def layer_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weight tensor (not bias) of every layer that has one, by layer name."""
    return {
        name.removesuffix(".weight"): t
        for name, t in weight_tensors(model)
        if name.endswith(".weight") and t.dim() > 1
    }


def sample_predictions(
    model: nn.Module, ds: Dataset, n: int = 16
) -> tuple[torch.Tensor, list[int], list[int]]:
    """The first `n` test images (un-normalised for display), their labels and predictions."""
    x = ds.x_test[:n]
    return x, ds.y_test[:n].tolist(), predict(model, x).tolist()
