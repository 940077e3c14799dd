"""Runs for the report tests and bench: a baseline and n compressed runs with per-layer tables,
hostile text in every free-text field (notes, who, tags, recipe, a layer name) and local artifact paths."""

from __future__ import annotations

from pathlib import Path

from compression import metrics
from compression.runs import RunStore, new_row

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
LAYERS = [
    {"layer": "conv1", "type": "Conv2d", "shape": "6x1x5x5", "params": 150, "nonzero": 75, "sparsity": 0.5, "bits": 4.0, "macs": 1000, "size_share": 0.2},
    {"layer": f"fc{HOSTILE}", "type": "Linear", "shape": "10x84", "params": 840, "nonzero": 420, "sparsity": 0.5, "bits": 4.0, "macs": 840, "size_share": 0.8},
]  # fmt: skip


def _measurement(i: int, **changes: object) -> metrics.Measurement:
    base: dict[str, object] = {
        "top1": 0.95 - i / 100, "top5": 0.99, "loss": 0.3, "params_total": 1000, "params_nonzero": 1000 - 50 * i,
        "effective_bits": 32.0 if i == 0 else 4.0, "size_dense_bytes": 4000, "size_theoretical_bytes": 500 + i,
        "size_artifact_bytes": 900 + i, "macs": 20000, "macs_effective": 10000, "latency_b1_ms": 0.1,
        "latency_b256_ms": 2.0, "threads": 1, "runs_dense": True, "baseline_params": 1000, "baseline_macs": 20000,
        "speedup_b1": 1.0 + i / 10, "speedup_b1_lo": 0.9 + i / 10, "speedup_b1_hi": 1.1 + i / 10,
        "speedup_b256": 1.5 + i / 10, "speedup_b256_lo": 1.4, "speedup_b256_hi": 1.6 + i / 10,
        "cpu": "Test CPU (AVX2), 2 cores",
    }  # fmt: skip
    return metrics.Measurement(**{**base, **changes})  # type: ignore[arg-type]


def make_store(folder: Path, n: int = 10) -> tuple[RunStore, list[int]]:
    """A baseline and n runs with per-layer tables, hostile text and (local) artifact paths."""
    store = RunStore(f"sqlite:///{folder / 'runs.db'}")
    rows = [
        new_row(dataset="digits", arch="lenet5", baseline_hash="abc123", technique="baseline", recipe=[],
                measurement=_measurement(0), who="Ada", layers=LAYERS, artifact_path=str(folder / "base.cla"))
    ]  # fmt: skip
    for i in range(1, n + 1):
        rows.append(
            new_row(
                dataset="digits",
                arch="lenet5",
                baseline_hash="abc123",
                technique="magnitude-prune" if i % 2 else "linear-quant",
                recipe=[{"technique": "magnitude-prune", "amount": i / 20, "note": HOSTILE}],
                measurement=_measurement(i),
                who=f"who{i} {HOSTILE}",
                tags=[f"tag{i}", "<b>bold</b>"],
                notes=f"note {i}: {HOSTILE}",
                layers=LAYERS,
                artifact_path=str(folder / f"artifact-{i}.cla"),
            )
        )
    return store, store.add_many(rows)
