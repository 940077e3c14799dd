"""torch.ao's FX graph-mode prepare, safe beside other threads that run models.

While torch.fx traces a model it patches `nn.Module.__call__` and `__getattr__` for the whole
process. A model that another thread runs meanwhile (another visitor's page, a background job)
then enters the tracer and fails with "module is not installed as a submodule" (pytorch#112775;
upstream isolates the patch from other threads only in a later torch, pytorch#187589), and two
traces at once may corrupt each other's graph. Hand-written because this torch has neither: a
tracer that traces only on the thread that started it, and a lock so that one trace runs at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.ao.quantization import quantize_fx
from torch.ao.quantization.fx.tracer import QuantizationTracer

_TRACE_LOCK = threading.Lock()


class OwnThreadTracer(QuantizationTracer):
    """torch.ao's tracer, except that module calls and attribute reads of other threads pass
    through unchanged while it traces."""

    _owner: int | None = None

    def trace(self, root: Any, concrete_args: dict[str, Any] | None = None) -> torch.fx.Graph:
        self._owner = threading.get_ident()
        try:
            return super().trace(root, concrete_args)
        finally:
            self._owner = None

    def _foreign(self) -> bool:
        return threading.get_ident() != self._owner

    def call_module(
        self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._foreign():
            return forward(*args, **kwargs)  # the original nn.Module.__call__
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self._foreign():
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def prepare_fx(model: nn.Module, qconfig_mapping: Any, example_inputs: tuple[Any, ...]) -> nn.Module:
    """`torch.ao.quantization.quantize_fx.prepare_fx`, traced by `OwnThreadTracer`, one at a time."""
    with _TRACE_LOCK:
        original = quantize_fx.QuantizationTracer  # the name its _prepare_fx builds its tracer from
        quantize_fx.QuantizationTracer = OwnThreadTracer  # type: ignore[misc]
        try:
            return quantize_fx.prepare_fx(model, qconfig_mapping, example_inputs)
        finally:
            quantize_fx.QuantizationTracer = original  # type: ignore[misc]
