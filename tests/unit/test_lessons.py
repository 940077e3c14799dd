"""Lessons as data files: the shipped ones parse and point at real labs and charts; bad files are refused."""

from __future__ import annotations

import json
import re
import string

import pytest

from compression import lessons as L

GOOD = """---
id: tiny
title: A tiny lesson
steps:
  - title: One
    lab: prune
    params: {dataset: digits, model: lenet5, amount: 0.5, method: magnitude}
    chart: p_hist
    formula: 'a^2'
    check: prune
    say: "Gone: {sparsity}, change {drop}."
  - title: Two
---
Intro text.

## One
First step.

## Two
Second step.
"""


def test_shipped_lessons_parse_and_name_real_labs_and_charts() -> None:
    shipped = L.load_dir()
    ids = {lesson.id for lesson in shipped}
    assert {"why-prune", "bits-and-grids", "theory-vs-cpu", "structured-speedup"} <= ids
    assert {"dark-knowledge", "search-policy", "deep-compression", "low-rank"} <= ids  # their labs are routed
    for lesson in shipped:
        assert lesson.steps and lesson.intro
        for step in lesson.steps:
            assert step.body and step.formula and step.lab in L.LABS
            assert step.chart in L.LABS[step.lab].charts  # the one chart to look at exists on that page
            assert step.url() is not None and step.url().startswith(L.LABS[step.lab].url + "?")
            if step.check:
                assert step.say  # a check is shown in a sentence


def test_parse_fields_and_link() -> None:
    lesson = L.parse(GOOD)
    assert (lesson.id, lesson.title, lesson.intro, len(lesson.steps)) == (
        "tiny",
        "A tiny lesson",
        "Intro text.",
        2,
    )
    one, two = lesson.steps
    assert one.body == "First step." and two.body == "Second step." and two.lab is None and two.link() is None
    assert one.params == {"dataset": "digits", "model": "lenet5", "amount": "0.5", "method": "magnitude"}
    opened = {**one.params, "view": "Weight histogram"}  # the tab that holds the step's chart, opened
    assert one.link() == ("views/prune.py", {**opened, "focus": "p_hist"})  # and the chart brought on screen
    assert one.url() == "prune?dataset=digits&model=lenet5&amount=0.5&method=magnitude&view=Weight histogram"
    assert one.chart_title == L.LABS["prune"].charts["p_hist"]
    assert L.say(one, {"sparsity": "50%", "drop": "-1.00"}) == "Gone: 50%, change -1.00."


def test_json_header_is_accepted() -> None:
    head = {
        "id": "j",
        "title": "JSON",
        "steps": [{"title": "s", "lab": "quantize", "params": {"bits": 4}, "chart": "q_grid_chart"}],
    }
    lesson = L.parse("---\n" + json.dumps(head) + "\n---\n## s\ntext\n")
    assert lesson.steps[0].params == {"bits": "4"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no header here\n## One\n", "no header"),
        (GOOD.replace("id: tiny", "id: tiny\nsecret: 1"), "unknown key"),
        (GOOD.replace("lab: prune", "lab: shell"), "unknown lab"),
        (GOOD.replace("chart: p_hist", "chart: q_grid_chart"), "unknown chart"),
        (GOOD.replace("amount: 0.5", "amount: '0.5\"><script>'"), "characters"),
        (GOOD.replace("amount: 0.5", "rm: 1"), "not a parameter"),
        (
            '---\ntitle: t\nsteps:\n  - title: s\n    lab: pipeline\n    params: {recipe: \'[{"technique":"<b>"}]\'}\n---\n## s\n',
            "characters",
        ),
        (GOOD.replace("{drop}", "{drop.__class__}"), "not a value"),
        (GOOD.replace("{drop}", "{top5}"), "not a value"),
        (GOOD.replace("## Two\nSecond step.\n", ""), "sections"),
        (GOOD.replace("id: tiny", "id: ../etc"), "id"),
        (
            GOOD.replace(
                "title: A tiny lesson",
                "title: A tiny lesson\nsummary: !!python/object/apply:os.system ['echo hi']",
            ),
            "not valid YAML",
        ),
        ("---\na: &x [1,2]\nb: *x\n---\n", "alias"),
        # values the lab would warn about and clamp mid-lecture: refused when the file is loaded
        (GOOD.replace("amount: 0.5", "amount: 5"), "'amount: 5' is not a value the lab takes"),
        (GOOD.replace("method: magnitude", "method: bogus"), "'method: bogus' is not a value"),
        (GOOD.replace("model: lenet5", "model: gpt"), "'model: gpt' is not a value"),
        (
            GOOD.replace("lab: prune", "lab: quantize")
            .replace("chart: p_hist", "chart: q_grid_chart")
            .replace("amount: 0.5, method: magnitude", "scheme: bogus, bits: 99")
            .replace("check: prune", "check: quantize"),
            "'scheme: bogus' is not a value",
        ),
        ("---\n[unclosed\n---\n", "not valid YAML"),
    ],
)
def test_bad_lessons_are_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(L.LessonError, match=f"(?i){reason}"):
        L.parse(text)


def test_size_and_encoding_are_checked() -> None:
    with pytest.raises(L.LessonError, match="at most"):
        L.parse(GOOD + "x" * L.MAX_BYTES)
    with pytest.raises(L.LessonError, match="UTF-8"):
        L.parse(b"---\n\xff\xfe\n---\n")


