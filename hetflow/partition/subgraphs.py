"""Cutting a graph into standalone subgraphs: what the compiler compiles per device and the profiler per node."""

from __future__ import annotations

from hetflow.ir import Graph, Node, Value


def extract(graph: Graph, nodes: list[Node], escaping: set[int], name: str) -> Graph:
    """A standalone graph of ``nodes``: values made elsewhere become inputs, escaping values outputs."""
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
    sub.regions = {k: r for k, r in graph.regions.items()}
    sub._names = {v.name for v in vmap.values()} | {n.name for n in sub.nodes}
    return sub
