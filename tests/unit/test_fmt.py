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
