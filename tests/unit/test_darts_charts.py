"""DARTS charts: the extracted numbers follow the epoch records, and every figure builds from them."""

from __future__ import annotations

import pytest

from compression.charts import darts as charts
from compression.search.darts import OPS, EpochRecord, Genotype, derive, edge_labels, random_genotype
from compression.search.darts.ops import PARAM_FREE

NODES = 3
EDGES = sum(i + 2 for i in range(NODES))


def _alphas(epoch: int, skip_edge: int) -> list[list[float]]:
    """Edges x ops softmax rows: uniform, except that one edge grows skip_connect with the epochs."""
    rows = [[1 / len(OPS)] * len(OPS) for _ in range(EDGES)]
    skip = OPS.index("skip_connect")
    share = min(0.9, 0.2 * epoch)
    rows[skip_edge] = [(1 - share) / (len(OPS) - 1)] * len(OPS)
    rows[skip_edge][skip] = share
    return rows


def _records(n: int, stop_at: int | None = None) -> list[EpochRecord]:
    out = []
    for e in range(1, n + 1):
        normal = _alphas(e, skip_edge=1)
        gene = derive(normal, NODES)
        capped = derive(normal, NODES, cap_skips=0)
        out.append(
            EpochRecord(
                epoch=e,
                alphas_normal=normal,
                alphas_reduce=_alphas(e, skip_edge=4),
                train_acc=0.5 + 0.1 * e,
                val_acc=0.45 + 0.1 * e,
                skips=sum(op == "skip_connect" for op, _ in gene),
                genotype=Genotype(capped, gene),
                seconds=1.0,
                stopped=e == stop_at,
            )
        )
    return out


def test_every_op_has_its_own_colour_and_short_name() -> None:
    assert set(charts.OP_COLOURS) == set(OPS) == set(charts.SHORT)
    assert len(set(charts.OP_COLOURS.values())) == len(OPS)
    assert set(PARAM_FREE) < set(OPS)


def test_edge_grid_matches_the_engine_order() -> None:
    grid = charts.edge_grid(NODES)
    names = charts.node_names(NODES)
    assert [f"{names[s]} -> n{n}" for n, s in grid] == edge_labels(NODES)


def test_alpha_data_starts_uniform_and_follows_the_records() -> None:
    recs = _records(3)
    d = charts.alpha_data(recs, OPS, NODES, "normal", epochs=10)
    assert d["epochs"] == [0, 1, 2, 3]
    assert len(d["weights"]) == EDGES and all(len(w) == len(OPS) for w in d["weights"])
    skip = OPS.index("skip_connect")
    assert d["weights"][1][skip] == pytest.approx([1 / 8, 0.2, 0.4, 0.6])  # epoch 0 = uniform start
    assert d["weights"][0][skip] == pytest.approx([1 / 8] * 4)
    reduce = charts.alpha_data(recs, OPS, NODES, "reduce")
    assert reduce["weights"][4][skip][-1] == pytest.approx(0.6) and reduce["weights"][1][skip][
        -1
    ] == pytest.approx(1 / 8)
    assert d["edges"][1] == "c[k-1] → n0" and d["stopped"] is None


def test_alpha_figure_one_stacked_area_per_edge_and_op_with_one_legend_entry_per_op() -> None:
    d = charts.alpha_data(_records(2), OPS, NODES, epochs=5)
    fig = charts.plot_alphas(d)
    assert len(fig.data) == EDGES * len(OPS)
    assert sum(bool(t.showlegend) for t in fig.data) == len(OPS)
    assert {t.stackgroup for t in fig.data} == {f"e{e}" for e in range(EDGES)}
    first_skip = next(t for t in fig.data if t.legendgroup == "skip_connect")
    assert first_skip.line.color == charts.OP_COLOURS["skip_connect"]
    assert "after epoch 2 of 5" in fig.layout.title.text
    start = charts.plot_alphas(charts.alpha_data([], OPS, NODES, epochs=5))
    assert "before the search" in start.layout.title.text and start.data[0].mode == "markers"


def test_alpha_caption_names_the_most_decided_edge_and_the_drift() -> None:
    text = charts.alpha_caption(charts.alpha_data(_records(3), OPS, NODES))
    assert "After epoch 3" in text and "c[k-1] → n0 (skip, 60%" in text
    assert "parameter-free" in text
    assert "equally" in charts.alpha_caption(charts.alpha_data([], OPS, NODES))


