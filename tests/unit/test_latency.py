"""Paired latency and the one baseline: ratios against the lineage's original, the CPU named, stored."""

from __future__ import annotations

import dataclasses
import functools
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from compression import data, latency, metrics, models, runs, techniques
from compression import pruning as P

torch.set_num_threads(1)


@functools.cache
def digits() -> data.Dataset:
    return data.load("digits")


def build(name: str) -> nn.Module:
    ds = digits()
    torch.manual_seed(0)
    return models.build(name, ds.input_shape, ds.num_classes).eval()


def test_a_model_paired_with_itself_is_one_within_its_spread() -> None:
    m = build("lenet5")
    p = latency.paired_latency(m, m, digits().input_shape, 64, rounds=40, round_s=0.005)
    assert p.speedup_lo <= 1.0 <= p.speedup_hi, p
    assert p.speedup_lo <= p.speedup <= p.speedup_hi
    assert p.rounds == 40 and p.threads == latency.measurement_threads()
    assert p.baseline_ms > 0 and p.candidate_ms > 0
    assert p.cpu == f"{latency.cpu_info().describe()}; {latency.clock_name(p.threads)}"


def test_threads_are_pinned_during_a_measurement_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPRESSION_THREADS", "1")
    assert latency.measurement_threads() == 1
    seen: list[int] = []

    class Probe(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append(torch.get_num_threads())
            return x

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        latency.paired_latency(Probe(), Probe(), (4,), 1, rounds=2, round_s=0.001)
        assert set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize(("raw", "expected"), [("", 1), ("1", 1), ("abc", 1), ("-3", 1), ("100000", None)])
def test_measurement_threads_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: int | None
) -> None:
    monkeypatch.setenv("COMPRESSION_THREADS", raw)
    cores = latency.cpu_info().cores
    assert latency.measurement_threads() == (expected if expected is not None else cores)


def test_cpu_is_named_with_its_int8_flags() -> None:
    cpu = latency.cpu_info()
    assert cpu.model and cpu.cores >= 1
    assert set(cpu.flags) <= set(latency.ISA_FLAGS)
    text = cpu.describe()
    assert cpu.model in text
    assert ("AVX-512 VNNI" in text) == ("avx512_vnni" in cpu.flags)
    assert latency.CPU("x", ("avx2",), 2).vnni is False
    assert latency.CPU("x", ("avx2", "avx512_vnni"), 2).vnni is True


def test_a_structured_run_is_measured_against_the_original_model() -> None:
    ds = digits()
    base = build("bn-cnn")
    pruned = techniques.apply(base, P.StructuredPrune(amount=0.5), ds)
    m = metrics.measure(pruned, ds, baseline=base, latency=True, min_run_time=0.05)
    own = metrics.measure(pruned, ds, latency=False)
    base_params = sum(t.numel() for _, t in metrics.weight_tensors(base))
    assert m.params_total < 0.6 * base_params  # channels really removed
    assert m.baseline_params == base_params
    assert m.size_dense_bytes == 4 * base_params  # the original's dense size, not its own shape's
    assert m.sparsity > 0.4 and own.sparsity < 0.01  # against its own shape it looks untouched
    assert m.compression > 1.5 * own.compression
    assert m.baseline_macs == metrics.macs(base, ds.input_shape)[0] > m.macs
    # paired: both medians and the ratio come from one interleaved run
    for b in (1, 256):
        sp, lo, hi = (getattr(m, f"speedup_b{b}{e}") for e in ("", "_lo", "_hi"))
        assert lo <= sp <= hi
        assert getattr(m, f"baseline_latency_b{b}_ms") > 0 and getattr(m, f"latency_b{b}_ms") > 0
    assert m.cpu.startswith(latency.cpu_info().describe()) and "time" in m.cpu
    assert m.threads == latency.measurement_threads()


