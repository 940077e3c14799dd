"""`python -m compression info` and `train`: the Model page's numbers headless, and bad values refused
with a message (no traceback, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compression.cli import main


def test_info_measures_a_baseline_and_a_bare_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--dataset", "digits", "--model", "lenet5", "--no-latency", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == "lenet5" and out["top1"] > 0.9 and out["macs"] > 0
    assert (
        main(
            [
                "info",
                "--model",
                "lenet5",
                "--input-size",
                "1x28x28",
                "--classes",
                "10",
                "--no-latency",
                "--json",
            ]
        )
        == 0
    )
    bare = json.loads(capsys.readouterr().out)
    assert bare["input_size"] == [1, 28, 28] and bare["params_total"] > 0 and "top1" not in bare


def test_info_refuses_zero_classes() -> None:
    with pytest.raises(SystemExit) as exc:  # a ZeroDivisionError in the MAC count
        main(["info", "--model", "lenet5", "--input-size", "1x28x28", "--classes", "0"])
    assert exc.value.code == 2


@pytest.mark.parametrize("size", ["0x0x0", "3x99999x99999", "3xfoo", "3x224"])
def test_info_refuses_an_absurd_input_size(size: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["info", "--model", "resnet18", "--input-size", size, "--no-latency"])
    assert "--input-size" in str(exc.value.code)


def test_info_says_when_a_model_cannot_take_the_input() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["info", "--model", "lenet5", "--input-size", "1x2x2", "--no-latency"])
    assert "lenet5 cannot take a 1x2x2 input" in str(exc.value.code)


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        (["--epochs", "-1"], "must be at least 1"),
        (["--epochs", "0"], "must be at least 1"),
        (["--batch-size", "0"], "must be at least 1"),
        (["--lr", "-0.1"], "learning rate"),
        (["--lr", "inf"], "learning rate"),
        (["--lr", "nan"], "learning rate"),
        (["--width", "nan"], "width"),  # a traceback: the width was read outside the checks
        (["--width", "inf"], "width"),
        (["--width", "1e9"], "width"),  # tried to allocate 600 GB
        (["--out", "/proc/nope"], "/proc/nope"),  # refused after the training
        (["--dataset", "cifar10"], "cifar"),  # not on this machine: a traceback
    ],
)
def test_train_refuses_bad_values_and_caches_nothing(
    bad: list[str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "digits", "--model", "lenet5", *bad])
    assert said in str(exc.value.code).lower()
    assert not list(tmp_path.rglob("*.safetensors"))  # an untrained "baseline" was cached before


def test_report_to_a_folder_that_does_not_exist_is_an_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.report_runs import make_store

    _, ids = make_store(tmp_path, n=1)
    url, out = f"sqlite:///{tmp_path / 'runs.db'}", tmp_path / "no-such-folder" / "r.html"
    assert main(["runs", "report", "--store", url, "--id", str(ids[1]), "--out", str(out)]) == 1
    assert "cannot write" in capsys.readouterr().err and not out.exists()