def test_checks_compute_what_the_learner_sees() -> None:
    """The numbers come from the engine at the step's settings (not from the lesson's text)."""
    none = L.CHECKS["prune"].run({"dataset": "digits", "model": "lenet-300-100", "amount": "0"})
    most = L.CHECKS["prune"].run(
        {"dataset": "digits", "model": "lenet-300-100", "amount": "0.9", "scope": "global"}
    )
    assert none["sparsity"] == "0.0%" and none["drop"] == "+0.00" and none["top1"] == none["top1_base"]
    assert float(most["sparsity"].rstrip("%")) > 85 and float(most["size_ratio"].rstrip("x")) > 3
    retrained = L.CHECKS["prune"].run(
        {"dataset": "digits", "model": "lenet-300-100", "amount": "0.9", "scope": "global", "ft": "1",
         "sched": "iterative", "steps": "2"}
    )  # fmt: skip
    assert retrained["sparsity"] == most["sparsity"] and float(retrained["drop"]) > float(most["drop"])
    w = L.CHECKS["weights"].run({"dataset": "digits", "model": "lenet-300-100"})
    assert w["weights"] == f"{64 * 300 + 300 * 100 + 100 * 10:,}" and w["biggest"].startswith("fc2 (60%")
    assert 0 < float(w["small"].rstrip("%")) < 100 and float(w["median"]) < float(w["max"])
    t = L.CHECKS["temperature"].run({"dataset": "digits", "model": "lenet5", "T": "8"})
    assert float(t["entropy_t"].split()[0]) > float(t["entropy_1"].split()[0])  # softer at higher T
    with pytest.raises(L.LessonError, match="outside"):
        L.CHECKS["prune"].run({"amount": "5"})
    svd = {"dataset": "digits", "model": "lenet5", "method": "svd", "layer": "classifier.3"}
    few, past = L.CHECKS["lowrank"].run({**svd, "rank": "3"}), L.CHECKS["lowrank"].run({**svd, "rank": "60"})
    assert few["params_after"] == f"{3 * (84 + 120) + 84:,}"  # two factors and the bias
    assert few["breakeven"] == f"{84 * 120 / 204:.0f}"
    assert float(few["energy"].rstrip("%")) < float(past["energy"].rstrip("%")) < 100
    assert float(past["params_ratio"].rstrip("x")) > 1 and float(few["drop"]) < 0
    with pytest.raises(L.LessonError, match="does not factorise"):
        L.CHECKS["lowrank"].run({**svd, "layer": "features.0"})
    timed = L.CHECKS["lowrank-speed"].run({**svd, "rank": "10"})  # a paired ratio, not a time: no bound on it
    assert timed["breakeven"] == few["breakeven"] and re.match(r"^\d+\.\d\dx \(IQR ", timed["speedup"])


def test_every_chart_tab_names_a_chart_of_its_lab() -> None:
    for lab in L.LABS.values():
        assert set(lab.views) <= set(lab.charts), lab.title
        assert len(lab.view_labels()) != 1, f"{lab.title}: one tab is no choice"


def test_every_shipped_lesson_step_checks_live_without_error() -> None:
    """What a lecturer meets: each step's live check runs with its own settings and fills its sentence
    (a renamed engine function once turned the search lesson's first step into 'could not run')."""
    for lesson in L.load_dir():
        for step in lesson.steps:
            if step.check is None:
                continue
            values = L.run_check(step)
            named = {name for _, name, _, _ in string.Formatter().parse(step.say or "") if name}
            assert values and named <= set(values), (lesson.id, step.title, named - set(values))


def test_the_darts_check_counts_the_supernet_the_learner_searches() -> None:
    step = {"dataset": "digits", "model": "lenet5", "cells": "2", "nodes": "3", "ch": "8"}
    full, partial = L.CHECKS["darts"].run({**step, "pc": "1"}), L.CHECKS["darts"].run({**step, "pc": "4"})
    assert full["edges"] == "9" and full["ops"] == "8"  # 2 + 3 + 4 inputs for three nodes
    assert full["alphas"] == str(
        2 * 9 * 8 + 2 * 9
    )  # alpha (edges x ops) and beta (edges), normal and reduction
    assert full["share"] == "12.5%"  # near-zero alpha: every op 1/8 of its edge
    ratio = lambda v: float(v["ratio"].rstrip("x"))  # noqa: E731
    assert ratio(full) > ratio(partial) > 1  # all eight ops on every edge; partial channels cut that cost


def test_the_distil_check_trains_the_twin_from_the_same_start() -> None:
    step = {"dataset": "digits", "model": "lenet5", "student": "lenet-300-100", "width": "1/4", "epochs": "2"}
    plain = L.CHECKS["distil"].run({**step, "alpha": "0"})  # no soft term: the two trainings are one
    assert plain["distilled"] == plain["scratch"] and plain["gain"] == "+0.00"
    few = L.CHECKS["distil"].run({**step, "labels": "100", "T": "1"})
    assert (
        few["labels"] == "100" and few["transfer"] == "1,121" and few["steps"] == "40"
    )  # 2 x ceil(1221 / 64)
    with pytest.raises(L.LessonError):
        L.CHECKS["distil"].run({**step, "width": "a/b"})