def test_paired_fields_survive_the_run_store(tmp_path: Path) -> None:
    ds = digits()
    base = build("lenet-300-100")
    pruned = techniques.apply(base, P.StructuredPrune(amount=0.5), ds)
    m = metrics.measure(pruned, ds, baseline=base, latency=True, min_run_time=0.05)
    store = runs.open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    run_id = runs.record_run(
        pruned,
        dataset="digits",
        arch="lenet-300-100",
        baseline_hash="abc",
        recipe=[P.StructuredPrune(amount=0.5)],
        measurement=m,
        technique="structured-prune",
        store=store,
    )
    got = store.get(run_id)
    assert got is not None and got.measurement == m
    frame = store.frame()
    assert frame.loc[0, "speedup_b256"] == pytest.approx(m.speedup_b256)
    assert frame.loc[0, "cpu"] == m.cpu


def test_a_noisy_run_is_remeasured_paired_with_its_stored_baseline(tmp_path: Path) -> None:
    from compression.runs import remeasure

    ds = digits()
    base = build("lenet-300-100")
    pruned = techniques.apply(base, P.StructuredPrune(amount=0.5), ds)
    store = runs.open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    common = {"dataset": "digits", "arch": "lenet-300-100", "baseline_hash": "not-a-zoo-hash", "store": store}
    runs.record_run(
        base, recipe=[], measurement=metrics.measure(base, ds, latency=False), technique="baseline", **common
    )
    stale = dataclasses.replace(metrics.measure(pruned, ds, baseline=base, latency=False), latency_noisy=True)
    run_id = runs.record_run(
        pruned,
        recipe=[P.StructuredPrune(amount=0.5)],
        measurement=stale,
        technique="structured-prune",
        **common,
    )
    m = remeasure.remeasure_speed(store, run_id, rounds=6)
    stored = store.get(run_id)
    assert stored is not None and stored.measurement == m
    assert m.speedup_b256 is not None and m.speedup_b256_lo <= m.speedup_b256 <= m.speedup_b256_hi
    assert m.cpu.startswith(latency.cpu_info().describe()) and "time" in m.cpu
    assert (m.top1, m.size_artifact_bytes, m.baseline_params) == (
        stale.top1,
        stale.size_artifact_bytes,
        stale.baseline_params,
    )


def test_remeasure_without_a_baseline_says_why(tmp_path: Path) -> None:
    from compression.runs import remeasure

    ds = digits()
    base = build("lenet-300-100")
    store = runs.open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    run_id = runs.record_run(
        base, dataset="digits", arch="lenet-300-100", baseline_hash="orphan", recipe=[],
        measurement=metrics.measure(base, ds, latency=False), technique="magnitude-prune", store=store,
    )  # fmt: skip
    with pytest.raises(runs.StoreError, match="baseline"):
        remeasure.remeasure_speed(store, run_id, rounds=2)


def test_one_thread_is_timed_in_thread_cpu_time_and_says_so() -> None:
    assert latency.clock_name(1) == "thread CPU time" and latency.clock_name(2) == "wall time"
    m = build("lenet5")
    p = latency.paired_latency(m, m, digits().input_shape, 8, threads=1, rounds=2, round_s=0.002)
    assert p.cpu.endswith("; thread CPU time")


def test_overlapping_measurements_take_turns_and_leave_the_thread_count_as_it_was() -> None:
    """Two pages measuring at once: the second waits for the first, runs at its pinned count, and the
    process is left at the count it had (torch's count is shared by every thread)."""
    from compression.latency import _threads

    torch.set_num_threads(2)  # not the pinned count, so a count left pinned shows
    before = torch.get_num_threads()
    first_in, second_in = threading.Event(), threading.Event()
    seen: dict[str, int] = {}

    def second() -> None:
        first_in.wait(30)
        with _threads(1):
            second_in.set()
            seen["second"] = torch.get_num_threads()

    thread = threading.Thread(target=second)
    thread.start()
    with _threads(1):
        first_in.set()
        seen["overlapped"] = int(second_in.wait(0.5))  # it must not get in while this one runs
        seen["first"] = torch.get_num_threads()
    thread.join(30)
    later: list[int] = []
    probe = threading.Thread(target=lambda: later.append(torch.get_num_threads()))
    probe.start()
    probe.join()
    torch.set_num_threads(1)  # this file's count
    assert seen == {"overlapped": 0, "first": 1, "second": 1}
    assert later == [before] == [2]
