"""`python -m compression search`: a small search with --json and --record-front, resume by name,
`search worker` on the same study, and `search list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from compression import runs
from compression.cli import main
from compression.search import study as St

torch.set_num_threads(1)


def test_search_cli_runs_records_resumes_and_lists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path}/runs.db")
    storage = f"sqlite:///{tmp_path}/my-studies.db"
    args = ["search", "--dataset", "digits", "--model", "lenet5", "--strategy", "nsga2", "--budget", "6"]
    args += ["--val-images", "1000", "--storage", storage, "--study", "cli-study", "--json"]
    assert main([*args, "--record-front", "--no-latency"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["study"] == "cli-study" and out["complete"] == 6 and out["failed"] == 0
    assert 0 < out["hypervolume"] <= 1 and out["front"]
    assert len(out["recorded"]) == len(out["front"])
    original, *stored = runs.open_store().runs()  # the lineage's baseline is recorded first
    assert original.technique == "baseline" and len(stored) == len(out["recorded"])
    assert {r.technique for r in stored} == {"search-policy"} and all("cli-study" in r.tags for r in stored)

    # the same name resumes the study with a larger budget; a worker then finds nothing left to do
    assert main([*args[:-1], "--budget", "8"]) == 0
    text = capsys.readouterr().out
    assert (
        "8/8 trials" in text and "scored on 216 validation images" in text
    )  # digits' split, not the 1,000 asked
    assert main(["search", "worker", "--study", "cli-study", "--storage", storage, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"study": "cli-study", "trials": 0}
    assert St.counts(St.load("cli-study", storage)).complete == 8

    assert main(["search", "list", "--storage", storage, "--json"]) == 0
    assert [r["study"] for r in json.loads(capsys.readouterr().out)] == ["cli-study"]


def test_search_cli_refuses_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    assert main(["search", "--dataset", "digits", "--objectives", "size,acc"]) == 2
    assert "must start with 'acc'" in capsys.readouterr().err
    assert main(["search", "worker"]) == 2
    for budget in ("0", "-3"):  # refused before any study is made (0 once meant "the default, 40")
        with pytest.raises(SystemExit) as exc:
            main(["search", "--dataset", "digits", "--budget", budget])
        assert exc.value.code == 2 and "at least 1 trial" in capsys.readouterr().err
    storage = f"sqlite:///{tmp_path / 'studies.db'}"
    for argv, said in [
        (["worker", "--study", "nosuchstudy", "--storage", storage], "no study named 'nosuchstudy'"),
        (["list", "--storage", "garbage://x"], "cannot open the study storage"),
        (["--study", "x` [click me](https://evil.example/) `", "--storage", storage], "A study name is"),
        (["--max-size-kb", "nan", "--storage", storage], "max_size_kb must be a positive number"),
    ]:  # tracebacks (KeyError, NoSuchModuleError, 'trials failed') or a name that injects Markdown
        assert main(["search", "--dataset", "digits", *argv]) == 2, argv
        assert said in capsys.readouterr().err
    for bad in (["--seed", "-1"], ["--seed", str(2**64)], ["--timeout", "-1"], ["--timeout", "nan"]):
        with pytest.raises(SystemExit) as exc:
            main(["search", "--dataset", "digits", *bad])
        assert exc.value.code == 2


def test_search_cli_arch_space_records_a_named_architecture(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COMPRESSION_CACHE", str(tmp_path))
    monkeypatch.setenv("COMPRESSION_STORE", f"sqlite:///{tmp_path}/runs.db")
    storage = f"sqlite:///{tmp_path}/my-studies.db"
    args = ["search", "--dataset", "digits", "--space", "arch", "--strategy", "sa", "--budget", "2"]
    args += ["--train-images", "600", "--val-images", "200", "--storage", storage, "--study", "arch-study"]
    assert main([*args, "--json", "--record-front", "--no-latency", "--finetune-epochs", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["space"] == "arch" and out["complete"] == 2 and out["front"]
    info = St.Info.of(St.load("arch-study", storage))
    assert info.problem.space.train_images == 600 and info.problem.space.proxy_epochs == 2  # digits default
    stored = {r.id: r for r in runs.open_store().runs()}
    for row, rec in zip(out["front"], out["recorded"], strict=True):
        run = stored[rec["run_id"]]
        assert run.technique == "search-arch" and run.recipe[0]["arch"] == row["arch"]
        assert run.recipe[0]["epochs"] == 1
    assert main(["search", "--dataset", "digits", "--objectives", "acc,latency"]) == 2  # the policy space
    assert "offers the costs size, macs" in capsys.readouterr().err
