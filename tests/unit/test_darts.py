"""DARTS engine: the mixed op, derivation, genotype networks, one search step, the cures."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from compression import data, model_file, techniques
from compression.search import darts
from compression.search.darts.genotype import edge_count
from compression.search.darts.network import SearchNetwork, reduction_cells
from compression.search.darts.ops import MixedOp, build_op, channel_shuffle, op_costs
from compression.search.darts.search import (
    early_stop_fires,
    final_genotype,
    first_order_step,
    second_order_step,
)

TINY = darts.DartsConfig(
    dataset="digits",
    epochs=1,
    cells=2,
    nodes=2,
    channels=4,
    search_subset=200,
    batch_size=50,
    retrain_epochs=1,
    retrain_subset=200,
)


@pytest.fixture(scope="module")
def digits() -> data.Dataset:
    return data.load("digits")


def test_ops_are_the_eight_darts_operations_in_order() -> None:
    assert darts.OPS == (
        "none",
        "max_pool_3x3",
        "avg_pool_3x3",
        "skip_connect",
        "sep_conv_3x3",
        "sep_conv_5x5",
        "dil_conv_3x3",
        "dil_conv_5x5",
    )


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_is_the_alpha_weighted_sum_of_the_ops(stride: int) -> None:
    torch.manual_seed(0)
    mixed = MixedOp(4, stride).eval()
    x = torch.randn(3, 4, 7, 7)
    weights = torch.softmax(torch.randn(len(darts.OPS)), dim=0)
    expected = sum(w * op(x) for w, op in zip(weights, mixed.ops, strict=True))
    out = mixed(x, weights)
    assert out.shape == (3, 4, 4, 4) if stride == 2 else (3, 4, 7, 7)
    torch.testing.assert_close(out, expected)
    one_hot = torch.zeros(len(darts.OPS))
    one_hot[darts.OPS.index("sep_conv_3x3")] = 1.0
    torch.testing.assert_close(mixed(x, one_hot), mixed.ops[darts.OPS.index("sep_conv_3x3")](x))


def test_mixed_op_skips_none_yet_its_gradients_equal_the_full_sum() -> None:
    torch.manual_seed(0)
    mixed = MixedOp(4, 1).train()
    x = torch.randn(3, 4, 7, 7)
    alpha = torch.randn(len(darts.OPS), requires_grad=True)
    grads = []
    for forward in (
        lambda w: mixed(x, w),
        lambda w: sum(wi * op(x) for wi, op in zip(w, mixed.ops, strict=True)),  # "none" included
    ):
        alpha.grad = None
        mixed.zero_grad()
        (forward(torch.softmax(alpha, dim=0)) ** 2).sum().backward()
        grads.append([alpha.grad.clone(), *(p.grad.clone() for p in mixed.parameters())])
    assert grads[0][0][darts.OPS.index("none")] != 0  # its alpha still learns, through the softmax
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want)


def test_partial_channels_mix_a_quarter_and_shuffle_the_rest_through() -> None:
    torch.manual_seed(0)
    mixed = MixedOp(8, 1, partial=4).eval()
    x = torch.randn(2, 8, 5, 5)
    weights = torch.softmax(torch.randn(len(darts.OPS)), dim=0)
    out = mixed(x, weights)
    part = sum(w * op(x[:, :2]) for w, op in zip(weights, mixed.ops, strict=True))
    torch.testing.assert_close(out, channel_shuffle(torch.cat([part, x[:, 2:]], dim=1), 4))  # type: ignore[list-item]
    # the shuffle interleaves: channel 1 of the output is the first bypassed channel (input channel 2)
    torch.testing.assert_close(out[:, 1], x[:, 2])
    assert mixed.ops[darts.OPS.index("sep_conv_3x3")][0][1].in_channels == 2  # ops see C/K channels
    with pytest.raises(ValueError, match="divide"):
        MixedOp(6, 1, partial=4)


def _rows(nodes: int) -> list[list[float]]:
    return [[0.0] * len(darts.OPS) for _ in range(edge_count(nodes))]


def test_derive_takes_the_top_two_edges_by_their_strongest_op_but_none() -> None:
    rows = _rows(2)  # edges: c0->n0, c1->n0, c0->n1, c1->n1, n0->n1
    rows[0][darts.OPS.index("sep_conv_3x3")] = 0.5
    rows[1][darts.OPS.index("none")] = 0.9  # "none" never counts: this edge's best real op is 0.2
    rows[1][darts.OPS.index("max_pool_3x3")] = 0.2
    rows[2][darts.OPS.index("dil_conv_5x5")] = 0.3
    rows[3][darts.OPS.index("skip_connect")] = 0.1
    rows[4][darts.OPS.index("avg_pool_3x3")] = 0.6
    assert darts.derive(rows, 2) == (
        ("sep_conv_3x3", 0),
        ("max_pool_3x3", 1),
        ("dil_conv_5x5", 0),
        ("avg_pool_3x3", 2),
    )
    assert darts.derive(torch.tensor(rows), 2) == darts.derive(rows, 2)  # tensors too
    with pytest.raises(ValueError, match="edges"):
        darts.derive(rows[:-1], 2)


def test_cap_skips_keeps_the_two_strongest_skips_and_rederives_the_rest() -> None:
    rows = _rows(3)  # 9 edges; nodes 0, 1, 2 each pick a strong skip
    skip, sep = darts.OPS.index("skip_connect"), darts.OPS.index("sep_conv_3x3")
    rows[0][skip], rows[1][sep] = 0.9, 0.4  # node 0: skip 0.9 from c0, sep from c1
    rows[2][skip], rows[3][sep] = 0.8, 0.5  # node 1: skip 0.8 from c0, sep from c1
    rows[5][skip], rows[6][sep], rows[7][sep] = 0.7, 0.45, 0.35  # node 2: skip 0.7 from c0, seps next
    rows[5][darts.OPS.index("dil_conv_3x3")] = 0.2
    free = darts.derive(rows, 3)
    assert sum(op == "skip_connect" for op, _ in free) == 3
    capped = darts.derive(rows, 3, cap_skips=2)
    assert sum(op == "skip_connect" for op, _ in capped) == 2
    assert capped[:4] == free[:4]  # the two strongest skips stay
    # node 2's skip (the weakest) is struck: its edge now competes with its next op (0.2 < 0.35)
    assert capped[4:] == (("sep_conv_3x3", 1), ("sep_conv_3x3", 2))
    assert darts.derive(rows, 3, cap_skips=0).count(("skip_connect", 0)) == 0


def test_genotype_round_trips_and_refuses_bad_cells() -> None:
    g = darts.random_genotype(3, seed=4)
    assert darts.Genotype.from_dict(g.to_dict()) == g
    assert g == darts.random_genotype(3, seed=4) and g != darts.random_genotype(3, seed=5)
    assert g.skip_count() == sum(op == "skip_connect" for op, _ in g.normal)
    for bad in (
        {"normal": [["none", 0], ["skip_connect", 1]], "reduce": [["skip_connect", 0], ["skip_connect", 1]]},
        {
            "normal": [["skip_connect", 0], ["skip_connect", 2]],
            "reduce": [["skip_connect", 0], ["skip_connect", 1]],
        },
    ):
        with pytest.raises(ValueError):
            darts.Genotype.from_dict(bad)


def test_random_genotypes_take_two_distinct_inputs_per_node_and_no_none() -> None:
    for seed in range(20):
        g = darts.random_genotype(4, seed)
        for gene in (g.normal, g.reduce):
            assert len(gene) == 8
            for k in range(0, 8, 2):
                (op_a, a), (op_b, b) = gene[k], gene[k + 1]
                assert a < b < 2 + k // 2 and "none" not in (op_a, op_b)


def test_edge_labels_name_every_edge_node_by_node() -> None:
    assert darts.edge_labels(2) == [
        "c[k-2] -> n0",
        "c[k-1] -> n0",
        "c[k-2] -> n1",
        "c[k-1] -> n1",
        "n0 -> n1",
    ]
    assert len(darts.edge_labels(4)) == edge_count(4) == 14


def test_reduction_cells_sit_at_a_third_and_two_thirds() -> None:
    assert reduction_cells(5) == {1, 3} and reduction_cells(8) == {2, 5}
    assert reduction_cells(2) == {1} and reduction_cells(1) == set()


def test_a_genotype_network_runs_and_has_the_hand_counted_parameters() -> None:
    g = darts.Genotype(
        normal=(("sep_conv_3x3", 0), ("skip_connect", 1)), reduce=(("max_pool_3x3", 0), ("skip_connect", 1))
    )
    net = darts.build_network(g, (1, 8, 8), 10, channels=2, cells=1)
    assert net(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    stem = 1 * 6 * 9 + 2 * 6  # 3x3 conv to 3C = 6 channels (no bias), BN scale and shift
    pre = 2 * (6 * 2 + 2 * 2)  # two 1x1 convs 6 -> C = 2 with BN
    sep = 2 * (2 * 9 + 2 * 2 + 2 * 2)  # two (depthwise 3x3, pointwise 1x1, BN) on 2 channels
    head = 2 * 10 + 10  # one node x C channels -> 10 classes
    assert sum(p.numel() for p in net.parameters()) == stem + pre + sep + head == 180
    # with a reduction cell (2 cells: the second reduces): shapes halve and the channels double
    deeper = darts.build_network(darts.random_genotype(3, 1), (1, 28, 28), 10, channels=4, cells=3)
    assert deeper(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_a_genotype_network_file_round_trips_through_its_metadata(tmp_path: Path) -> None:
    g = darts.random_genotype(2, seed=3)
    net = darts.build_network(g, (1, 8, 8), 10, channels=4, cells=3)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.01 * torch.randn_like(p))  # not the seeded init: the weights must come from the file
    path = tmp_path / "net.cla"
    model_file.save(net, path)
    back = model_file.load(path)
    x = torch.randn(4, 1, 8, 8)
    torch.testing.assert_close(back(x), net(x))
    assert back._cla_meta["darts"]["genotype"] == g.to_dict()  # type: ignore[index]


def test_one_first_order_step_moves_the_alphas_and_not_the_weights(digits: data.Dataset) -> None:
    torch.manual_seed(0)
    net = SearchNetwork(digits.input_shape, 10, channels=4, cells=2, nodes=2).train()
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=3e-3)
    before = [p.detach().clone() for p in net.arch_parameters()[:2]]
    weights = [p.detach().clone() for p in net.weight_parameters()]
    first_order_step(net, a_opt, digits.x_train[:32], digits.y_train[:32])
    for b, p in zip(before, net.arch_parameters()[:2], strict=True):
        assert not torch.equal(b, p)
    for w, p in zip(weights, net.weight_parameters(), strict=True):
        assert torch.equal(w, p)


def test_the_second_order_step_restores_the_weights_and_differs_from_first_order(
    digits: data.Dataset,
) -> None:
    x, y = digits.x_train[:32], digits.y_train[:32]
    xv, yv = digits.x_train[32:64], digits.y_train[32:64]

    def step(order: int) -> list[torch.Tensor]:
        torch.manual_seed(0)
        net = SearchNetwork(digits.input_shape, 10, channels=4, cells=2, nodes=2, partial=2).train()
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.5, momentum=0.9)
        a_opt = torch.optim.SGD(net.arch_parameters(), lr=1.0)
        weights = [p.detach().clone() for p in net.weight_parameters()]
        arch = [p.detach().clone() for p in net.arch_parameters()]
        if order == 2:
            second_order_step(net, a_opt, w_opt, (x, y), xv, yv)
        else:
            first_order_step(net, a_opt, xv, yv)
        for w, p in zip(weights, net.weight_parameters(), strict=True):
            assert torch.equal(w, p)
        return [p.detach() - a for p, a in zip(net.arch_parameters(), arch, strict=True)]

    first, second = step(1), step(2)
    assert all(float(d.abs().max()) > 0 for d in second)  # alphas and betas move
    assert any(not torch.allclose(a, b) for a, b in zip(first, second, strict=True))


def test_a_search_on_digits_moves_the_alphas_and_reports_each_epoch(digits: data.Dataset) -> None:
    seen: list[darts.EpochRecord] = []
    fractions: list[float] = []
    cfg = dataclasses.replace(TINY, epochs=2, partial_channels=2, arch_lr=0.05)
    result = darts.search(
        cfg, digits, on_epoch=seen.append, progress=lambda f, m: fractions.append(f), device="cpu"
    )
    assert [r.epoch for r in result.records] == [1, 2] and seen == result.records
    assert result.device == "cpu" and result.stopped_at is None and fractions[-1] == pytest.approx(1.0)
    last = result.records[-1]
    assert len(last.alphas_normal) == edge_count(2) and len(last.alphas_normal[0]) == len(darts.OPS)
    assert all(sum(row) == pytest.approx(1.0) for row in last.alphas_normal)
    spread = max(max(row) - min(row) for row in last.alphas_reduce + last.alphas_normal)
    assert spread > 0.01  # from ~uniform (1e-3 noise) to distinct op weights
    assert 0.0 <= last.train_acc <= 1.0 and 0.0 <= last.val_acc <= 1.0
    assert result.genotype == last.genotype and last.skips == last.genotype.skip_count()  # no cure, no cap


def test_a_search_is_cancelled_by_should_stop(digits: data.Dataset) -> None:
    from compression.train import Cancelled

    with pytest.raises(Cancelled):
        darts.search(TINY, digits, should_stop=lambda: True)


def _record(epoch: int, skips: int, genotype: darts.Genotype, stopped: bool = False) -> darts.EpochRecord:
    return darts.EpochRecord(epoch, [], [], 0.5, 0.5, skips, genotype, 1.0, stopped)


def test_early_stop_fires_above_two_skips_and_keeps_the_genotype_before() -> None:
    stop = dataclasses.replace(TINY, cure="early-stop")
    assert not early_stop_fires(stop, 2) and early_stop_fires(stop, 3)
    assert not early_stop_fires(TINY, 5) and not early_stop_fires(
        dataclasses.replace(TINY, cure="cap-skips"), 5
    )
    g1, g2, g3 = (darts.random_genotype(2, s) for s in range(3))
    records = [_record(1, 0, g1), _record(2, 2, g2), _record(3, 3, g3, stopped=True)]
    assert final_genotype(records) == g2
    assert final_genotype(records[:2]) == g2
    assert final_genotype([_record(1, 3, g3, stopped=True)]) == g3


def test_config_validation_refuses_what_cannot_run() -> None:
    for bad in (
        {"order": 3},
        {"cure": "magic"},
        {"partial_channels": 3},
        {"epochs": 0},
        {"lr": 0.0},
        {"arch_lr": -1.0},
        {"selection": "magnitude"},
        {"warmup_epochs": TINY.epochs},  # alpha would never move
        {"retrain_lr": float("nan")},
    ):
        with pytest.raises(ValueError):
            dataclasses.replace(TINY, **bad).validate()
    dataclasses.replace(TINY, warmup_epochs=TINY.epochs - 1).validate()


def test_the_target_preset_is_the_recorded_target_search() -> None:
    """TARGET (the page's target link, the CLI's --preset target) is the configuration every recorded
    batched target search ran with (bench/results/darts.json), the seed aside."""
    recorded = json.loads((Path(__file__).parents[2] / "bench/results/darts.json").read_text())
    keys = [k for k in recorded if k.startswith("search_w4_s") and k.endswith("_e15_batched")]
    assert len(keys) >= 3
    target = {k: v for k, v in dataclasses.asdict(darts.TARGET).items() if k != "seed"}
    for key in keys:
        assert {k: v for k, v in recorded[key]["config"].items() if k != "seed"} == target, key
    darts.TARGET.validate()


def test_retrain_returns_a_trained_cpu_network_and_darts_is_a_registered_technique(
    digits: data.Dataset,
) -> None:
    g = darts.random_genotype(2, 0)
    untrained = darts.build_network(g, digits.input_shape, 10, channels=4, cells=2)
    model = darts.retrain(
        g,
        dataclasses.replace(
            TINY, retrain_epochs=2, retrain_subset=400, retrain_lr=3e-2, retrain_batch_size=32
        ),
        digits,
        device="cpu",
    )
    assert not model.training and next(model.parameters()).device.type == "cpu"
    assert not torch.equal(model.classifier.weight, untrained.classifier.weight)  # type: ignore[union-attr]
    acc = float((model(digits.x_test).argmax(1) == digits.y_test).float().mean())
    assert acc > 0.4  # 2 epochs on 400 digits, far above 10% chance
    cfg = techniques.from_dict(techniques.to_dict(TINY))
    assert cfg == TINY and techniques.REGISTRY["darts"].family == "search"


def test_build_op_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="Unknown DARTS operation"):
        build_op("conv_7x7", 4, 1)


def test_op_costs_are_each_ops_weights_as_a_share_of_the_largest_and_leave_the_seed_alone() -> None:
    op_costs.cache_clear()
    torch.manual_seed(0)
    expected_draw = torch.rand(3)
    torch.manual_seed(0)
    costs = dict(zip(darts.OPS, op_costs(12).tolist(), strict=True))
    assert torch.equal(torch.rand(3), expected_draw)  # building the ops to count them drew nothing seen
    assert all(costs[op] == 0 for op in ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect"))
    assert costs["sep_conv_5x5"] == 1.0
    counts = {op: sum(p.numel() for p in build_op(op, 12, 1).parameters()) for op in darts.OPS}
    assert costs["dil_conv_3x3"] == pytest.approx(counts["dil_conv_3x3"] / counts["sep_conv_5x5"])
    assert costs["sep_conv_3x3"] > costs["dil_conv_5x5"] > costs["dil_conv_3x3"] > 0


@pytest.mark.parametrize("order", [1, 2])
def test_a_size_penalty_moves_the_alphas_towards_cheaper_ops(digits: data.Dataset, order: int) -> None:
    x, y = digits.x_train[:32], digits.y_train[:32]
    xv, yv = digits.x_train[32:64], digits.y_train[32:64]

    def cost_after(penalty: float) -> float:
        torch.manual_seed(0)
        net = SearchNetwork(digits.input_shape, 10, channels=4, cells=2, nodes=2).train()
        uniform = float(net.expected_cost().detach())
        assert uniform == pytest.approx(float(op_costs().mean()), rel=1e-2)  # near-zero alphas: the mean
        w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.1, momentum=0.9)
        a_opt = torch.optim.SGD(net.arch_parameters(), lr=1.0)
        for _ in range(3):
            if order == 2:
                second_order_step(net, a_opt, w_opt, (x, y), xv, yv, penalty)
            else:
                first_order_step(net, a_opt, xv, yv, penalty)
        return float(net.expected_cost().detach())

    assert cost_after(10.0) < cost_after(0.0) - 0.01


@pytest.mark.parametrize("bad", [-0.1, float("nan"), 11.0])
def test_the_size_penalty_is_checked(bad: float) -> None:
    with pytest.raises(ValueError, match="size penalty"):
        dataclasses.replace(TINY, size_penalty=bad).validate()


def test_the_pages_start_search_on_digits_retrains_near_lenet5(digits: data.Dataset) -> None:
    """The DARTS page's starting settings on digits, searched and retrained end to end: the derived network
    lands near the shipped LeNet-5 (98 %). With 5 retraining epochs (the start before) it reached 70 %."""
    from compression import metrics
    from ui.darts import DEFAULTS

    torch.set_num_threads(1)  # deterministic, as the page's job
    ds = digits
    cfg = darts.DartsConfig(
        dataset="digits",
        epochs=DEFAULTS["epochs"],
        cells=DEFAULTS["cells"],
        nodes=DEFAULTS["nodes"],
        channels=DEFAULTS["ch"],
        search_subset=DEFAULTS["imgs"],
        arch_lr=float(DEFAULTS["alr"]),
        lr=float(DEFAULTS["wlr"]),
        retrain_epochs=darts.start_retrain_epochs("digits"),
    )
    _, model = darts.search_and_retrain(cfg, ds)
    assert metrics.evaluate(model, ds.x_test, ds.y_test)[0] > 0.95
