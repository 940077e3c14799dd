"""KD as a recovery step: pruning fine-tuning and QAT learn from the baseline when wrapped."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from compression import data, models, techniques, train
from compression import pruning as P
from compression.distillation import KDRecovery
from compression.quantization.qat import QAT

torch.set_num_threads(1)


def _setup() -> tuple[torch.nn.Module, data.Dataset]:
    ds = data.load("digits")
    ds = dataclasses.replace(ds, x_train=ds.x_train[:256], y_train=ds.y_train[:256])
    base = train.load_baseline(train.default_config("digits", "lenet5"))
    assert base is not None
    return base, ds


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    return all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_kd_changes_pruning_fine_tuning_and_alpha_zero_does_not() -> None:
    base, ds = _setup()
    before = {k: v.clone() for k, v in base.state_dict().items()}
    prune = P.make_config("magnitude", 0.9, finetune_epochs=1)
    plain = techniques.apply(base, prune, ds)
    kd = techniques.apply(base, KDRecovery.wrap(prune, temperature=4.0, alpha=0.7), ds)
    ce_only = techniques.apply(base, KDRecovery.wrap(prune, alpha=0.0), ds)
    assert not _same(plain, kd)  # the teacher's soft targets changed the fine-tuning
    assert _same(plain, ce_only)  # alpha = 0 is the plain fine-tune: same batches, same optimizer
    assert P.methods.removed_fraction(base, kd) == pytest.approx(P.methods.removed_fraction(base, plain))
    assert all(torch.equal(before[k], v) for k, v in base.state_dict().items())
    assert train.DEFAULT_LOSS.get() is None  # reset after the technique


def test_kd_reaches_qat_and_round_trips() -> None:
    base, ds = _setup()
    qat = QAT(scheme="linear", bits=4, epochs=1)
    plain = techniques.apply(base, qat, ds)
    kd = techniques.apply(base, KDRecovery.wrap(qat), ds)
    assert not _same(plain, kd)
    cfg = KDRecovery.wrap(qat, 8.0, 0.5)
    back = techniques.from_dict(json.loads(json.dumps(techniques.to_dict(cfg))))
    assert back == cfg and back.inner() == qat


def test_prune_cli_kd_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from compression.cli import main

    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    args = ["prune", "--dataset", "digits", "--model", "lenet5", "--amount", "0.9", "--finetune-epochs", "1"]
    assert main([*args, "--kd", "--kd-alpha", "0.5", "--json", "--no-latency"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["technique"] == "kd-recovery" and out["config"]["alpha"] == 0.5
    assert json.loads(out["config"]["step"])["technique"] == "magnitude-prune"
    assert models.MODELS  # the zoo is unchanged by the flag
