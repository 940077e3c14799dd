"""KD as a recovery step on the Pruning and Quantization labs: a checkbox in the URL, and the job
that runs is kd-recovery wrapping the page's fine-tuning or QAT config."""

from __future__ import annotations

import json

import pytest
import torch

from tests.app.pages import open_page
from ui import sidebar

torch.set_num_threads(1)

pytestmark = pytest.mark.usefixtures("isolated")


def _job(at: object, param: str) -> object:
    job_id = at.query_params[param]  # type: ignore[attr-defined]
    job_id = job_id[0] if isinstance(job_id, list) else job_id
    job = sidebar.job_manager().wait(job_id, timeout=240)
    assert job.state == "done", job.error
    return job


def test_prune_kd_checkbox_runs_kd_recovery() -> None:
    at = open_page("prune", amount="0.9", ft="0", kd="1")
    assert at.checkbox(key="p_kd").disabled  # no fine-tuning, nothing to recover
    at = open_page("prune", amount="0.9", ft="1", kd="1")
    box = at.checkbox(key="p_kd")
    assert box.value and not box.disabled
    next(b for b in at.button if b.label == "Run pruning with fine-tuning").click().run()
    assert not at.exception, at.exception
    _job(at, "job")
    at.run()
    assert not at.exception, at.exception
    at.toggle[0].set_value(True).run()  # the full measurement, needed to record
    next(b for b in at.button if b.label == "Record as run").click().run()
    from compression import runs

    original, run = runs.open_store().runs()
    assert original.technique == "baseline"
    assert run.recipe[0]["technique"] == "kd-recovery"
    assert json.loads(run.recipe[0]["step"])["finetune_epochs"] == 1
    at.checkbox(key="p_kd").uncheck().run()
    assert at.query_params["kd"] in ("0", ["0"])


def test_quantize_kd_checkbox_wraps_qat() -> None:
    at = open_page("quantize", scheme="kmeans", bits="2", qat="1", kd="1")
    assert at.checkbox(key="q_kd").value
    at.button[[b.label for b in at.button].index("Start QAT")].click().run()
    assert not at.exception, at.exception
    job = _job(at, "qat_job")
    assert job.id.startswith("qat-")
    at.run()
    assert not at.exception, at.exception
    at.checkbox(key="q_kd").uncheck().run()
    assert at.query_params["kd"] in ("0", ["0"])
