"""Graph surgery every layer needs: cutting out a standalone subgraph, and specializing symbolic input shapes."""

from __future__ import annotations

from collections.abc import Sequence

from hetflow.ir.errors import HetflowError, InputError
from hetflow.ir.graph import Graph, Node, Value
from hetflow.ir.registry import get_op
from hetflow.ir.types import TensorType


def extract(graph: Graph, nodes: list[Node], escaping: set[int], name: str) -> Graph:
    """A standalone graph of ``nodes``: values made elsewhere become inputs, ``escaping`` values (by id) outputs."""
    sub = Graph(name)
    inside = {id(n) for n in nodes}
    vmap: dict[int, Value] = {}

    def value(v: Value) -> Value:
        if id(v) not in vmap:
            vmap[id(v)] = Value(v.name, v.type, None, v.const)
            if not v.is_const and (v.producer is None or id(v.producer) not in inside):
                sub.inputs.append(vmap[id(v)])
        return vmap[id(v)]

    for node in nodes:
        copy = Node(node.op, [None if v is None else value(v) for v in node.inputs], [], dict(node.attrs), node.name,
                    node.region)
        for o in node.outputs:
            out = value(o)
            out.producer = copy
            copy.outputs.append(out)
            if id(o) in escaping:
                sub.outputs.append(out)
        sub.nodes.append(copy)
    sub.regions = dict(graph.regions)
    sub._names = {v.name for v in vmap.values()} | {n.name for n in sub.nodes}
    return sub


def escaping_values(graph: Graph, nodes: list[Node]) -> set[int]:
    """The ids of values made by ``nodes`` that the graph outputs or a node outside ``nodes`` reads."""
    inside = {id(n) for n in nodes}
    users = graph.users()
    finals = {id(v) for v in graph.outputs}
    return {id(o) for n in nodes for o in n.outputs
            if id(o) in finals or any(id(u) not in inside for u in users.get(id(o), []))}


def specialize(graph: Graph, shapes: Sequence[tuple[int, ...]]) -> Graph:
    """A copy of ``graph`` with concrete input shapes (in input order) and every node's output type re-inferred.

    Shapes an op cannot take are the caller's input error, named by node.
    """
    g = graph.copy()
    for v, shape in zip(g.inputs, shapes):
        v.type = TensorType(v.type.dtype, tuple(shape))
    for node in g.nodes:
        try:
            types = get_op(node.op).infer_types(node)
        except HetflowError:
            raise
        except Exception as exc:  # noqa: BLE001 - an op's inference failing on these shapes is the user's error
            raise InputError(f"node {node.name!r} ({node.op}): shapes do not fit: {exc}") from None
        for out, t in zip(node.outputs, types):
            out.type = t
    return g
