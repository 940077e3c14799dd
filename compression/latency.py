"""Speed as a paired ratio: baseline and candidate timed interleaved, in one process, same threads.

Two medians taken at different moments on a shared machine are not comparable (2 threads on a
loaded 2-core machine gave ratios from 0.02x to 436x for the same pair); a ratio from one paired
run is. `paired_latency` times A, B, B, A, A, B ... in short rounds (each with timeit, as
torch.utils.benchmark does inside), takes the ratio of each round and reports the median ratio with
its interquartile range, both medians, the thread count, the load and the CPU (model and ISA flags),
so a result says where it came from. The pairing and the per-round ratios are ours:
torch.utils.benchmark times one statement at a time and has no notion of a paired comparison.
"""

from __future__ import annotations

import functools
import os
import platform
import threading
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

DEFAULT_THREADS = 1  # pinned: on a shared 2-core machine 2 threads can stall 100x when another process runs
NOISY_CV = 0.10  # robust coefficient of variation of the per-round ratios above which a result is "noisy"
ISA_FLAGS = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI", "amx_tile": "AMX"}


# ---------------------------------------------------------------- the CPU


@dataclass(frozen=True)
class CPU:
    model: str
    flags: tuple[str, ...]  # the ISA flags that matter for INT8 kernels, as /proc/cpuinfo names them
    cores: int

    @property
    def vnni(self) -> bool:
        """int8 dot-product instructions: without them x86 INT8 needs 7-bit activations (reduce_range)."""
        return "avx512_vnni" in self.flags or "amx_tile" in self.flags

    def describe(self) -> str:
        """'AMD EPYC 9R14 (AVX2, AVX-512, AVX-512 VNNI), 2 cores'."""
        isa = ", ".join(ISA_FLAGS[f] for f in ISA_FLAGS if f in self.flags) or "no AVX2"
        return f"{self.model} ({isa}), {self.cores} cores"


@functools.cache
def cpu_info() -> CPU:
    """The processor's model name and INT8-relevant ISA flags (Linux /proc/cpuinfo; elsewhere the platform)."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return CPU(model or "unknown CPU", tuple(f for f in ISA_FLAGS if f in flags), os.cpu_count() or 1)


def load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:
        return 0.0


def measurement_threads() -> int:
    """Threads used for every timing: COMPRESSION_THREADS, default 1 (recorded with each result)."""
    raw = os.environ.get("COMPRESSION_THREADS", "")
    try:
        n = int(raw) if raw else DEFAULT_THREADS
    except ValueError:
        n = DEFAULT_THREADS
    return max(1, min(n, os.cpu_count() or 1))


# ---------------------------------------------------------------- paired timing


@dataclass(frozen=True)
class Paired:
    batch: int
    baseline_ms: float  # median over rounds
    candidate_ms: float
    speedup: float  # median of per-round baseline/candidate ratios: > 1 means the candidate is faster
    speedup_lo: float  # 25th percentile of the per-round ratios
    speedup_hi: float  # 75th percentile
    cv: float  # robust coefficient of variation of the per-round ratios: IQR / 1.349 / median
    rounds: int
    threads: int
    load: float  # 1-minute load average when the measurement ended
    cpu: str

    @property
    def noisy(self) -> bool:
        """Wide spread, or more runnable processes than cores: re-measure before acting on it."""
        return self.cv > NOISY_CV or self.load > cpu_info().cores


def fastest_form(model: nn.Module, x: torch.Tensor, threads: int) -> nn.Module:
    """Of the model's equivalent inference forms (eager, BatchNorm folded) the faster one here."""
    from compression.metrics import inference_forms

    forms = inference_forms(model, x[:2])
    if len(forms) == 1:
        return forms[0]
    best_s = []
    with _threads(threads):
        for form in forms:  # calibrated once per form (it was once per repeat), then its best of 3
            n = _calibrate(form, x, 0.01)
            best_s.append(min(_time(form, x, n) for _ in range(3)))
    return forms[int(np.argmin(best_s))]


_PIN_LOCK = threading.RLock()


