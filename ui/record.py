"""The "Record as run" control every lab adds with one call.

A failed save (store locked, disk full, server gone) shows the reason and keeps the pending
result in this tab's session, so "Retry saving" can save it once the store is back.
"""

from __future__ import annotations

from typing import Any

import streamlit as st
from torch import nn

from compression import fmt, metrics, runs
from compression.runs.record import _recipe_dicts
from compression.runs.store import normalise_tags
from ui import measured


def _pending_key(key: str) -> str:
    return f"_run_pending_{key}"


def _save(key: str) -> None:
    """Try to store the pending result; on failure keep it and remember the reason."""
    pending = st.session_state[_pending_key(key)]
    fields = pending["fields"]
    try:
        run_id = runs.record_run(pending["model"], **fields, baseline=pending.get("baseline"))
        base_id = runs.open_store().baseline_run(fields["dataset"], None, fields["baseline_hash"])
    except runs.StoreError as exc:
        pending["error"] = str(exc)
        return
    st.session_state[f"_run_saved_{key}"] = {
        "id": run_id,
        "baseline_id": None if base_id == run_id else base_id,
        "fingerprint": pending["fingerprint"],
    }
    del st.session_state[_pending_key(key)]


def _fingerprint(recipe: list[Any], measurement: metrics.Measurement, technique: str, base: str) -> str:
    return repr((technique, base, recipe, measurement.as_dict()))


def record_button(
    ctx: Any,
    model: nn.Module,
    recipe: list[Any],
    measurement: metrics.Measurement,
    *,
    technique: str,
    key: str,
    tags: tuple[str, ...] = (),
) -> int | None:
    """Tags, notes and a "Record as run" button; returns the run id once this result is saved."""
    if runs.read_only():
        st.caption(
            "This server is read-only (COMPRESSION_READONLY=1): results can be explored, not recorded."
        )
        return None
    recipe = _recipe_dicts(recipe)
    fingerprint = _fingerprint(recipe, measurement, technique, ctx.weights_hash)
    saved = st.session_state.get(f"_run_saved_{key}")
    with st.container(border=True):
        st.markdown(
            "**Record as run**: store this result (recipe, measurement and the model file) so it "
            "appears on the Compare page's Pareto front, survives restarts and can be shared."
        )
        c1, c2 = st.columns(2)
        tag_text = c1.text_input("Tags", value=", ".join(tags), key=f"{key}_tags", help="Comma-separated")
        who = c2.text_input("Who", value=st.session_state.get("_run_who", ""), key=f"{key}_who")
        notes = st.text_area("Notes", key=f"{key}_notes", height=68)
        if st.button("Record as run", key=f"{key}_record", type="primary"):
            st.session_state["_run_who"] = who
            st.session_state[_pending_key(key)] = {
                "model": model,  # kept for "Retry saving"; never mutated
                "baseline": lambda: (ctx.model, measured.baseline(ctx)),  # recorded too if not yet
                "fingerprint": fingerprint,
                "error": None,
                "fields": {
                    "dataset": ctx.choice.dataset,
                    "arch": ctx.choice.model,
                    "baseline_hash": ctx.weights_hash,
                    "recipe": recipe,
                    "measurement": measurement,
                    "technique": technique,
                    "who": who,
                    "tags": normalise_tags([tag_text]),
                    "notes": notes,
                },
            }
            with st.spinner("Saving the run..."):
                _save(key)
            saved = st.session_state.get(f"_run_saved_{key}")
        pending = st.session_state.get(_pending_key(key))
        if pending and pending.get("error"):
            st.error(
                f"The run was not saved. {fmt.md(pending['error'])}\n\n"
                "The result is kept in this tab: press **Retry saving** when the store is reachable."
            )
            if st.button("Retry saving", key=f"{key}_retry"):
                with st.spinner("Saving the run..."):
                    _save(key)
                saved = st.session_state.get(f"_run_saved_{key}")
                if saved:
                    st.rerun()
        elif saved and saved["fingerprint"] == fingerprint:
            base = f" (its baseline: run #{saved['baseline_id']})" if saved.get("baseline_id") else ""
            st.success(f"Recorded as run #{saved['id']}{base}; it is on the Compare page's front.")
            return int(saved["id"])
    return None
