"""The text helpers every page uses for user-supplied strings."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from compression import fmt


@given(st.text(max_size=200))
def test_md_escapes_every_markdown_special_and_loses_nothing(text: str) -> None:
    out = fmt.md(text)
    unescaped = re.sub(r"\\(.)", r"\1", out.replace("\u2060", ""), flags=re.S)
    assert unescaped == text
    for i, ch in enumerate(out):  # every special character is preceded by a backslash
        if ch in "[]()!<>`*_$" and (i == 0 or out[i - 1] != "\\"):
            raise AssertionError(f"unescaped {ch!r} in {out!r}")


def test_md_breaks_bare_autolinks() -> None:
    out = fmt.md("see https://evil.example, www.evil.example or me@evil.example")
    assert "://" not in out and "www\\." not in out.replace("www\u2060\\.", "") and "e@" not in out


def test_plain_escapes_plotly_html() -> None:
    assert fmt.plain("<a href='x'>fc1</a> & b") == "&lt;a href='x'&gt;fc1&lt;/a&gt; &amp; b"


def test_speedup_text() -> None:
    assert fmt.speedup(2.456, 2.4, 2.52) == "2.46x (IQR 2.40-2.52x)"
    assert fmt.speedup(None) == "n/a" and fmt.speedup(1.0) == "1.00x"


def test_metric_arrows_follow_the_number_and_colours_the_meaning() -> None:
    from ui.measured import ratio_delta

    smaller = ratio_delta(0.28, "0.28x of dense")
    assert (smaller["delta_arrow"], smaller["delta_color"]) == ("down", "normal")  # down and green
    bigger = ratio_delta(1.5, "1.50x of dense")
    assert (bigger["delta_arrow"], bigger["delta_color"]) == ("up", "inverse")  # up and red
    faster = ratio_delta(2.0, "2.00x speed", lower_is_better=False)
    assert (faster["delta_arrow"], faster["delta_color"]) == ("up", "normal")
    slower = ratio_delta(0.5, "0.50x speed", lower_is_better=False)
    assert (slower["delta_arrow"], slower["delta_color"]) == ("down", "inverse")
    assert ratio_delta(1.0, "same")["delta_arrow"] == "off"


def test_a_top1_change_that_rounds_to_zero_has_no_arrow() -> None:
    from ui.measured import points_delta

    assert points_delta(0.0, "float32") == {
        "delta": "+0.00 pts vs float32",
        "delta_arrow": "off",
        "delta_color": "off",
    }
    assert points_delta(-0.00001)["delta_arrow"] == "off"  # -0.001 points reads -0.00
    assert points_delta(-0.0123) == {"delta": "-1.23 pts"}  # Streamlit's own arrow and colour