class _threads:
    """Pin torch's intra-op threads for the duration of a measurement, one measurement at a time.

    torch's thread count is not the measuring thread's own: set in one thread, it changes the count of
    threads already running and of every thread started later (the server's next page run, a job). Two
    measurements overlapping in two threads changed each other's count mid-run and could leave the
    process at the pinned count; they would also compete for the same cores. So they take turns."""

    def __init__(self, n: int) -> None:
        self.n, self.before = n, 0

    def __enter__(self) -> None:
        _PIN_LOCK.acquire()
        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        try:
            torch.set_num_threads(self.before)
        finally:
            _PIN_LOCK.release()


def clock_name(threads: int) -> str:
    return "thread CPU time" if threads == 1 else "wall time"


def _time(model: nn.Module, x: torch.Tensor, number: int, clock: Callable[[], float] | None = None) -> float:
    """Seconds per forward pass, averaged over `number` back-to-back calls.

    At one thread the forward pass runs in this thread, so it is timed in this thread's CPU time: time
    spent waiting for a core that another process holds is left out. Under load that kept ten repeats of
    a paired ratio within 1.11x of each other where wall time spread 3.5x (bench/results/latency.md).
    With more threads the work runs elsewhere too, and wall time is the only honest clock.

    The standard library's timeit, which torch.utils.benchmark.Timer wraps: Timer.timeit first makes
    max(number // 100, 2) untimed calls every time, which tripled the cost of a round of one batch-256
    call of a large model (bn-cnn's baseline took 83 s to measure); `_calibrate` warms up once instead."""
    if clock is None:
        clock = time.thread_time if torch.get_num_threads() == 1 else timeit.default_timer
    timer = timeit.Timer(
        "with torch.inference_mode(): model(x)", globals={"model": model, "x": x, "torch": torch}, timer=clock
    )
    return timer.timeit(number) / number


def _calibrate(model: nn.Module, x: torch.Tensor, round_s: float) -> int:
    """Calls per round so that one round lasts about `round_s` (after a warm-up)."""
    _time(model, x, 1)  # warm-up: allocator, oneDNN primitive cache
    once = min(_time(model, x, 1) for _ in range(3))
    return max(1, int(round_s / max(once, 1e-6)))


def paired_latency(
    baseline: nn.Module,
    candidate: nn.Module,
    input_shape: tuple[int, ...],
    batch: int,
    *,
    threads: int | None = None,
    rounds: int = 16,
    round_s: float = 0.02,
) -> Paired:
    """Time `baseline` and `candidate` interleaved (ABBA order) and return their paired speed-up.

    Each round times both models for about `round_s` each, back to back, and yields one ratio;
    a burst of load from another process hits both halves of a round alike, so the per-round
    ratio stays steady even when the absolute times do not.
    """
    threads = threads or measurement_threads()
    x = torch.randn(batch, *input_shape)
    baseline.eval()
    candidate.eval()
    # a model timed against itself (its own measurement): its form is chosen and calibrated once
    same = candidate is baseline
    a_model = fastest_form(baseline, x, threads)
    b_model = a_model if same else fastest_form(candidate, x, threads)
    a_t, b_t = [], []
    with _threads(threads):
        na = _calibrate(a_model, x, round_s)
        nb = na if same else _calibrate(b_model, x, round_s)
        for r in range(rounds):
            if r % 2 == 0:
                a_t.append(_time(a_model, x, na))
                b_t.append(_time(b_model, x, nb))
            else:
                b_t.append(_time(b_model, x, nb))
                a_t.append(_time(a_model, x, na))
    a, b = np.array(a_t), np.array(b_t)
    ratios = a / b
    median, lo, hi = (float(v) for v in np.percentile(ratios, [50, 25, 75]))
    return Paired(
        batch=batch,
        baseline_ms=float(np.median(a) * 1e3),
        candidate_ms=float(np.median(b) * 1e3),
        speedup=median,
        speedup_lo=lo,
        speedup_hi=hi,
        cv=(hi - lo) / 1.349 / median,  # one outlier round does not make a result noisy; a wide IQR does
        rounds=rounds,
        threads=threads,
        load=load_average(),
        cpu=f"{cpu_info().describe()}; {clock_name(threads)}",
    )


def latency_ms(
    model: nn.Module, input_shape: tuple[int, ...], batch: int, *, threads: int | None = None
) -> float:
    """One model's median latency in ms at the pinned thread count (a model paired with itself)."""
    return paired_latency(model, model, input_shape, batch, threads=threads, rounds=8).baseline_ms
