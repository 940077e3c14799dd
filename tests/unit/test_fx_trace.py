"""Static INT8 quantization traces its model with torch.fx; a model another thread runs meanwhile must
run as if nothing were traced (another visitor's page, a background job of the same server)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import torch
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization import quantize_fx as torch_fx

from compression.quantization import int8
from compression.quantization.fx_trace import prepare_fx


class _Rendezvous(nn.Module):
    """Inside a trace, waits while another thread runs its own model: the calls certainly overlap."""

    def __init__(self, during_trace: threading.Event, other_done: threading.Event) -> None:
        super().__init__()
        self.during_trace, self.other_done = during_trace, other_done

    def __deepcopy__(self, memo: dict[int, object]) -> _Rendezvous:  # quantize clones its input
        return _Rendezvous(self.during_trace, self.other_done)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.fx._symbolic_trace.is_fx_symbolic_tracing():
            self.during_trace.set()
            assert self.other_done.wait(30), "the other thread never ran"
        return x


def _traced_model(during: threading.Event, done: threading.Event) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), _Rendezvous(during, done), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    ).eval()


def _run_beside_a_trace(trace: Callable[[nn.Module], object]) -> object:
    """Trace a model with `trace`; while it traces, another thread runs its own model. Returns what the
    trace returned, after checking that the other thread's model gave its usual output."""
    torch.manual_seed(0)
    during, done = threading.Event(), threading.Event()
    other = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 5)).eval()
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        expected = other(x)
    outcome: dict[str, object] = {}

    def visitor() -> None:
        assert during.wait(30)
        try:
            with torch.no_grad():
                outcome["out"] = other(x)
        except Exception as exc:  # on torch's own tracer: NameError, module not installed as a submodule
            outcome["error"] = exc
        finally:
            done.set()

    thread = threading.Thread(target=visitor)
    thread.start()
    result = trace(_traced_model(during, done))
    thread.join(30)
    assert "error" not in outcome, outcome.get("error")
    assert torch.equal(outcome["out"], expected)  # type: ignore[arg-type]
    return result


def test_another_threads_model_runs_unchanged_while_a_model_is_traced() -> None:
    prepared = _run_beside_a_trace(
        lambda m: prepare_fx(m, get_default_qconfig_mapping("x86"), (torch.randn(1, 1, 8, 8),))
    )
    assert any(n.op == "call_module" for n in prepared.graph.nodes)  # type: ignore[attr-defined]


def test_the_same_graph_as_torchs_own_prepare() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3)
    )
    model.eval()
    example = (torch.randn(2, 1, 8, 8),)
    mapping = get_default_qconfig_mapping("x86")
    ours = prepare_fx(int8.train.clone(model), mapping, example)
    theirs = torch_fx.prepare_fx(int8.train.clone(model), mapping, example)
    assert ours.code == theirs.code
    assert (
        torch_fx.QuantizationTracer is not None
        and torch_fx.QuantizationTracer.__name__ == "QuantizationTracer"
    )


def test_static_int8_quantization_runs_beside_another_threads_model() -> None:
    out = _run_beside_a_trace(
        lambda m: int8.quantize(m, int8.Int8PTQ(mode="static", calib_size=4), torch.randn(4, 1, 8, 8))
    )
    assert out(torch.randn(2, 1, 8, 8)).shape == (2, 3)  # type: ignore[operator]
