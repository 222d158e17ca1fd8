"""Constant folding: evaluate nodes whose inputs are all constants, at compile time."""

from __future__ import annotations

import numpy as np

from hetflow.ir import Graph, get_op
from hetflow.ir.types import TensorType
from hetflow.passes.manager import graph_pass

MAX_FOLD_BYTES = 1 << 31
"""Results larger than this stay as nodes (weights built by ConstantOfShape are far smaller)."""


@graph_pass("constant_fold")
def constant_fold(graph: Graph) -> Graph:
    kept = []
    for node in graph.nodes:
        if not all(v is None or v.is_const for v in node.inputs):
            kept.append(node)
            continue
        opdef = get_op(node.op)
        if any(o.type.nbytes is None or o.type.nbytes > MAX_FOLD_BYTES for o in node.outputs):
            kept.append(node)
            continue
        results = opdef.run(node, [None if v is None else v.const for v in node.inputs])
        for out, result in zip(node.outputs, results):
            array = np.asarray(result)
            out.const = array
            out.producer = None
            out.type = TensorType(out.type.dtype, array.shape)
    graph.nodes = kept
    return graph
