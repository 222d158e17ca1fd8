"""``specialize``: concrete input shapes bind the graph's symbols in the types re-inference cannot size."""

from __future__ import annotations

import numpy as np

from hetflow.ir import Graph
from hetflow.ir.subgraph import bound_dim, specialize


def test_bound_dim_evaluates_the_expressions_types_write() -> None:
    binding = {"N": 3, "H": 7}
    assert [bound_dim(d, binding) for d in (5, "N", "N*8", "(H+1)//2", "N-H+4", "M", "N*M")] == \
        [5, 3, 24, 4, 0, "M", "N*M"]
    assert bound_dim("N-H", binding) == "N-H"  # a negative size is no size: the symbol stays
    assert bound_dim("__import__('os')", binding) == "__import__('os')"  # only arithmetic is evaluated


def test_specialize_keeps_the_importers_knowledge_where_reinference_has_none() -> None:
    """A ConstantOfShape sized from ``x``'s shape was typed ``[N,4]`` at import; re-inferred it has fresh symbols.
    At batch 1 it is ``[1,4]``, and the add of ``x`` with it is static too (not ``[h0,4]`` by broadcasting)."""
    g = Graph("zero_state")
    x = g.add_input("x", "float32", ("N", 4))
    n = g.add_node("slice", [g.add_node("shape", [x], {"start": 0, "end": None}).outputs[0]],
                   {"starts": (0,), "ends": (1,), "axes": (0,), "steps": (1,)}).outputs[0]
    shape = g.add_node("concat", [n, g.constant(np.array([4], np.int64), "width")], {"axis": 0}).outputs[0]
    h = g.add_node("constant_of_shape", [shape], {"value": 0.0, "dtype": "float32"}).outputs[0]
    h.type = h.type.with_shape(("N", 4))  # what the importer's shape-value tracking gives it
    g.outputs.append(g.add_node("add", [x, h]).outputs[0])
    for batch in (1, 4):
        s = specialize(g, [(batch, 4)])
        assert [v.type.shape for v in s.nodes[-2].outputs + s.outputs] == [(batch, 4), (batch, 4)]
    assert h.type.shape == ("N", 4)  # the graph itself is untouched
