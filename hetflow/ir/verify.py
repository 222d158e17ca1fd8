"""The verifier: structural invariants every pass must preserve."""

from __future__ import annotations

from hetflow.ir.graph import Graph
from hetflow.ir.registry import IRError, get_op


def verify(graph: Graph) -> None:
    """Raise IRError naming the first broken invariant: order, producers, names, known ops, regions."""
    defined: set[int] = {id(v) for v in graph.inputs}
    names: dict[str, int] = {}
    for v in graph.values():
        if v.name in names and names[v.name] != id(v):
            raise IRError(f"graph {graph.name!r}: two values are named {v.name!r}")
        names[v.name] = id(v)
    for node in graph.nodes:
        get_op(node.op)
        for i, v in enumerate(node.inputs):
            if v is None or v.is_const:
                continue
            if id(v) not in defined:
                raise IRError(f"node {node.name!r} ({node.op}): input {i} %{v.name} is used before it is defined")
        for o in node.outputs:
            if o.producer is not node:
                raise IRError(f"node {node.name!r} ({node.op}): output %{o.name} does not point back to its producer")
            defined.add(id(o))
        if node.region is not None and node.region not in graph.regions:
            raise IRError(f"node {node.name!r} ({node.op}): unknown region {node.region!r}")
        for body in node.bodies:  # closed: a body reads only its own inputs (captures are node inputs)
            try:
                verify(body)
            except IRError as exc:
                raise IRError(f"node {node.name!r} ({node.op}), body {body.name!r}: {exc}") from None
    for v in graph.outputs:
        if id(v) not in defined and not v.is_const:
            raise IRError(f"graph {graph.name!r}: output %{v.name} is never computed")
    for r in graph.regions.values():
        if r.parent is not None and r.parent not in graph.regions:
            raise IRError(f"region {r.name!r}: unknown parent {r.parent!r}")
