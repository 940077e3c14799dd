"""DARTS charts: softmax(alpha) per edge over the epochs (small multiples), the derived cell as a graph,
search and validation accuracy, and the skip-connection count with the cure's stop or cap.

Like the other chart modules: a `*_data` step turns the search's epoch records (anything with the
fields of `compression.search.darts.EpochRecord`) into plain numbers, `plot_*` builds the figure from
those numbers only, and `*_caption` says in one sentence what the chart shows now.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from compression.charts.style import BEFORE, PALETTE, style
from compression.search.darts import MAX_SKIPS
from compression.search.darts.ops import PARAM_FREE

# One colour per operation on every DARTS chart. Parameter-free ops are warm or grey (skip in red: the
# collapse's culprit), convolutions blue/green (3x3 light, 5x5 dark). Order = the DARTS space's order.
OP_COLOURS = {
    "none": "#cbd5e1",
    "max_pool_3x3": "#a16207",
    "avg_pool_3x3": "#f59e0b",
    "skip_connect": "#dc2626",
    "sep_conv_3x3": "#60a5fa",
    "sep_conv_5x5": "#1d4ed8",
    "dil_conv_3x3": "#4ade80",
    "dil_conv_5x5": "#15803d",
}
SHORT = {
    "none": "none",
    "max_pool_3x3": "max pool 3x3",
    "avg_pool_3x3": "avg pool 3x3",
    "skip_connect": "skip",
    "sep_conv_3x3": "sep conv 3x3",
    "sep_conv_5x5": "sep conv 5x5",
    "dil_conv_3x3": "dil conv 3x3",
    "dil_conv_5x5": "dil conv 5x5",
}
CELLS = {"normal": "normal", "reduce": "reduction"}  # EpochRecord field suffix -> what the page calls it


class GenotypeLike(Protocol):
    normal: tuple[tuple[str, int], ...]
    reduce: tuple[tuple[str, int], ...]

    def skip_count(self) -> int: ...

    def param_free_count(self) -> int: ...


class EpochLike(Protocol):
    epoch: int
    alphas_normal: list[list[float]]
    alphas_reduce: list[list[float]]
    train_acc: float
    val_acc: float
    skips: int
    genotype: Any
    stopped: bool


def colour(op: str) -> str:
    return OP_COLOURS.get(op, PALETTE[sum(op.encode()) % len(PALETTE)])


def node_names(nodes: int) -> list[str]:
    """Graph vertices by input index: the cell's two inputs, then the intermediate nodes."""
    return ["c[k-2]", "c[k-1]", *(f"n{i}" for i in range(nodes))]


def edge_grid(nodes: int) -> list[tuple[int, int]]:
    """(target node, source index) of every edge, in the engine's order (node 0: 2 edges, node 1: 3, ...)."""
    return [(node, src) for node in range(nodes) for src in range(node + 2)]


# ---------------------------------------------------------------- softmax(alpha) per edge


def alpha_data(
    records: Sequence[EpochLike],
    ops: Sequence[str],
    nodes: int,
    cell: str = "normal",
    epochs: int | None = None,
) -> dict[str, Any]:
    """Per edge and op, softmax(alpha) after each epoch; epoch 0 is the start (uniform over the ops:
    the alphas start at 1e-3 x N(0, 1)). `epochs`: the search's budget (for the caption)."""
    grid = edge_grid(nodes)
    uniform = [1 / len(ops)] * len(ops)
    per_epoch = [[uniform] * len(grid)] + [list(getattr(r, f"alphas_{cell}")) for r in records]
    names = node_names(nodes)
    return {
        "cell": cell,
        "ops": list(ops),
        "nodes": nodes,
        "epochs": [0, *(int(r.epoch) for r in records)],
        "budget": epochs,
        "edges": [f"{names[src]} → n{node}" for node, src in grid],
        "grid": grid,
        # weights[edge][op] = the op's share on that edge after each epoch
        "weights": [
            [[float(per_epoch[t][e][o]) for t in range(len(per_epoch))] for o in range(len(ops))]
            for e in range(len(grid))
        ],
        "stopped": next((int(r.epoch) for r in records if r.stopped), None),
    }


