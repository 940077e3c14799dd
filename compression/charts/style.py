"""One look for every chart: readable when projected in a lecture hall."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

# The default template, not `template=` per figure: setting it on a figure validates and copies the
# whole template (~35 ms each; a lab rerun draws five figures). Serialised figures still carry it.
pio.templates.default = "plotly_white"

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]
# One colour per technique on every chart and page, from the Okabe-Ito colour-blind-safe set plus darker
# shades (no yellow: it vanishes on a projector); a technique this table does not know gets a stable hash pick.
TECHNIQUE_COLOURS = {
    "baseline": "#111827",
    "magnitude-prune": "#0072B2",
    "random-prune": "#56B4E9",
    "structured-prune": "#009E73",
    "activation-prune": "#00695C",
    "network-slimming": "#4E9A06",
    "quant-linear": "#D55E00",
    "quant-kmeans": "#E69F00",
    "quant-log": "#A0522D",
    "quant-binary": "#CC79A7",
    "quant-ternary": "#8E3B73",
    "quant-xnor": "#B03060",
    "quant-float": "#7F7F7F",
    "quant-mixed": "#C44E52",
    "quant-int8": "#B22222",
    "quant-qat": "#E377C2",
    "distill": "#6A3D9A",
    "kd-recovery": "#9467BD",
    "low-rank": "#999933",  # olive (Tol): apart from the pruning blues
}
_SPARE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#6A3D9A", "#8C564B"]


def technique_colour(name: str) -> str:
    """The colour of a technique, the same on every axis, filter and page."""
    if name in TECHNIQUE_COLOURS:
        return TECHNIQUE_COLOURS[name]
    return _SPARE[sum(name.encode()) % len(_SPARE)]


BEFORE = "#94a3b8"  # grey: the baseline / dense model
AFTER = "#2563eb"  # blue: the compressed model


TITLE_CHARS = 56  # what one line of a title holds in the lab stage's chart column (~470 px at 1280 px)


def wrap_title(text: str, limit: int = TITLE_CHARS) -> str:
    """`text` on two lines when longer than `limit` (Plotly does not wrap titles; a narrow chart cut them):
    after a colon when both lines fit and the first holds a quarter of it, else at the space nearest the middle."""
    if len(text) <= limit or "<br>" in text or " " not in text:
        return text
    spaces = [k for k, ch in enumerate(text) if ch == " "]
    colons = [k for k in spaces if text[k - 1] == ":" and k >= len(text) // 4 and len(text) - k - 1 <= limit]
    cut = colons[0] if colons else min(spaces, key=lambda k: abs(2 * k - len(text)))
    return f"{text[:cut]}<br>{text[cut + 1 :]}"


def style(fig: go.Figure, title: str | None = None, height: int = 380) -> go.Figure:
    head, top = None, 40
    if title:
        title = wrap_title(title)
        two_lines = "<br>" in title
        # Plotly anchors a title's top by its first line only: a second line pushed the first off the top
        head = {"text": title, "y": 0.98, "yanchor": "top", "pad": {"t": 22 if two_lines else 0}}
        top = 110 if two_lines else 90  # room for the title and the legend
    fig.update_layout(
        title=head,
        height=height,
        margin={"l": 10, "r": 10, "t": top, "b": 10},
        font={"size": 14},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig


CATEGORY_CHARS = 8  # a category label longer than this goes on two lines (at a space) on a projector
STREAMLIT_SMALL_PX = 12  # the size Streamlit's chart theme gives tick labels and legend entries


def _two_line_categories(fig: go.Figure) -> None:
    """Category labels of the x axes on two lines: larger, they no longer fit side by side and Plotly turned
    them 45 degrees, into the legend below (an axis with its own tick values is left alone)."""
    categories: dict[str, list[str]] = {}
    for trace in fig.data:
        xs = getattr(trace, "x", None)
        if isinstance(xs, np.ndarray):  # names only: a histogram's 235,200 weights are not copied to a list
            xs = xs.tolist() if xs.dtype.kind in "OUS" else None
        # a list of names only: numbers copied through to_dict() arrive as a {"dtype", "bdata"} dict, whose
        # keys are strings too (the A/B view's grids lost their x numbers to tick labels "dtype", "bdata")
        if isinstance(xs, list | tuple) and xs and all(isinstance(x, str) for x in xs):
            seen = categories.setdefault(getattr(trace, "xaxis", None) or "x", [])
            seen.extend(x for x in xs if x not in seen)
    for ref, cats in categories.items():
        axis = fig.layout["xaxis" + ref[1:]]
        if axis is not None and axis.tickvals is None:
            # Plotly still turns them when even two lines collide (ten class names on a confusion matrix)
            axis.update(
                tickmode="array", tickvals=cats, ticktext=[wrap_title(c, CATEGORY_CHARS) for c in cats]
            )


def presented(fig: go.Figure, scale: float = 1.5) -> go.Figure:
    """A copy of `fig` for a projector: fonts and markers `scale` times larger, taller, no title overlap."""
    out = go.Figure(fig)
    size = (out.layout.font.size or 14) * scale
    out.update_layout(font={"size": size}, height=int((out.layout.height or 380) * 1.15))
    # Streamlit's chart theme draws tick labels and legends at 12 px whatever the layout's font: name them
    small = STREAMLIT_SMALL_PX * scale
    out.update_xaxes(tickfont_size=small, title_font_size=size)
    out.update_yaxes(tickfont_size=small, title_font_size=size)
    # a chart that sized its legend or labels smaller, to fit a crowded grid (DARTS's edges), still gets the
    # projector's smallest size: 12 px names were unreadable projected
    legend = out.layout.legend.font.size
    out.update_layout(legend_font_size=small if legend is None else max(legend, small))
    for note in out.layout.annotations:
        if note.font.size is not None and note.font.size < small:
            note.font.size = small
    _two_line_categories(out)
    if out.layout.title.text:
        out.update_layout(title_font_size=max(size, 20))  # long titles must still fit the half-width chart
        if "<br>" in out.layout.title.text:
            out.update_layout(title_pad_t=1.3 * max(size, 20))  # its first line's height (see style)
    for trace in out.data:
        marker = getattr(trace, "marker", None)
        if marker is not None and isinstance(getattr(marker, "size", None), int | float):
            marker.size = marker.size * scale
        line = getattr(trace, "line", None)
        if line is not None and isinstance(getattr(line, "width", None), int | float):
            line.width = line.width * scale
    return out
