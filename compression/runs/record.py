"""Record any (model, recipe, measurement) as a run: one call per lab."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from compression import metrics, model_file, models, techniques, train
from compression.runs.store import RunStore, StoreError, artifact_dir, new_row, open_store


def _recipe_dicts(recipe: Sequence[Any]) -> list[dict[str, Any]]:
    """Technique configs or their dict form -> JSON-ready dicts."""
    return [dict(step) if isinstance(step, dict) else techniques.to_dict(step) for step in recipe]


def _shape(model: nn.Module, dataset: str) -> tuple[tuple[int, ...], int, float]:
    meta = getattr(model, "_cla_meta", None) or {}
    try:
        input_shape, num_classes = train.shape_of(dataset)
    except KeyError:
        input_shape = tuple(meta.get("input_shape", ()))
        num_classes = int(meta.get("num_classes", 0))
    return tuple(input_shape), int(num_classes), float(meta.get("width", 1.0))


PARTIAL = ".partial"  # a file whose run is not committed yet
STALE_PARTIAL_S = 3600.0  # a writer takes seconds; an hour-old partial file is a killed writer's


def sweep_partials(store: RunStore, older_than_s: float = STALE_PARTIAL_S) -> int:
    """Finish or remove files left by writers killed between writing a run's file and renaming it:
    a partial file whose final name a run points at is renamed into place, any other is deleted."""
    folder = artifact_dir(store)
    if not folder.is_dir():
        return 0
    cleaned = 0
    for partial in folder.glob(f"*{PARTIAL}"):
        try:
            if time.time() - partial.stat().st_mtime < older_than_s:
                continue
            final = partial.with_name(partial.name.removesuffix(PARTIAL))
            if store.has_artifact(str(final)):
                partial.replace(final)
            else:
                partial.unlink()
            cleaned += 1
        except OSError:
            continue  # another process got there first
    return cleaned


def save_artifact(model: nn.Module, folder: Path, meta: dict[str, Any]) -> Path:
    """The run's model file, written by `model_file.save`: the same writer (and so the same bytes)
    that `metrics.measure` measured, whatever the model is (compact, per-channel codes, INT8).
    Written under a `.partial` name: `record_run` renames it once the run is committed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"Cannot create the artifact folder {folder}: {exc}") from exc
    path = folder / f"{uuid.uuid4().hex}{model_file.format_for(model).suffix}{PARTIAL}"
    try:
        model_file.save(model, path, meta)
        model_file.read_state(path)  # prove it reads back before a run points at it
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise StoreError(f"Cannot write the model artifact to {folder}: {exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a model no format holds: say so, leave nothing behind
        path.unlink(missing_ok=True)
        raise StoreError(f"Cannot write this model's file ({type(exc).__name__}: {exc})") from exc
    return path


_BASELINE_LOCK = threading.RLock()  # one server: one check-then-insert of a baseline run at a time
BaselineSource = Callable[[], tuple[nn.Module, metrics.Measurement]]  # the lineage's original, measured


def ensure_baseline(
    target: RunStore, dataset: str, baseline_hash: str, source: BaselineSource, who: str = ""
) -> int:
    """The run of a lineage's original model, recorded from `source` first when the store has none:
    every run's accuracy change (the Compare page, the review report) is read against it."""
    with _BASELINE_LOCK:  # two sessions recording runs of one lineage at once: one baseline run
        found = target.baseline_run(dataset, None, baseline_hash)  # the weights' hash names the model
        if found is not None:
            return found
        model, measurement = source()
        arch = str((getattr(model, "_cla_meta", None) or {}).get("model", ""))
        return record_run(
            model,
            dataset=dataset,
            arch=arch,
            baseline_hash=baseline_hash,
            recipe=[],
            measurement=measurement,
            technique="baseline",
            who=who,
            notes="Recorded with the first run of this lineage, as its reference.",
            store=target,
        )


def record_run(
    model: nn.Module,
    *,
    dataset: str,
    arch: str,
    baseline_hash: str,
    recipe: Sequence[Any],
    measurement: metrics.Measurement,
    technique: str,
    who: str = "",
    tags: Iterable[str] = (),
    notes: str = "",
    store: RunStore | str | None = None,
    layers: list[dict[str, Any]] | None = None,
    baseline: BaselineSource | None = None,
) -> int:
    """Save the model's artifact and insert the run; returns the run id (a baseline already
    recorded with the same weights returns its existing run).

    `store`: a RunStore, a SQLAlchemy URL, or None for the default store (COMPRESSION_STORE).
    `layers`: the per-layer table; computed with `metrics.layer_table` when not given.
    `baseline`: the lineage's original model and its measurement, recorded too when the store has
    no run of it yet (called only then).
    Raises StoreError (nothing half-written: the artifact is removed if the insert fails).
    """
    target = store if isinstance(store, RunStore) else open_store(store)
    input_shape, num_classes, width = _shape(model, dataset)
    meta = {"model": arch, "input_shape": list(input_shape), "num_classes": num_classes, "width": width}
    own = getattr(model, "_cla_meta", None) or {}
    if models.known(own.get("model")):  # what the weights are (a distilled student, a searched architecture)
        meta = {**meta, **{k: own[k] for k in meta if k in own}}
    if layers is None and len(input_shape) == 3:
        try:
            layers = metrics.layer_table(model, input_shape)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the per-layer view is optional; the run is not
            layers = None
    row = new_row(
        dataset=dataset,
        arch=arch,
        baseline_hash=baseline_hash,
        technique=technique,
        recipe=_recipe_dicts(recipe),
        measurement=measurement,
        who=who,
        tags=tags,
        notes=notes,
        layers=layers,
    )
    target._ensure_schema()  # fail on an unreachable store before writing any file
    if baseline is not None and technique != "baseline" and baseline_hash:
        ensure_baseline(target, dataset, baseline_hash, baseline, who)
    if technique == "baseline" and not recipe and baseline_hash:
        with _BASELINE_LOCK:  # the same weights once on the front, however often "record" is pressed
            same = target.baseline_run(dataset, arch, baseline_hash)
            return same if same is not None else _insert(target, model, meta, row)
    return _insert(target, model, meta, row)


def _insert(target: RunStore, model: nn.Module, meta: dict[str, Any], row: dict[str, Any]) -> int:
    """Write the run's file under a partial name, insert the run, then give the file its final name."""
    sweep_partials(target)
    partial = save_artifact(model, artifact_dir(target), meta)
    final = partial.with_name(partial.name.removesuffix(PARTIAL))
    row["artifact_path"] = str(final)
    try:
        run_id = target.add(row)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(final)  # a kill before this line leaves a partial file that the next sweep finishes
    return run_id
