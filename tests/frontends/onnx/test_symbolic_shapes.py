"""Shape computations over symbolic dims (what exporters emit for dynamic axes) import without specializing,
and run at several input shapes matching onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_check import run_oracle

import hetflow as hf
from hetflow.ir.types import dim_add, dim_floordiv, dim_mul, dim_sub

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def _const(name: str, values: list[int] | int) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.array(values, np.int64), name))


def _model(nodes: list[onnx.NodeProto], shape: list[int | str]) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "symbolic", [helper.make_tensor_value_info("x", F, shape)],
                              [helper.make_value_info("y", onnx.TypeProto())])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _flatten_batch() -> onnx.ModelProto:
    """torch's x.view(x.size(0), -1): Shape -> Gather(0) -> Unsqueeze -> Concat(-1) -> Reshape."""
    return _model([
        helper.make_node("Shape", ["x"], ["s"]), _const("i0", 0), _const("ax", [0]), _const("m1", [-1]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Concat", ["n1", "m1"], ["t"], axis=0),
        helper.make_node("Reshape", ["x", "t"], ["y"]),
    ], ["N", 3, 4])


def _split_heads() -> onnx.ModelProto:
    """[N, S, 8] -> [N, S*2, 4] with S*2 computed: Slice of the shape, Mul, Concat, Reshape."""
    return _model([
        helper.make_node("Shape", ["x"], ["s"]), _const("z", [0]), _const("one", [1]), _const("two", [2]),
        _const("four", [4]),
        helper.make_node("Slice", ["s", "z", "one"], ["n"]),
        helper.make_node("Slice", ["s", "one", "two"], ["sl"]),
        helper.make_node("Mul", ["sl", "two"], ["s2"]),
        helper.make_node("Concat", ["n", "s2", "four"], ["t"], axis=0),
        helper.make_node("Reshape", ["x", "t"], ["y"]),
    ], ["N", "S", 8])


def _expand_to_input() -> onnx.ModelProto:
    """A row maximum broadcast back to the input's own (symbolic) shape: x - Expand(max(x), Shape(x))."""
    nodes = [helper.make_node("ReduceMax", ["x"], ["m"], axes=[1], keepdims=1),
             helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Expand", ["m", "s"], ["e"]),
             helper.make_node("Sub", ["x", "e"], ["y"])]
    return _model(nodes, ["N", 5])


@pytest.mark.parametrize("build, shapes", [
    (_flatten_batch, [(1, 3, 4), (7, 3, 4)]),
    (_split_heads, [(1, 3, 8), (5, 6, 8)]),
    (_expand_to_input, [(1, 5), (9, 5)]),
], ids=["flatten-batch", "split-heads", "expand-to-input"])
def test_compiles_once_runs_at_two_shapes(build, shapes: list[tuple[int, ...]]) -> None:
    model = build()
    plan = hf.compile(hf.load(model), backend="reference")  # no NeedsConstant: the target is symbolic, not bound
    for i, shape in enumerate(shapes):
        x = np.random.default_rng(i).standard_normal(shape).astype(np.float32)
        np.testing.assert_array_equal(plan.run({"x": x})["y"], run_oracle(model, {"x": x})[0])


def test_reshape_output_type_carries_the_expression() -> None:
    graph = hf.load(_split_heads())
    assert str(graph.outputs[0].type) == "float32[N,S*2,4]"


def test_dim_arithmetic() -> None:
    assert dim_mul("N", 8) == "N*8" and dim_mul(3, 4) == 12 and dim_mul("N", 1) == "N"
    assert dim_floordiv(dim_add("H", 1), 2) == "(H+1)//2" and dim_floordiv("H", 0) is None
    assert dim_sub("N", "N") == 0 and dim_add("N", 0) == "N"


def test_constant_of_shape_from_a_symbolic_shape() -> None:
    """ConstantOfShape(Shape(x)) + x: the filled tensor has x's (symbolic) shape, by name."""
    model = _model([helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ConstantOfShape", ["s"], ["c"]),
                    helper.make_node("Add", ["x", "c"], ["y"])], ["N", 3])
    graph = hf.load(model)
    fill = next(n for n in graph.nodes if n.op == "constant_of_shape").outputs[0]
    assert str(fill.type) == "float32[N,3]"
    plan = hf.compile(graph, backend="reference")
    for n in (2, 6):
        x = np.ones((n, 3), np.float32)
        np.testing.assert_array_equal(plan.run({"x": x})["y"], run_oracle(model, {"x": x})[0])
