"""AppTest of the Lessons page: the list, walking steps (step in the URL), live numbers, links, uploads."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from compression import lessons as L

APP = "../../app.py"
TIMEOUT = 120


def open_lessons(**params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/lessons.py")
    at.query_params.update(params)
    at.run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_list_offers_every_shipped_lesson() -> None:
    at = open_lessons()
    titles = " ".join(m.value for m in at.markdown)
    for lesson in L.load_dir():
        assert L.LABS and lesson.title.split(":")[0].split("(")[0].strip() in titles.replace("\\", "")
    assert len([b for b in at.button if b.label == "Start"]) == len(L.load_dir())


def test_walk_steps_with_live_numbers_and_lab_links() -> None:
    at = open_lessons(lesson="why-prune", step="2")
    assert at.subheader[0].value.startswith("2. ")
    gone_half = metrics(at)["Weights gone"]
    link = at.get("page_link")[0].proto
    assert link.page.endswith("prune") or "prune" in link.page
    assert "Weight histogram" in " ".join(m.value for m in at.markdown)  # the chart to look at is named
    settings = at.code[0].value  # shown as it is: no Markdown escapes (backslashes) in the link text
    assert settings.startswith("prune?") and "&" in settings and "\\" not in settings
    at.button(key="lesson_next_top").click().run()
    assert at.query_params["step"] == "3" and at.subheader[0].value.startswith("3. ")
    gone_most = metrics(at)["Weights gone"]
    assert (
        float(gone_most.rstrip("%")) > float(gone_half.rstrip("%")) + 30
    )  # computed for this step's settings
    at.button(key="lesson_back_bottom").click().run()
    assert at.query_params["step"] == "2" and metrics(at)["Weights gone"] == gone_half


def test_bad_link_values_are_named_and_corrected() -> None:
    at = open_lessons(lesson="no-such-lesson")
    assert any("No lesson" in w.value for w in at.warning) and "lesson" not in at.query_params
    at = open_lessons(lesson="why-prune", step="99")
    assert any("outside" in w.value for w in at.warning) and at.query_params["step"] == "4"


def test_upload_a_lesson_and_refuse_a_broken_one() -> None:
    at = open_lessons()
    good = L.LESSON_DIR.joinpath("bits-and-grids.md").read_text().replace("id: bits-and-grids", "id: mine")
    at.get("file_uploader")[0].set_value(("mine.md", good.encode(), "text/markdown")).run()
    assert not at.exception and not at.error
    at.button(key="lesson_upload_go").click().run()
    assert at.query_params["lesson"] == "my-mine" and at.subheader[0].value.startswith("1. ")
    at = open_lessons()
    broken = good.replace("chart: q_grid_chart", "chart: nope", 1)
    at.get("file_uploader")[0].set_value(("broken.md", broken.encode(), "text/markdown")).run()
    assert at.error and "not loaded" in at.error[0].value and "nope" in at.error[0].value


def test_a_lessons_pipeline_link_replaces_the_tabs_recipe() -> None:
    """Following a lesson step's link with another recipe shows that recipe, not the tab's previous one."""
    step = next(x for x in L.load_dir() if x.id == "deep-compression").steps[1]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.switch_page("views/pipeline.py")
    at.query_params.update({"dataset": "digits", "model": "lenet-300-100"})
    at.run()
    before = [m.value for m in at.markdown if m.value.startswith("**1.**")]
    at.query_params.update(step.params)
    at.run()
    after = [m.value for m in at.markdown if m.value.startswith("**1.**")]
    assert not at.exception and before != after and "gradual" in after[0].replace("\\", "")


def test_a_quantization_steps_numbers_are_the_labs() -> None:
    """The lesson read 4.49 bits and '22 levels' where the lab it opens read 1.92 bits and 3 levels."""
    import json

    from tests.app.pages import metric, open_page

    at = open_lessons(lesson="bits-and-grids", step="2")
    said = metrics(at)
    lab = open_page("quantize", scheme="linear", bits="2", gran="per-channel", sym="1")
    assert said["Effective bits per weight"] == metric(lab, "Effective bits per weight")
    assert said["Top-1 after"] == metric(lab, "Top-1 accuracy")
    grid = json.loads(next(c for c in lab.get("plotly_chart") if c.key == "q_grid_chart").proto.spec)
    title = json.dumps(grid["layout"]["title"])
    assert said["Layer drawn"] in title and f"{said['Levels on the grid']} levels" in title, (said, title)


def test_a_pruning_steps_numbers_are_the_labs() -> None:
    """The lesson counted every parameter (49.4 %) where the lab's card counts conv and linear weights."""
    from tests.app.pages import metric, open_page

    said = metrics(open_lessons(lesson="why-prune", step="3"))
    lab = open_page(
        "prune", model="lenet-300-100", method="magnitude", amount="0.9", scope="global", gran="weight"
    )
    assert said["Weights gone"] == metric(lab, "Weights gone")
    assert said["Top-1 after"] == metric(lab, "Top-1 accuracy")