def test_cell_graph_draws_the_kept_edges_with_their_ops() -> None:
    gene = random_genotype(NODES, seed=3).normal
    d = charts.cell_data(gene, NODES)
    assert d["names"] == ["c[k-2]", "c[k-1]", "n0", "n1", "n2", "out"]
    assert len(d["edges"]) == 2 * NODES
    assert all(src < dst and dst >= 2 for src, dst, _ in d["edges"])
    fig = charts.plot_cell(d)
    texts = [a.text for a in fig.layout.annotations]
    for op, _ in gene:
        assert f"<b>{charts.SHORT[op]}</b>" in texts
    assert {"<b>c[k-2]</b>", "<b>out</b>"} <= set(texts)
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == 2 * NODES
    assert fig.data[-1].name == "concat"
    skips = sum(op == "skip_connect" for op, _ in gene)
    assert f"{skips} skip connection(s)" in fig.layout.title.text
    caption = charts.cell_caption(d, epoch=4)
    assert "after epoch 4" in caption and caption.count("n0 =") == 1 and "out = concat(n0..n2)" in caption


def test_accuracy_and_skip_charts_follow_the_records_and_mark_the_cure() -> None:
    recs = _records(4, stop_at=4)
    acc = charts.accuracy_data(recs)
    assert acc["val"] == pytest.approx([55, 65, 75, 85])
    assert [t.name for t in charts.plot_accuracy(acc).data] == ["search (weight half)", "validation (α half)"]
    assert "Epoch 4" in charts.accuracy_caption(acc)
    s = charts.skips_data(recs, "early-stop")
    assert s["stopped"] == 4 and s["skips"] == [r.skips for r in recs]
    fig = charts.plot_skips(s)
    assert any("early stop at epoch 4" in (a.text or "") for a in fig.layout.annotations)
    assert "stopped the search at epoch 4" in charts.skips_caption(s)
    capped = charts.skips_data(_records(4), "cap-skips")
    assert capped["kept"] == [0, 0, 0, 0]  # the records' normal genotype was derived with cap 0
    assert [t.name for t in charts.plot_skips(capped).data] == [
        "skips derived (no cap)",
        "kept after the cap",
        "all parameter-free ops (skips + pools)",
    ]
    assert "cap keeps 0" in charts.skips_caption(capped)
    free = [sum(op in PARAM_FREE for op, _ in r.genotype.normal) for r in recs]
    assert s["param_free"] == free and s["edges"] == 2 * NODES


def test_the_skip_caption_names_a_drift_to_pooling() -> None:
    pooled = Genotype(tuple(("avg_pool_3x3", i % 2) for i in range(2 * NODES)), ())
    rec = EpochRecord(
        epoch=1, alphas_normal=[], alphas_reduce=[], train_acc=0.5, val_acc=0.5, skips=0, genotype=pooled,
        seconds=1.0, stopped=False,
    )  # fmt: skip
    data = charts.skips_data([rec], "cap-skips")
    assert data["param_free"] == [2 * NODES] and data["kept"] == [0]
    caption = charts.skips_caption(data)
    assert f"{2 * NODES} of its {2 * NODES} edges are parameter-free" in caption and "pooling" in caption
    assert "parameter-free" not in charts.skips_caption(charts.skips_data(_records(1), "none"))


def test_comparison_bars_colour_darts_apart_from_random_cells() -> None:
    rows = [
        {"name": "DARTS", "kind": "darts", "top1": 0.95, "params": 1000},
        {"name": "random 1", "kind": "random", "top1": 0.9, "params": 800},
    ]
    fig = charts.plot_comparison(rows)
    bar = fig.data[0]
    assert list(bar.y) == pytest.approx([95, 90]) and bar.marker.color[0] != bar.marker.color[1]


def test_removal_heatmap_outlines_the_kept_ops_and_scales_to_milli_loss() -> None:
    scores = [[float("-inf"), *(0.001 * (e + 1) * (o + 1) for o in range(7))] for e in range(5)]
    scores[3][2] = -0.004  # avg pool on edge 3: the supernet does better without it
    gene = (("dil_conv_5x5", 0), ("dil_conv_5x5", 1), ("skip_connect", 0), ("dil_conv_5x5", 2))
    data = charts.removal_data(scores, gene, OPS, nodes=2)
    assert data["ops"] == [charts.SHORT[o] for o in OPS[1:]] and len(data["edges"]) == 5
    assert data["z"][1][6] == pytest.approx(14.0) and data["z"][3][1] == pytest.approx(-4.0)
    assert data["kept"] == [(0, 6), (1, 6), (2, 2), (4, 6)]  # (edge row, op column) of each gene entry
    fig = charts.plot_removal(data)
    heat, outline = fig.data
    assert heat.zmid == 0 and heat.zmax == pytest.approx(35.0) and heat.zmin == pytest.approx(-35.0)
    assert list(outline.x) == ["dil conv 5x5", "dil conv 5x5", "skip", "dil conv 5x5"]
    caption = charts.removal_caption(data)
    assert "leans most on dil conv 5x5 on n0 → n1 (+35.0e-3" in caption and "1 of the 35 ops" in caption
