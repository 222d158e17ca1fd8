"""Dead-code elimination: drop nodes none of whose outputs reach a graph output."""

from __future__ import annotations

from hetflow.ir import Graph
from hetflow.passes.manager import graph_pass


@graph_pass("dce")
def dead_code_elimination(graph: Graph) -> Graph:
    live = {id(v) for v in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if any(id(o) in live for o in node.outputs):
            kept.append(node)
            live.update(id(v) for v in node.inputs if v is not None)
    graph.nodes = kept[::-1]
    return graph
