"""Human-readable numbers for cards, tables and chart labels."""

from __future__ import annotations

import re

KB = 1000  # decimal units everywhere (the search's size budget, the pipeline, every card and chart)


def bytes_(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < KB or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= KB
    return f"{n:.1f} GB"


def count(n: float | None) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{n:,.0f}"


def ms(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.2f} ms" if v < 100 else f"{v:,.0f} ms")


def speedup(v: float | None, lo: float | None = None, hi: float | None = None) -> str:
    """A paired speed-up with its interquartile range: '2.46x (IQR 2.40-2.52x)'."""
    if v is None:
        return "n/a"
    spread = f" (IQR {lo:.2f}-{hi:.2f}x)" if lo is not None and hi is not None else ""
    return f"{v:.2f}x{spread}"


_MARKDOWN_SPECIAL = "\\`*_{}[]()#+-.!|<>~:$&"


QUOTE_CHARS = 80  # how much of a link's value a message quotes (a link can carry 100,000 characters)


def md(text: object, limit: int | None = None) -> str:
    """Any user-supplied text made inert for Streamlit's Markdown: every character that could start a
    link, an image, emphasis, HTML, an entity or LaTeX is backslash-escaped, so it shows as typed.
    Every page passes URL values, names, notes, tags and error texts that quote them through here.
    Bare addresses (http://, www., name@host) would still be linked by GFM's autolinks, which no escape
    stops: an invisible word joiner (U+2060) breaks them. limit: quote at most this many characters."""
    text = str(text)
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} characters)"
    escaped = "".join("\\" + c if c in _MARKDOWN_SPECIAL else c for c in text)
    return re.sub(r"(?i)(?<=:)(?=//)|(?<=www)(?=\\\.)|(?=@)", "\u2060", escaped)


def quote(text: object) -> str:
    """A link's value in a message: inert (`md`) and at most QUOTE_CHARS characters."""
    return md(text, QUOTE_CHARS)


def plain(text: object) -> str:
    """User text for Plotly labels and hovers, which render a subset of HTML (<a>, <b>, <br>): escaped."""
    import html

    return html.escape(str(text), quote=False)
