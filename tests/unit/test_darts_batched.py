"""A search cell computes each node's edges together (batched.py): the same outputs, gradients and
batch-norm statistics as the sum of the edges' own MixedOps (batched.edge_by_edge)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from compression.search.darts import batched
from compression.search.darts.network import SearchNetwork


@pytest.mark.parametrize("partial", [1, 4])
def test_a_batched_search_network_equals_the_edge_by_edge_sum(partial: int) -> None:
    torch.manual_seed(0)
    net = SearchNetwork((1, 16, 16), 10, channels=8, cells=3, nodes=3, partial=partial)  # a reduction cell
    with torch.no_grad():
        for p in net.arch_parameters():
            p.normal_()  # edges and ops weighted unequally
    ref = copy.deepcopy(net)
    for cell in ref.cells:
        cell.forward = lambda *a, cell=cell: batched.edge_by_edge(cell, *a)  # type: ignore[method-assign]
    x, y = torch.randn(16, 1, 16, 16), torch.randint(0, 10, (16,))
    for training in (True, True, False):  # twice in training: the running statistics move per edge
        net.train(training)
        ref.train(training)
        out, want = net(x), ref(x)
        torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)
        grads = torch.autograd.grad(
            nn.functional.cross_entropy(out, y), list(net.parameters()), allow_unused=True
        )
        wanted = torch.autograd.grad(
            nn.functional.cross_entropy(want, y), list(ref.parameters()), allow_unused=True
        )
        for g, h in zip(grads, wanted, strict=True):
            assert (g is None) == (h is None)
            if g is not None:
                torch.testing.assert_close(g, h, rtol=1e-4, atol=1e-6)
        for (name, buf), other in zip(net.named_buffers(), ref.buffers(), strict=True):
            torch.testing.assert_close(buf, other, rtol=1e-5, atol=1e-6, msg=name)
    assert int(net.cells[0].edges[0].ops[1][1].num_batches_tracked) == 2