def plot_alphas(data: Mapping[str, Any]) -> go.Figure:
    """One stacked area per edge (rows: the target node; columns: its inputs), one colour per op."""
    nodes, grid = data["nodes"], data["grid"]
    cols = nodes + 1
    titles = [""] * (nodes * cols)
    for (node, src), label in zip(grid, data["edges"], strict=True):
        titles[node * cols + src] = label
    fig = make_subplots(
        rows=nodes,
        cols=cols,
        subplot_titles=titles,
        horizontal_spacing=0.03,
        vertical_spacing=0.14 if nodes > 1 else 0.2,
        shared_xaxes=True,
        shared_yaxes=True,
    )
    x = data["epochs"]
    traces, rows, cols_ = [], [], []
    for e, (node, src) in enumerate(grid):
        for o, op in enumerate(data["ops"]):
            traces.append(
                {
                    "type": "scatter",
                    "x": x,
                    "y": data["weights"][e][o],
                    "mode": "lines" if len(x) > 1 else "markers",  # before the search: a column of dots
                    "marker": {"symbol": "square", "size": 9, "color": colour(op)},
                    "stackgroup": f"e{e}",
                    "name": SHORT.get(op, op),
                    "legendgroup": op,
                    "showlegend": e == 0,
                    "line": {"width": 0.5, "color": colour(op)},
                    "fillcolor": colour(op),
                    "hovertemplate": f"{data['edges'][e]}<br>epoch %{{x}}: {op} %{{y:.1%}}<extra></extra>",
                }
            )
            rows.append(node + 1)
            cols_.append(src + 1)
    fig.add_traces(traces, rows=rows, cols=cols_)  # one call: ~10x faster than a call per trace
    fig.update_yaxes(range=[0, 1], tickvals=[0, 0.5, 1], ticktext=["0", "", "1"], showgrid=False)
    fig.update_xaxes(range=[-0.2, max(1, x[-1], data.get("budget") or 0) + 0.2], nticks=4, showgrid=False)
    fig.update_annotations(font_size=12)
    shown = x[-1]
    when = f"after epoch {shown}" + (f" of {data['budget']}" if data.get("budget") else "")
    if shown == 0:
        when = "before the search (uniform)"
    if data.get("stopped"):
        when += " (stopped early)"
    title = f"{CELLS[data['cell']].capitalize()} cell: softmax(α) per edge, {when}"
    fig = style(fig, title, height=140 * nodes + 120)
    if nodes >= 3:  # the last column is empty but in the last row: the legend goes there
        fig.update_layout(
            legend={
                "orientation": "v",
                "x": nodes / cols + 0.01,
                "y": 1.0,
                "yanchor": "top",
                "xanchor": "left",
                "font": {"size": 12},  # the eight entries must fit above the last row, on a projector too
                "tracegroupgap": 0,  # one legend group per op: the default 10 px gap between them pushed
                # the last entries into the last row on a projector (18 px)
            }
        )
    else:
        fig.update_layout(margin={"t": 150}, legend={"y": 1.12, "font": {"size": 13}})
    return fig


def alpha_caption(data: Mapping[str, Any]) -> str:
    """What the alpha chart shows now: how decided the edges are and how many lean parameter-free."""
    last = data["epochs"][-1]
    if last == 0:
        return (
            "Before the search every edge mixes the eight operations equally (softmax of near-zero α). "
            "Each small chart is one edge of the cell: the coloured bands are the ops' shares as they move."
        )
    ops = data["ops"]
    leaders = []
    for e, weights in enumerate(data["weights"]):
        shares = [w[-1] for w in weights]
        best = max((i for i in range(len(ops)) if ops[i] != "none"), key=lambda i: shares[i])
        leaders.append((shares[best], data["edges"][e], ops[best]))
    free = sum(1 for _, _, op in leaders if op in PARAM_FREE)
    share, edge, op = max(leaders)
    return (
        f"After epoch {last}: the most decided edge is {edge} ({SHORT.get(op, op)}, {share:.0%} of its mix; "
        f"uniform is {1 / len(ops):.0%}). {free} of {len(leaders)} edges lean towards a parameter-free op "
        "(skip or pool) - the drift that, unchecked, collapses DARTS."
    )


# ---------------------------------------------------------------- the derived cell as a graph


