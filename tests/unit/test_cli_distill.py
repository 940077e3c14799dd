"""`python -m compression distill`: JSON result with both students, runs with the teacher as lineage,
teacher weights from a file, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from compression import runs, train
from compression.cli import main

torch.set_num_threads(1)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    store = f"sqlite:///{tmp_path}/runs.db"
    monkeypatch.setenv("COMPRESSION_STORE", store)
    return store


BASE = [
    "distill",
    "--dataset",
    "digits",
    "--teacher",
    "lenet5",
    "--student",
    "lenet-300-100",
    "--width",
    "0.5",
]


def test_distill_json_seeds_and_record(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [*BASE, "--epochs", "1", "--seeds", "2", "--labels", "300", "--temperature", "8", "--alpha", "0.7"]
    assert main([*args, "--json", "--no-latency", "--record"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["config"]["technique"] == "distill" and out["config"]["labels"] == 300
    assert out["config"]["temperature"] == 8.0 and out["config"]["alpha"] == 0.7
    assert [r["seed"] for r in out["seeds"]] == [0, 1]
    assert 0.0 <= out["distilled_mean"] <= 1.0 and "gain_pts_mean" in out
    assert out["teacher_top1"] > 0.9
    teacher = train.load_baseline(train.default_config("digits", "lenet5"))
    assert teacher is not None
    recorded = runs.open_store(env).runs()
    assert sorted(r.technique for r in recorded) == ["baseline", "distill", "scratch-twin"]
    assert {r.baseline_hash for r in recorded} == {train.weights_hash(teacher)}
    assert {r.technique: r.arch for r in recorded} == {  # the teacher is the students' recorded baseline
        "baseline": "lenet5",
        "distill": "lenet-300-100",
        "scratch-twin": "lenet-300-100",
    }


def test_teacher_weights_from_a_file_and_errors(
    env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    teacher = train.load_baseline(train.default_config("digits", "lenet5"))
    assert teacher is not None
    path = tmp_path / "teacher.pt"
    torch.save(teacher.state_dict(), path)
    assert main([*BASE, "--epochs", "1", "--teacher-weights", str(path), "--json", "--no-latency"]) == 0
    assert json.loads(capsys.readouterr().out)["teacher_top1"] > 0.9
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    assert main([*BASE, "--teacher-weights", str(bad)]) == 2
    assert "not a readable PyTorch file" in capsys.readouterr().err
    endless = tmp_path / "endless.pt"
    endless.symlink_to("/dev/zero")
    assert main([*BASE, "--teacher-weights", str(endless)]) == 2  # read to the size limit, not forever
    assert "more than the limit" in capsys.readouterr().err
    assert main([*BASE, "--temperature", "0.1"]) == 2
    assert main([*BASE[:-4], "--student", "resnet18", "--width", "0.5"]) == 2
    assert "width multiplier" in capsys.readouterr().err


def test_epochs_and_rate_left_unset_start_at_the_datasets_start_and_are_printed(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from compression.distillation import start_settings

    epochs, lr = start_settings("digits")
    assert main([*BASE, "--width", "0.25", "--no-latency"]) == 0
    assert f"loss kl, {epochs} epochs," in capsys.readouterr().out
    assert main([*BASE, "--width", "0.25", "--no-latency", "--json"]) == 0
    config = json.loads(capsys.readouterr().out)["config"]
    assert (config["epochs"], config["lr"]) == (epochs, lr)
