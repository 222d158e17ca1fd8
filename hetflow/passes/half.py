"""fp16 rewrite: the float32 ops an fp16 engine runs (convolution with its batch norm, ReLU, sum, max pool) computed
in float16, with explicit casts at the boundaries.

``hf.compile(..., precision="fp16")`` applies it, so float16 is never chosen silently. Weights and biases become
float16 constants (a following constant ``batch_norm`` folded into the convolution first, in float64); every
float32 input of a rewritten op is cast to float16 once; a float32 user of a rewritten op's output reads a cast
back. The IR's float16 semantics (``ir/ops/nn.py``: convolutions accumulate in float32 and round to float16 once)
are the stated rule the NVDLA's fp16 engine models follow. ``HalfReport`` lists what was converted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hetflow.ir import Graph, Node, Value
from hetflow.passes.affine import batch_norm_affine
from hetflow.passes.rewrite import RewriteState

HALF = "float16"


@dataclass
class HalfReport:
    """Which nodes now compute in float16."""

    converted: list[str] = field(default_factory=list)

    def format(self) -> str:
        return (f"fp16: {len(self.converted)} node(s) computed in float16 (float32 accumulation, rounded to float16 "
                f"once per op): {', '.join(self.converted)}")


@dataclass
class _State(RewriteState):
    graph: Graph
    users: dict[int, list[Node]]
    outputs: set[int]
    report: HalfReport
    half: dict[int, Value] = field(default_factory=dict)  # float32 value -> its float16 form
    emitted: list[Node] = field(default_factory=list)

    def halved(self, v: Value) -> Value:
        """The float16 form of float32 ``v``: a constant converted, or a cast emitted once."""
        if v.const is not None:
            return self.graph.constant(np.asarray(v.const).astype(np.float16), f"{v.name}_f16")
        if id(v) not in self.half:
            self.half[id(v)] = self.emit("cast", [v], f"{v.name}/to_f16", to=HALF)
        return self.half[id(v)]

    def publish(self, nodes: list[Node], out: Value, h: Value) -> None:
        """``h`` (float16) now computes ``out``: float32 users read a cast of it; half users read ``h`` itself."""
        back = self.emit("cast", [h], f"{out.name}/to_f32", to="float32")
        self.graph.replace_uses(out, back)
        if id(out) in self.outputs:  # a graph output keeps its name
            self.graph.rename(out, f"{out.name}/f32")
            self.graph.rename(back, out.name.removesuffix("/f32"))
        self.half[id(back)] = h
        self.report.converted.extend(n.name for n in nodes)


def _float32(v: Value | None) -> bool:
    return v is not None and v.type.dtype.value == "float32" and v.type.is_static


def _conv(st: _State, node: Node) -> list[Node] | None:
    x, w = node.inputs[0], node.inputs[1]
    b = node.inputs[2] if len(node.inputs) > 2 else None
    if not _float32(x) or w is None or w.const is None or (b is not None and b.const is None):
        return None
    weight = np.asarray(w.const, np.float64)
    bias = np.zeros(weight.shape[0]) if b is None else np.asarray(b.const, np.float64).reshape(-1)
    group, out = [node], node.outputs[0]
    bn = st.only_user(out, "batch_norm")
    affine = batch_norm_affine(bn) if bn is not None else None
    if affine is not None:  # folded in float64, rounded to float16 once
        weight = weight * affine[0].reshape((-1,) + (1,) * (weight.ndim - 1))
        bias = bias * affine[0] + affine[1]
        group.append(bn)  # type: ignore[arg-type]
        out = bn.outputs[0]  # type: ignore[union-attr]
    g = st.graph
    h = st.emit("conv", [st.halved(x), g.constant(weight.astype(np.float16), f"{node.name}_w_f16"),  # type: ignore[arg-type]
                         g.constant(bias.astype(np.float16), f"{node.name}_b_f16")], f"{node.name}/f16", **node.attrs)
    st.publish(group, out, h)
    return group


def _same(st: _State, node: Node) -> list[Node] | None:
    """An op whose float16 form is the same op on float16 operands (ReLU, a sum of equal shapes, max pool)."""
    live = [v for v in node.inputs if v is not None and not v.is_const]
    if not live or not all(_float32(v) for v in live) or len(node.outputs) != 1:
        return None
    if node.op == "add" and (len(live) != 2 or live[0].type.shape != live[1].type.shape):
        return None
    if node.op == "max_pool" and node.attrs.get("with_indices"):
        return None
    h = st.emit(node.op, [st.halved(v) for v in node.inputs], f"{node.name}/f16", **node.attrs)  # type: ignore[arg-type]
    st.publish([node], node.outputs[0], h)
    return [node]


REWRITES: dict[str, Callable[[_State, Node], list[Node] | None]] = {
    "conv": _conv, "relu": _same, "add": _same, "max_pool": _same,
}
"""Which float32 ops get a float16 form (those NVDLA's fp16 pipeline runs: CONV with its SDP, SDP, PDP)."""


def to_half(graph: Graph) -> tuple[Graph, HalfReport]:
    """A copy of ``graph`` with its ``REWRITES`` ops in float16, casts at the boundaries."""
    g = graph.copy()
    st = _State(g, g.users(), {id(v) for v in g.outputs}, HalfReport())
    st.rewrite_nodes(lambda node: REWRITES.get(node.op))
    return g, st.report


__all__ = ["HalfReport", "REWRITES", "to_half"]
