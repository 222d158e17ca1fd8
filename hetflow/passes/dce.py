"""Dead-code elimination: drop nodes none of whose outputs reach a graph output.

Bodies of control-flow nodes are cleaned too, and a captured value no body reads any more stops being
an input of its node (so the outer node computing it can die in turn)."""

from __future__ import annotations

from hetflow.ir import Graph
from hetflow.ir.ops.control import CONTROL_OPS, prune_captures
from hetflow.passes.manager import graph_pass


@graph_pass("dce")
def dead_code_elimination(graph: Graph) -> Graph:
    live = {id(v) for v in graph.outputs}
    kept = []
    for node in reversed(graph.nodes):
        if any(id(o) in live for o in node.outputs):
            for body in node.bodies:
                dead_code_elimination(body)
            if node.op in CONTROL_OPS:
                prune_captures(node)
            kept.append(node)
            live.update(id(v) for v in node.inputs if v is not None)
    graph.nodes = kept[::-1]
    return graph
