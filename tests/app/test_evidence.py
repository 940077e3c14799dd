"""The recorded measurements a page cites open in the page itself (a browser user cannot open bench/results)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Expander

from tests.app.pages import open_page
from ui import evidence


def _recorded(at: AppTest) -> Expander:
    return next(e for e in at.expander if e.label.startswith("Recorded measurements behind this page"))


@pytest.mark.parametrize(
    ("page", "key", "files"),
    [
        ("darts", "da_recorded", ["darts_target.md", "darts_collapse.md", "darts.md"]),
        ("distill", "d_recorded", ["distillation.md"]),
    ],
)
def test_a_page_shows_the_results_files_it_cites_when_opened(page: str, key: str, files: list[str]) -> None:
    at = open_page(page)
    assert not _recorded(at).markdown  # closed: nothing rendered or sent
    at.session_state[key] = True
    at.run()
    assert not at.exception
    shown = [m.value for m in _recorded(at).markdown]
    assert len(shown) == len(files)
    for text, name in zip(shown, files, strict=True):
        title = (evidence.RESULTS / name).read_text().splitlines()[0].lstrip("# ")
        assert text.startswith(f"#### {title}\n")  # the file's own title, below the page's subheadings


def test_headings_move_below_the_pages_own() -> None:
    text = "# A\ntext # not a heading\n## B\n###### C"
    assert evidence.as_section(text) == "#### A\ntext # not a heading\n##### B\n###### C"


def test_a_results_file_missing_from_the_installation_is_said(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(evidence, "RESULTS", tmp_path)  # the page runs in this process: it reads this
    at = open_page("distill")
    at.session_state["d_recorded"] = True
    at.run()
    assert not at.exception and not _recorded(at).markdown
    assert "bench/results/distillation.md is not part of this installation." in [
        c.value for c in _recorded(at).caption
    ]
