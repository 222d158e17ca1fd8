import numpy as np
import pytest

from hetflow.ir import Graph, IRError, format_graph, get_op, verify
from hetflow.ir.registry import OpDef, register


def _mlp() -> Graph:
    g = Graph("mlp")
    x = g.add_input("x", "float32", ("N", 4))
    w = g.constant(np.ones((4, 3), np.float32), "w")
    h = g.add_node("matmul", [x, w]).outputs[0]
    y = g.add_node("relu", [h]).outputs[0]
    g.outputs = [y]
    return g


def test_shape_inference_keeps_symbolic_batch():
    g = _mlp()
    assert str(g.outputs[0].type) == "float32[N,3]"
    verify(g)


def test_printer_shows_ops_and_types():
    text = format_graph(_mlp())
    assert "matmul(%x, %w)" in text and "float32[N,3]" in text


def test_registering_an_op_twice_raises():
    relu = get_op("relu")
    with pytest.raises(IRError, match="registered twice"):
        register(OpDef("relu", "elementwise", relu.compute, relu.infer))


def test_unknown_attribute_is_named():
    g = Graph()
    x = g.add_input("x", "float32", (2,))
    with pytest.raises(IRError, match="no attribute"):
        g.add_node("relu", [x], {"alpha": 1.0})


def test_verifier_catches_use_before_def():
    g = _mlp()
    g.nodes.reverse()
    with pytest.raises(IRError, match="used before"):
        verify(g)
    g.toposort()
    verify(g)


def test_flops_and_bytes():
    g = _mlp()
    mm = g.nodes[0]
    assert get_op("matmul").flop_count(mm) == 2 * 3 * 4
    read, written = get_op("matmul").bytes_moved(mm)
    assert read == 4 * 4 + 12 * 4 and written == 3 * 4  # symbolic N counted per sample
