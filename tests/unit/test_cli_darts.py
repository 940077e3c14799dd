"""`python -m compression darts`: a tiny search on digits, JSON out, the run recorded with its lineage."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from compression import model_file, runs, techniques, train
from compression.cli import main

torch.set_num_threads(1)

TINY = [
    "darts",
    "--dataset",
    "digits",
    "--epochs",
    "2",
    "--cells",
    "2",
    "--nodes",
    "2",
    "--channels",
    "4",
    "--search-subset",
    "128",
    "--batch-size",
    "32",
    "--retrain-epochs",
    "1",
    "--retrain-subset",
    "256",
    "--partial-channels",
    "2",
    "--no-latency",
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    store = f"sqlite:///{tmp_path}/runs.db"
    monkeypatch.setenv("COMPRESSION_STORE", store)
    return store


def test_darts_json_and_record(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--cure", "cap-skips", "--json", "--record", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    cfg = out["config"]
    assert cfg["technique"] == "darts" and cfg["cure"] == "cap-skips" and cfg["partial_channels"] == 2
    assert [e["epoch"] for e in out["epochs"]] == [1, 2] and out["device"] == "cpu"
    assert out["skips"] <= 2 and len(out["genotype"]["normal"]) == 4
    assert out["reference"]["model"] == "lenet5" and out["reference"]["top1"] > 0.9
    m = out["measurement"]
    assert 0.0 <= m["top1"] <= 1.0 and m["params_total"] > 0
    base = train.load_baseline(train.default_config("digits", "lenet5"))
    assert base is not None
    by_technique = {r.technique: r for r in runs.open_store(env).runs()}
    assert sorted(by_technique) == ["baseline", "darts"]  # the lineage's original is recorded too
    run, original = by_technique["darts"], by_technique["baseline"]
    assert original.arch == "lenet5" and original.baseline_hash == run.baseline_hash
    assert run.id == out["run_id"] and run.technique == "darts" and run.arch == "darts"
    assert run.baseline_hash == train.weights_hash(base)  # lineage: the dataset's LeNet-5
    assert techniques.from_dict(run.recipe[0]).cure == "cap-skips"
    model = model_file.load(Path(run.artifact_path))  # the kept file rebuilds the searched network
    assert model._cla_meta["darts"]["genotype"] == out["genotype"]  # type: ignore[index]
    assert sum(p.numel() for p in model.parameters()) == m["params_total"]


def test_darts_text_output_and_errors(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--epochs", "1", "--order", "2", "--selection", "perturbation"]) == 0
    text = capsys.readouterr().out
    assert "DARTS on digits" in text and "epoch 1:" in text and "normal cell:" in text
    assert "'selection': 'perturbation'" in text and "cell chosen by perturbation (DARTS-PT)" in text
    assert main([*TINY, "--partial-channels", "3"]) == 2
    assert "must divide" in capsys.readouterr().err
    for bad in ("-1", "nan", "11"):
        assert main([*TINY, "--size-penalty", bad]) == 2
        assert "size penalty" in capsys.readouterr().err


def test_the_target_preset_is_the_recorded_search_and_flags_override_it() -> None:
    """`--preset target` gives the recorded fashion-mnist search's settings; a flag given wins; without a
    preset the dataset's starts apply (fashion-mnist retrains at 3e-3, digits 30 epochs at 2e-3)."""
    from compression.cli import build_parser
    from compression.cli.darts import _config
    from compression.search.darts import TARGET, DartsConfig

    parse = build_parser().parse_args
    assert _config(parse(["darts", "--preset", "target"])) == TARGET
    cfg = _config(parse(["darts", "--preset", "target", "--seed", "5", "--warmup-epochs", "2"]))
    assert cfg == dataclasses.replace(TARGET, seed=5, warmup_epochs=2)
    plain = _config(parse(["darts", "--dataset", "fashion-mnist", "--warmup-epochs", "1"]))
    assert plain.retrain_lr == 3e-3 and plain.warmup_epochs == 1 and plain.epochs == DartsConfig.epochs
    digits = _config(parse(["darts"]))
    assert (digits.dataset, digits.retrain_epochs, digits.retrain_lr) == (
        "digits",
        30,
        DartsConfig.retrain_lr,
    )


def test_a_warm_up_as_long_as_the_search_is_refused(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*TINY, "--warmup-epochs", "2"]) == 2
    assert "α would never move" in capsys.readouterr().err


def test_the_target_preset_runs_and_records_on_fashion_mnist_without_naming_it(
    env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The preset names the dataset (fashion-mnist); recording measures that dataset's LeNet-5 as the baseline."""
    small = ["--epochs", "2", "--warmup-epochs", "1", "--search-subset", "128", "--retrain-subset", "256"]
    argv = [
        "darts",
        "--preset",
        "target",
        *small,
        "--retrain-epochs",
        "1",
        "--no-latency",
        "--json",
        "--record",
    ]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "fashion-mnist" and out["config"]["warmup_epochs"] == 1
    assert out["config"]["partial_channels"] == 4 and out["config"]["retrain_lr"] == 3e-3
    assert [e["epoch"] for e in out["epochs"]] == [1, 2]
    runs_ = {r.technique: r for r in runs.open_store(env).runs()}
    assert runs_["darts"].dataset == "fashion-mnist" and runs_["baseline"].arch == "lenet5"
