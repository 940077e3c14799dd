"""One look for every chart: readable when projected in a lecture hall."""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

# The default template, not `template=` per figure: setting it on a figure validates and copies the
# whole template (~35 ms each; a lab rerun draws five figures). Serialised figures still carry it.
pio.templates.default = "plotly_white"

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"]
BEFORE = "#94a3b8"  # grey: the baseline / dense model
AFTER = "#2563eb"  # blue: the compressed model


def style(fig: go.Figure, title: str | None = None, height: int = 380) -> go.Figure:
    fig.update_layout(
        title={"text": title, "y": 0.98, "yanchor": "top"} if title else None,
        height=height,
        margin={"l": 10, "r": 10, "t": 90 if title else 40, "b": 10},  # room for title + legend
        font={"size": 14},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    return fig
