"""Common-subexpression elimination: merge nodes with the same op, inputs and attributes."""

from __future__ import annotations

from typing import Any

import numpy as np

from hetflow.ir import Graph, Value
from hetflow.passes.fold import IMPURE_OPS
from hetflow.passes.manager import graph_pass

_SMALL_CONST = 64
"""Constants up to this many elements are merged by value, so that equal scalars dedupe."""

COMMUTATIVE_OPS = frozenset({
    "add", "mul", "max", "min", "equal", "logical_and", "logical_or", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_xor",
})
"""Binary ops whose operands may be swapped: add(a, b) and add(b, a) are one expression."""


def _freeze(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return tuple(_freeze(v) for v in x)
    if isinstance(x, np.ndarray):
        return (x.dtype.str, x.shape, x.tobytes())
    if isinstance(x, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in x.items()))
    if isinstance(x, float):
        return (float, x)  # 1.0 and 1 (or True) are different attributes
    return x


@graph_pass("cse")
def common_subexpression_elimination(graph: Graph) -> Graph:
    """Merge equal small constants, then nodes computing the same pure expression of the same operands."""
    const_key: dict[Any, Value] = {}
    alias: dict[int, Value] = {}

    def canon(v: Value | None) -> Value | None:
        if v is None:
            return None
        v = alias.get(id(v), v)
        if v.const is not None and v.const.size <= _SMALL_CONST and v.const.dtype != object:
            return const_key.setdefault(("const", _freeze(v.const)), v)
        return v

    seen: dict[Any, list[Value]] = {}
    graph_outputs = {id(v) for v in graph.outputs}
    kept = []
    for node in graph.nodes:
        for body in node.bodies:  # each body is its own scope; a body is keyed by identity below
            common_subexpression_elimination(body)
        node.inputs = [canon(v) for v in node.inputs]
        operands = tuple(id(v) for v in node.inputs)
        if node.op in COMMUTATIVE_OPS and len(operands) == 2:
            operands = tuple(sorted(operands))
        key = (node.op, operands, _freeze(node.attrs), len(node.outputs))
        # A node that yields a graph output keeps it, so that output names survive.
        if key in seen and node.op not in IMPURE_OPS and not any(id(o) in graph_outputs for o in node.outputs):
            for old, new in zip(node.outputs, seen[key]):
                alias[id(old)] = new
            continue
        seen.setdefault(key, node.outputs)
        kept.append(node)
    graph.nodes = kept
    return graph