def cell_data(genotype_cell: Sequence[tuple[str, int]], nodes: int, cell: str = "normal") -> dict[str, Any]:
    """Vertices on one line (c[k-2], c[k-1], n0.., out) and the kept edges (source, target, op)."""
    names = [*node_names(nodes), "out"]
    edges = [(int(src), 2 + i // 2, str(op)) for i, (op, src) in enumerate(genotype_cell)]
    return {"cell": cell, "names": names, "edges": edges, "nodes": nodes}


def _arc(s: float, d: float, h: float, n: int = 24) -> tuple[list[float], list[float]]:
    ts = [math.pi * k / (n - 1) for k in range(n)]
    return [(s + d) / 2 - (d - s) / 2 * math.cos(t) for t in ts], [h * math.sin(t) for t in ts]


def plot_cell(data: Mapping[str, Any]) -> go.Figure:
    """An arc diagram: each kept edge an arc over the line of vertices, labelled with its op; the
    intermediate nodes' concatenation into the output as grey arcs below."""
    names, nodes = data["names"], data["nodes"]
    out = len(names) - 1
    fig = go.Figure()
    by_op: dict[str, tuple[list[float | None], list[float | None]]] = {}
    arrows, top = [], 0.6
    for s, d, op in data["edges"]:
        h = 0.45 * (d - s)
        top = max(top, h)
        xs, ys = _arc(s, d, h)
        bx, by = by_op.setdefault(op, ([], []))
        bx += [*xs, None]
        by += [*ys, None]
        arrows.append((d, xs[-3], ys[-3], op))
        fig.add_annotation(
            x=(s + d) / 2,
            y=h,
            text=f"<b>{SHORT.get(op, op)}</b>",
            showarrow=False,
            font={"color": colour(op), "size": 13},
            bgcolor="rgba(255,255,255,0.85)",
        )
    for op, (xs, ys) in by_op.items():
        fig.add_scatter(
            x=xs, y=ys, mode="lines", line={"color": colour(op), "width": 3}, name=op, hoverinfo="skip"
        )
    cx: list[float | None] = []
    cy: list[float | None] = []
    for i in range(nodes):
        xs, ys = _arc(2 + i, out, -0.22 * (out - 2 - i))
        cx += [*xs, None]
        cy += [*ys, None]
    fig.add_scatter(
        x=cx, y=cy, mode="lines", line={"color": BEFORE, "width": 1.5, "dash": "dot"}, name="concat"
    )
    for d, ax, ay, op in arrows:
        fig.add_annotation(
            x=d,
            y=0,
            ax=ax,
            ay=ay,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            text="",
            showarrow=True,
            arrowhead=2,
            arrowsize=1.2,
            arrowwidth=2,
            arrowcolor=colour(op),
            standoff=12,
        )
    for i, name in enumerate(names):
        fig.add_annotation(
            x=i,
            y=0,
            text=f"<b>{name}</b>",
            showarrow=False,
            font={"size": 14, "color": "#111827"},
            bgcolor="#f1f5f9" if i < 2 or i == out else "#ffffff",
            bordercolor="#111827",
            borderwidth=1.5,
            borderpad=5,
        )
    bottom = 0.22 * max(1, nodes) + 0.3
    fig.update_xaxes(visible=False, range=[-0.6, out + 0.6])
    fig.update_yaxes(visible=False, range=[-bottom, top + 0.45])
    fig.update_layout(showlegend=False, hovermode=False)
    skips = sum(1 for _, _, op in data["edges"] if op == "skip_connect")
    return style(fig, f"Derived {CELLS[data['cell']]} cell: {skips} skip connection(s)", height=330)


def cell_caption(data: Mapping[str, Any], epoch: int | None = None, *, perturbation: bool = False) -> str:
    """The derived cell in words: each node's two inputs and their ops, and how they were chosen."""
    names = data["names"]
    parts = []
    for node in range(data["nodes"]):
        ins = [f"{SHORT.get(op, op)}({names[s]})" for s, d, op in data["edges"] if d == node + 2]
        parts.append(f"n{node} = {' + '.join(ins)}")
    when = f"after epoch {epoch}" if epoch else "now"
    how = (
        f"chosen by perturbation (DARTS-PT) {when}: per node the two incoming edges whose best op, struck out "
        "of the trained supernet, raised its validation loss most"
        if perturbation
        else f"derived {when}: per node the two strongest incoming edges by their best op other than none"
    )
    return (
        f"The {CELLS[data['cell']]} cell {how}. {'; '.join(parts)}; out = concat(n0..n{data['nodes'] - 1})."
    )


# ---------------------------------------------------------------- the removal test (DARTS-PT)


def removal_data(
    scores: Sequence[Sequence[float]],
    genotype_cell: Sequence[tuple[str, int]],
    ops: Sequence[str],
    nodes: int,
    cell: str = "normal",
) -> dict[str, Any]:
    """The removal test's scores (edges x ops, "none" left out) in units of 1e-3 of validation loss, and
    the (edge row, op column) of every kept edge."""
    grid = edge_grid(nodes)
    names = node_names(nodes)
    cols = [o for o, name in enumerate(ops) if name != "none"]
    kept = [
        (grid.index((i // 2, int(src))), cols.index(list(ops).index(op)))
        for i, (op, src) in enumerate(genotype_cell)
    ]
    return {
        "cell": cell,
        "edges": [f"{names[src]} → n{node}" for node, src in grid],
        "ops": [SHORT.get(ops[o], ops[o]) for o in cols],
        "z": [[1000 * float(row[o]) for o in cols] for row in scores],
        "kept": kept,
    }


def plot_removal(data: Mapping[str, Any]) -> go.Figure:
    """Heatmap: rows the edges, columns the ops, colour the loss's rise (red: the supernet needs the op,
    blue: it does better without); the kept edges' ops outlined."""
    z = data["z"]
    top = max((abs(v) for row in z for v in row), default=1.0) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=data["ops"],
            y=data["edges"],
            zmid=0,
            zmin=-top,
            zmax=top,
            colorscale="RdBu_r",
            colorbar={"title": {"text": "Δ loss x 1e-3"}},
            hovertemplate="%{y}, %{x} struck out: validation loss %{z:+.1f}e-3<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[data["ops"][c] for _, c in data["kept"]],
            y=[data["edges"][r] for r, _ in data["kept"]],
            mode="markers",
            marker={"symbol": "square-open", "size": 26, "color": "black", "line": {"width": 3}},
            name="kept in the cell",
            hoverinfo="skip",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="edge")
    fig.update_xaxes(title_text="op struck out")
    title = f"Removal test, {CELLS[data['cell']]} cell: how much the validation loss rises without each op"
    return style(fig, title, height=max(380, 60 + 34 * len(data["edges"])))


def removal_caption(data: Mapping[str, Any]) -> str:
    """The op the supernet leans on most, and how many ops it does better without."""
    z, ops, edges = data["z"], data["ops"], data["edges"]
    r, c = max(((r, c) for r in range(len(z)) for c in range(len(ops))), key=lambda rc: z[rc[0]][rc[1]])
    harmful = sum(v < 0 for row in z for v in row)
    return (
        f"Each op of the trained supernet is struck out alone (its weight set to 0, the others kept) and the "
        f"validation loss measured again. The supernet leans most on {ops[c]} on {edges[r]} "
        f"({z[r][c]:+.1f}e-3 without it); {harmful} of the {len(ops) * len(edges)} ops lower the loss when "
        "struck out. Per edge the op with the largest rise is kept; per node the two edges whose kept op rises "
        "most (outlined)."
    )


# ---------------------------------------------------------------- accuracy


def accuracy_data(records: Sequence[EpochLike]) -> dict[str, list[float]]:
    return {
        "epoch": [int(r.epoch) for r in records],
        "train": [100 * float(r.train_acc) for r in records],
        "val": [100 * float(r.val_acc) for r in records],
    }


def plot_accuracy(data: Mapping[str, Sequence[float]]) -> go.Figure:
    fig = go.Figure()
    for key, name, c in (
        ("train", "search (weight half)", PALETTE[0]),
        ("val", "validation (α half)", PALETTE[1]),
    ):
        fig.add_scatter(
            x=data["epoch"],
            y=data[key],
            mode="lines+markers",
            name=name,
            line={"color": c, "width": 2.5},
            marker={"size": 7},
            hovertemplate=f"epoch %{{x}}: {name} %{{y:.1f}} %<extra></extra>",
        )
    fig.update_xaxes(title="epoch", dtick=1 if len(data["epoch"]) <= 15 else None)
    fig.update_yaxes(title="accuracy (%)")
    return style(fig, "Search and validation accuracy of the supernet", height=330)


def accuracy_caption(data: Mapping[str, Sequence[float]]) -> str:
    if not data["epoch"]:
        return "The accuracies appear after the first epoch."
    e, tr, va = data["epoch"][-1], data["train"][-1], data["val"][-1]
    return (
        f"Epoch {e}: the supernet (every op mixed) scores {tr:.1f} % on the half that trains the weights w and "
        f"{va:.1f} % on the half that trains α (gap {tr - va:+.1f} points). The retrained derived network is "
        "what counts; this only shows the search is learning."
    )


# ---------------------------------------------------------------- skip connections and the cure


def skips_data(records: Sequence[EpochLike], cure: str) -> dict[str, Any]:
    """Skips in the normal cell derived after each epoch, before and after the cure's cap."""
    return {
        "epoch": [int(r.epoch) for r in records],
        "skips": [int(r.skips) for r in records],
        "kept": [int(r.genotype.skip_count()) for r in records],
        "param_free": [int(r.genotype.param_free_count()) for r in records],
        "edges": len(records[-1].genotype.normal) if records else 0,
        "cure": cure,
        "stopped": next((int(r.epoch) for r in records if r.stopped), None),
    }


def plot_skips(data: Mapping[str, Any]) -> go.Figure:
    fig = go.Figure()
    fig.add_bar(
        x=data["epoch"],
        y=data["skips"],
        name="skips derived (no cap)",
        marker_color=OP_COLOURS["skip_connect"],
        text=data["skips"],  # a count of 0 draws no bar: the number says it
        textposition="outside",
        cliponaxis=False,
        hovertemplate="epoch %{x}: %{y} skip(s)<extra></extra>",
    )
    if data["cure"] == "cap-skips":
        fig.add_scatter(
            x=data["epoch"],
            y=data["kept"],
            mode="lines+markers",
            name="kept after the cap",
            line={"color": "#111827", "width": 2.5},
        )
    fig.add_scatter(
        x=data["epoch"],
        y=data["param_free"],
        mode="lines+markers",
        name="all parameter-free ops (skips + pools)",
        line={"color": OP_COLOURS["avg_pool_3x3"], "width": 3},  # solid: at 2 it lay hidden under the dashes
        hovertemplate="epoch %{x}: %{y} parameter-free op(s)<extra></extra>",
    )
    label = {
        "early-stop": "DARTS+ stops above 2",
        "cap-skips": "P-DARTS cap: 2",
        "none": "2 (no cure chosen)",
    }.get(data["cure"], "2")
    fig.add_hline(
        y=MAX_SKIPS,
        line_dash="dash",
        line_color="#6b7280",
        line_width=1.5,
        layer="below",  # under the lines and bars that may sit on it
        annotation_text=label,
        annotation_position="top left",
        annotation_bgcolor="rgba(255,255,255,0.85)",
    )
    if data["stopped"]:
        fig.add_vline(
            x=data["stopped"],
            line_color=PALETTE[1],
            line_width=3,
            annotation_text=f"early stop at epoch {data['stopped']}",
            annotation_position="top right",
        )
    top = max([MAX_SKIPS + 1, *data["skips"], *data["param_free"]]) + 0.5
    fig.update_xaxes(title="epoch", dtick=1 if len(data["epoch"]) <= 15 else None)
    fig.update_yaxes(title="edges of the normal cell", range=[0, top], dtick=1)
    return style(fig, "Skips and all parameter-free ops in the derived normal cell", height=330)


def skips_caption(data: Mapping[str, Any]) -> str:
    if not data["epoch"]:
        return "The skip count appears after the first epoch."
    e, n, kept = data["epoch"][-1], data["skips"][-1], data["kept"][-1]
    cure = data["cure"]
    if data["stopped"]:
        tail = f"The early-stop cure (DARTS+) stopped the search at epoch {data['stopped']}, when the cell held more than 2."
    elif cure == "cap-skips":
        tail = f"The P-DARTS cap keeps {kept} of them (at most 2; the others' edges take their next-best op)."
    elif cure == "early-stop":
        tail = "The early-stop cure (DARTS+) stops the search as soon as the cell holds more than 2."
    else:
        tail = "No cure is on: a long search is free to fill the cell with skips."
    free = data["param_free"][-1]
    pools = (
        f" {free} of its {data['edges']} edges are parameter-free (dotted line): pooling, not skips, is taking "
        "the cell, which the skip cures do not catch (usual in the first epochs, while the convolutions are "
        "untrained; a collapse if it lasts)."
        if free - kept > MAX_SKIPS
        else ""
    )
    return (
        f"After epoch {e} the normal cell derived without a cap holds {n} skip connection(s). {tail}{pools}"
    )


# ---------------------------------------------------------------- DARTS vs random architectures


def plot_comparison(rows: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Retrained test top-1 (bars) of the DARTS cell and the random cells, parameters in the hover."""
    fig = go.Figure()
    fig.add_bar(
        x=[r["name"] for r in rows],
        y=[100 * r["top1"] for r in rows],
        marker_color=[PALETTE[0] if r["kind"] == "darts" else BEFORE for r in rows],
        text=[f"{100 * r['top1']:.2f} %" for r in rows],
        textposition="outside",
        customdata=[r["params"] for r in rows],
        hovertemplate="%{x}: %{y:.2f} %, %{customdata:,} parameters<extra></extra>",
    )
    ys = [100 * r["top1"] for r in rows] or [0.0]
    fig.update_yaxes(title="test top-1 (%)", range=[max(0.0, min(ys) - 10), min(100.0, max(ys) + 4)])
    return style(fig, "Retrained with the same budget: DARTS vs random cells", height=330)
