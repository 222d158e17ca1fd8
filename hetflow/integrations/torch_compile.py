"""``torch.compile(model, backend="hetflow")``: Dynamo hands each FX graph to hetflow; what it cannot take runs eagerly.

Registered through the ``torch_dynamo_backends`` entry point, so ``import hetflow`` is not needed first.
Options come through ``torch.compile(..., options={...})``: ``backend`` (the host backend, default cpu_c),
``cluster`` and ``objective`` (passed to ``hf.compile``). Each graph is converted for the input shapes it is
called with (Dynamo's guards decide when a new graph arrives; a graph marked dynamic is converted once per
shape it meets). A graph hetflow cannot convert or compile falls back to eager for that graph, with one
logged reason. ``STATS`` counts graphs compiled and fallbacks, with their reasons, for tests and reports.
Inference only: a graph called with gradients required falls back, because hetflow has no autodiff yet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hetflow.api import compile as compile_graph
from hetflow.frontends.torch import from_torch
from hetflow.ir.errors import HetflowError
from hetflow.partition import Plan

_log = logging.getLogger("hetflow.torch_compile")

_COMPILE_OPTIONS = ("backend", "cluster", "objective")


@dataclass
class CompileStats:
    """What the backend did since the last ``reset``: graphs taken by hetflow, and graphs left to eager and why."""

    compiled: int = 0
    fallbacks: int = 0
    reasons: list[str] = field(default_factory=list)

    def reset(self) -> None:
        self.compiled, self.fallbacks, self.reasons = 0, 0, []

    def fall_back(self, graph: str, reason: str) -> None:
        self.fallbacks += 1
        self.reasons.append(f"{graph}: {reason}")
        _log.warning("hetflow: graph %s runs eagerly: %s", graph, reason)


STATS = CompileStats()


def hetflow_backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], *, options: dict[str, Any] | None = None,
                    **_: Any) -> Callable[..., Any]:
    """The Dynamo backend: a callable running ``gm`` through hetflow, or ``gm.forward`` when hetflow cannot."""
    opts = dict(options or {})
    unknown = set(opts) - set(_COMPILE_OPTIONS)
    if unknown:
        raise HetflowError(f"torch.compile(backend='hetflow'): unknown option(s) {sorted(unknown)}; "
                           f"expected {', '.join(_COMPILE_OPTIONS)}")
    name = f"graph{STATS.compiled + STATS.fallbacks}"
    graph = _HetflowGraph(gm, name, opts)
    try:
        graph.prepare(list(example_inputs))
    except _FallBack as exc:
        STATS.fall_back(name, str(exc))
        return gm.forward
    STATS.compiled += 1
    return graph


class _FallBack(Exception):
    """This graph (or this input signature) runs eagerly; the message says why."""


class _Bound(torch.nn.Module):
    """``gm`` with its parameters and buffers held as module state, so export makes them constants."""

    def __init__(self, gm: torch.fx.GraphModule, state: dict[int, torch.Tensor], arity: int) -> None:
        super().__init__()
        self.gm = gm
        self.slots = sorted(state)
        self.arity = arity
        for i in self.slots:
            self.register_buffer(f"state_{i}", state[i].detach())

    def forward(self, *user: Any) -> Any:
        args, it = [], iter(user)
        for i in range(self.arity):
            args.append(getattr(self, f"state_{i}") if i in self.slots else next(it))
        return self.gm(*args)


class _HetflowGraph:
    """One Dynamo graph: a hetflow Plan per input signature, or eager for signatures hetflow refused."""

    def __init__(self, gm: torch.fx.GraphModule, name: str, options: dict[str, Any]) -> None:
        self.gm, self.name, self.options = gm, name, options
        self.plans: dict[tuple, tuple[Plan, list[int], list[str]] | None] = {}

    def prepare(self, inputs: list[Any]) -> None:
        if any(isinstance(x, torch.SymInt) for x in inputs):
            return  # a dynamic graph: converted on first call, per concrete shape
        self.plan_for(inputs, first=True)

    def plan_for(self, inputs: list[Any], first: bool = False) -> tuple[Plan, list[int], list[str]] | None:
        key = _signature(inputs)
        if key in self.plans:
            return self.plans[key]
        try:
            entry = self.convert(inputs)
        except _FallBack:
            if first:
                raise
            entry = None
        except HetflowError as exc:
            if first:
                raise _FallBack(str(exc)) from None
            STATS.fall_back(f"{self.name}{list(key)}", str(exc))
            entry = None
        self.plans[key] = entry
        return entry

    def convert(self, inputs: list[Any]) -> tuple[Plan, list[int], list[str]]:
        if torch.is_grad_enabled() and any(isinstance(x, torch.Tensor) and x.requires_grad for x in inputs):
            raise _FallBack("training graphs (gradients required) are not supported yet; use torch.no_grad() for inference")
        state = {i: x for i, x in enumerate(inputs) if _is_state(self.gm, i, x)}
        user = [i for i in range(len(inputs)) if i not in state]
        if any(not isinstance(inputs[i], torch.Tensor) for i in user):
            raise _FallBack("non-tensor graph inputs are not supported")
        module = _Bound(self.gm, state, len(inputs))
        graph = from_torch(module, tuple(inputs[i] for i in user), dynamic_batch=False)
        plan = compile_graph(graph, self.options.get("cluster"),
                             **{k: v for k, v in self.options.items() if k != "cluster"})
        return plan, user, [v.name for v in graph.inputs]

    def __call__(self, *inputs: Any) -> Any:
        entry = self.plan_for(list(inputs))
        if entry is None:
            return self.gm.forward(*inputs)
        plan, user, names = entry
        feeds = {name: inputs[i].detach().cpu().numpy() for name, i in zip(names, user)}
        outputs = plan.run(feeds)
        return tuple(torch.from_numpy(np.ascontiguousarray(outputs[v.name])) for v in plan.graph.outputs)


def _signature(inputs: Sequence[Any]) -> tuple:
    return tuple((tuple(x.shape), x.dtype) if isinstance(x, torch.Tensor) else x for x in inputs)


def _is_state(gm: torch.fx.GraphModule, index: int, x: Any) -> bool:
    """Whether graph input ``index`` is a parameter or buffer Dynamo lifted (it is baked in as a constant)."""
    if isinstance(x, torch.nn.Parameter):
        return True
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    return index < len(placeholders) and "_buffers_" in placeholders[index].name
