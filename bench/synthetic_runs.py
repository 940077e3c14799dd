"""Synthetic-but-realistic runs for benchmarks and load tests (tagged "synthetic").

Field ranges follow what `metrics.measure` reports for the zoo models on digits and
fashion-mnist: parameter counts and MACs per architecture, accuracy that falls as sparsity
rises and bits fall, artifact sizes a bit above the theoretical size, CPU latencies in ms.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from compression.runs.store import new_row

# (dataset, arch): (params, MACs per image, baseline top-1)
ZOO: dict[tuple[str, str], tuple[int, int, float]] = {
    ("digits", "lenet-300-100"): (50_890, 50_800, 0.975),
    ("digits", "lenet5"): (21_386, 66_600, 0.983),
    ("digits", "bn-cnn"): (24_842, 390_000, 0.987),
    ("digits", "small-resnet"): (77_450, 1_250_000, 0.985),
    ("digits", "mobilenet-small"): (11_900, 180_000, 0.972),
    ("fashion-mnist", "lenet-300-100"): (266_610, 266_200, 0.885),
    ("fashion-mnist", "lenet5"): (61_706, 429_000, 0.905),
    ("fashion-mnist", "bn-cnn"): (95_000, 4_800_000, 0.918),
}
TECHNIQUES: dict[str, tuple[str, float, float]] = {  # name: (recipe key, max sparsity, structured share)
    "magnitude-prune": ("amount", 0.97, 0.0),
    "random-prune": ("amount", 0.9, 0.0),
    "filter-prune": ("amount", 0.8, 1.0),
    "linear-quant": ("bits", 0.0, 0.0),
    "kmeans-quant": ("bits", 0.0, 0.0),
    "int8-dynamic": ("bits", 0.0, 0.0),
    "distill": ("width", 0.0, 1.0),
    "svd": ("energy", 0.0, 1.0),
}


def synthetic_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` new-run rows (about 1 in 50 a baseline), ready for `RunStore.bulk_insert`."""
    rng = np.random.default_rng(seed)
    keys = list(ZOO)
    names = list(TECHNIQUES)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        dataset, arch = keys[rng.integers(len(keys))]
        params, macs, base_acc = ZOO[(dataset, arch)]
        tech = "baseline" if rng.random() < 0.02 else names[rng.integers(len(names))]
        knob, max_sparsity, structured = TECHNIQUES.get(tech, ("", 0.0, 0.0))
        sparsity = float(rng.uniform(0, max_sparsity)) if max_sparsity else 0.0
        bits = 32
        if knob == "bits":
            bits = int(rng.choice([8, 6, 4, 3, 2, 1])) if tech != "int8-dynamic" else 8
        shrink = float(rng.uniform(0.2, 0.9)) if structured and tech in ("distill", "svd") else 1.0
        knob_value: float = {"amount": sparsity, "bits": bits, "width": shrink, "energy": shrink}.get(
            knob, 0.0
        )
        if tech == "filter-prune":
            shrink, sparsity = 1 - sparsity, 0.0
        kept = int(params * shrink)
        nonzero = int(kept * (1 - sparsity))
        loss_acc = 0.5 * sparsity**4 + 0.35 * max(0, 4 - bits) ** 2 / 9 + 0.25 * (1 - shrink) ** 2
        top1 = float(np.clip(base_acc - loss_acc + rng.normal(0, 0.006), 0.05, 0.999))
        theo = int(np.ceil(nonzero * bits / 8))
        index_bytes = int(nonzero * 0.5) if sparsity > 0.3 else 0
        artifact = theo + index_bytes + 600 + int(rng.integers(0, 200))
        exec_macs = int(macs * shrink)
        lat1 = float(0.04 + exec_macs / 4e7 + rng.gamma(2, 0.01))
        lat256 = float(
            0.8 + exec_macs * 256 / 6e8 * (0.45 if tech == "int8-dynamic" else 1) + rng.gamma(2, 0.2)
        )
        recipe = [] if tech == "baseline" else [{"technique": tech, knob: round(knob_value, 3)}]
        rows.append(
            new_row(
                dataset=dataset,
                arch=arch,
                baseline_hash=f"{abs(hash((dataset, arch))) % 16**16:016x}",
                technique=tech,
                recipe=recipe,
                measurement={
                    "top1": top1,
                    "top5": float(min(1.0, top1 + 0.1)),
                    "loss": float(-np.log(max(top1, 1e-3))),
                    "params_total": kept,
                    "params_nonzero": nonzero,
                    "effective_bits": float(bits),
                    "size_dense_bytes": kept * 4,
                    "size_theoretical_bytes": theo,
                    "size_artifact_bytes": artifact,
                    "macs": exec_macs,
                    "macs_effective": int(exec_macs * (1 - sparsity)),
                    "latency_b1_ms": lat1,
                    "latency_b256_ms": lat256,
                    "threads": 2,
                    "runs_dense": tech != "int8-dynamic",
                },
                who="bench",
                tags=["synthetic"],
                notes=f"synthetic run {i}",
            )
        )
    return rows
