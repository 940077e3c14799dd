"""Time a recorded run again, paired with its own original baseline, and store the new speed.

A noisy pairing (wide spread, overloaded machine) is re-measured from what the run keeps: its
file (the file that was measured) and its lineage's baseline, found by weights hash among the
trained baselines on disk and the baseline runs of the store.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from torch import nn

from compression import metrics, model_file, train
from compression.metrics import Measurement
from compression.runs.store import Run, RunStore, StoreError


def baseline_model(store: RunStore, run: Run) -> nn.Module:
    """The original model of a run's lineage: the trained zoo baseline, else a stored baseline run."""
    try:
        found = train.load_baseline(train.default_config(run.dataset, run.arch))
    except (KeyError, ValueError):
        found = None
    if found is not None and train.weights_hash(found) == run.baseline_hash:
        return found
    for other in store.runs():
        if other.technique == "baseline" and other.baseline_hash == run.baseline_hash and other.artifact_path:
            return model_file.load(Path(other.artifact_path))
    raise StoreError(
        f"Run #{run.id}: its baseline (weights {run.baseline_hash or 'unknown'}) is neither a trained "
        "baseline on disk nor a recorded baseline run, so its speed cannot be paired again."
    )


def remeasure_speed(store: RunStore, run_id: int, rounds: int = 24) -> Measurement:
    """Pair the run's file with its baseline again at batch 1 and 256; store and return the result."""
    run = store.get(run_id)
    if run is None:
        raise StoreError(f"Run #{run_id} is not in the store.")
    if not run.artifact_path or not Path(run.artifact_path).exists():
        raise StoreError(f"Run #{run_id} has no model file to time (it was recorded without one or moved).")
    model = model_file.load(Path(run.artifact_path))
    base = baseline_model(store, run)
    fields = metrics.paired_fields(base, model, train.shape_of(run.dataset)[0], rounds)
    m = dataclasses.replace(run.measurement, **fields)  # type: ignore[arg-type]
    store.update_measurement(run_id, m)
    return m
