"""One case per defect the importer fuzzer (tests/fuzz) found: each once escaped as a Python exception,
hung, or ran to an output of another type than declared. Each now gives one clear HetflowError line, or runs
and matches onnxruntime. The fuzz case that found it is named in the comment."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_check import run_hetflow, run_oracle

import hetflow as hf
from hetflow.ir.errors import HetflowError

F = TensorProto.FLOAT


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[str], *,
           inits: tuple[onnx.TensorProto, ...] = (), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "fuzz_regression", inputs,
                              [helper.make_value_info(o, onnx.TypeProto()) for o in outputs], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _vi(name: str, elem: int, shape: list[Any] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _fails(model: onnx.ModelProto | bytes, match: str, feeds: dict[str, np.ndarray] | None = None) -> None:
    """Import, compile and (with ``feeds``) run: a HetflowError whose one-line message matches ``match``."""
    with pytest.raises(HetflowError, match=match) as info:
        graph = hf.load(model if isinstance(model, bytes) else model.SerializeToString())
        plan = hf.compile(graph, backend="reference")
        if feeds is not None:
            plan.run(feeds)
    assert "\n" not in str(info.value)


def test_negative_input_dim_is_symbolic_and_runs_at_any_size() -> None:
    """Exporters write -1 for "any size"; it was taken literally and no input could be fed (case 45)."""
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F, [-1, 3])], ["y"])
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = -1
    plan = hf.compile(hf.load(model), backend="reference")
    for batch in (1, 5):
        x = np.random.default_rng(batch).standard_normal((batch, 3)).astype(np.float32)
        np.testing.assert_array_equal(plan.run({"x": x})["y"], run_oracle(model, {"x": x})[0])


def test_huge_input_dim_is_refused_before_anything_is_sized() -> None:
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F, [2**40, 3])], ["y"])
    _fails(model, "larger than any tensor")


def test_attribute_tensor_with_short_raw_data() -> None:
    """A Constant whose raw data no longer fits its dims (case 89): numpy's reshape error escaped."""
    value = numpy_helper.from_array(np.zeros(4, np.float32), "v")
    value.raw_data = value.raw_data[:8]
    _fails(_model([helper.make_node("Constant", [], ["y"], value=value)], [], ["y"]), "attribute 'value' cannot be read")


def test_attribute_string_not_utf8() -> None:
    """A flipped byte in a string attribute (case 647): UnicodeDecodeError escaped."""
    node = helper.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest")
    node.attribute[0].s = b"\xff\xfe"
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "s")
    _fails(_model([node], [_vi("x", F, [1, 1, 2, 2])], ["y"], inits=(scales,)), "not UTF-8")


@pytest.mark.parametrize("op, attr, inputs", [
    ("Transpose", helper.make_attribute("perm", 1), [[2, 3]]),  # case 781: 'int' object is not iterable
    ("AveragePool", helper.make_attribute("kernel_shape", 2), [[1, 1, 4, 4]]),  # case 531
    ("LeakyRelu", helper.make_attribute("alpha", "x"), [[2, 3]]),
])
def test_attribute_of_the_wrong_kind(op: str, attr: onnx.AttributeProto, inputs: list[list[int]]) -> None:
    node = helper.make_node(op, ["x"], ["y"])
    node.attribute.append(attr)
    _fails(_model([node], [_vi("x", F, inputs[0])], ["y"]), f"attribute '{attr.name}' is .*, expected")


def test_int_attribute_where_a_float_is_expected_is_widened() -> None:
    node = helper.make_node("LeakyRelu", ["x"], ["y"])
    node.attribute.append(helper.make_attribute("alpha", 2))
    model = _model([node], [_vi("x", F, [2, 3])], ["y"])
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(run_hetflow(model, {"x": x})[0], np.where(x < 0, 2 * x, x))


@pytest.mark.parametrize("attrs, match", [
    ({"kernel_shape": [2, 2, 2]}, "3-D window does not fit input"),  # case 489: IndexError in _window
    ({"kernel_shape": [2, 2], "strides": [0, 1]}, "'strides' .* below 1"),
    ({"kernel_shape": [0, 2]}, "'kernel_shape' .* below 1"),
])
def test_pool_window_attributes_out_of_range(attrs: dict[str, Any], match: str) -> None:
    node = helper.make_node("MaxPool", ["x"], ["y"], auto_pad="SAME_UPPER", **attrs)
    _fails(_model([node], [_vi("x", F, [1, 1, 4, 4])], ["y"]), match)


def test_required_input_left_empty() -> None:
    """RMSNormalization with its scale input named "" (case 1103): AttributeError on None escaped."""
    node = helper.make_node("RMSNormalization", ["x", ""], ["y"])
    _fails(_model([node], [_vi("x", F, [2, 4])], ["y"], opset=23), r"required input 1 \('scale'\) is missing")


def test_input_type_the_schema_does_not_allow() -> None:
    """Softmax on uint8 (case 1792) ran and produced float16 where uint8 was declared."""
    node = helper.make_node("Softmax", ["x"], ["y"])
    _fails(_model([node], [_vi("x", TensorProto.UINT8, [3, 4])], ["y"]), "element type uint8, which Softmax-13 does not")


def test_inputs_the_schema_ties_together_disagree() -> None:
    """BitShift uint8 << uint16 ran as uint16 where uint8 was declared (case 877, on int8 << int16)."""
    node = helper.make_node("BitShift", ["x", "s"], ["y"], direction="LEFT")
    model = _model([node], [_vi("x", TensorProto.UINT8, [3]), _vi("s", TensorProto.UINT16, [3])], ["y"])
    _fails(model, "ONNX requires them to match")


@pytest.mark.parametrize("version", [0, -1, 2**40])
def test_opset_no_onnx_ever_had(version: int) -> None:
    """An opset of 2**40 reached onnx.defs.get_schema, which raised TypeError (case 2285)."""
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F, [2])], ["y"])
    model.opset_import[0].version = version
    _fails(model, "opset_import names ai.onnx version")


def test_name_not_utf8() -> None:
    """protobuf hands a non-UTF-8 name back as bytes (case 5566: TypeError sorting attribute names)."""
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F, [2])], ["y"])
    data = model.SerializeToString().replace(b"\x12\x01y", b"\x12\x01\xcd")  # same length: only the text breaks
    assert data != model.SerializeToString()
    _fails(data, "not printable UTF-8 text")


def test_name_with_a_newline() -> None:
    """A graph output named 'z\\x12\\n' made a two-line error message (case 12941)."""
    model = _model([helper.make_node("Relu", ["x"], ["z\x12\n"])], [_vi("x", F, [2])], ["z\x12\n"])
    _fails(model, "not printable UTF-8 text")


def test_recurrent_sequence_too_long_to_unroll() -> None:
    """An RNN whose input claims 2**31-1 time steps (case 6072) unrolled for ever; now it is a loop over time."""
    node = helper.make_node("RNN", ["x", "w", "r"], ["", "h"], hidden_size=4)
    inputs = [_vi("x", F, [2**31 - 1, 1, 2]), _vi("w", F, [1, 4, 2]), _vi("r", F, [1, 4, 4])]
    graph = hf.compile(hf.load(_model([node], inputs, ["h"]).SerializeToString()), backend="reference").graph
    assert "loop" in [n.op for n in graph.nodes] and len(graph.nodes) < 20


def test_constant_of_shape_with_a_rank_too_large() -> None:
    """A shape input of 2**31-1 entries (case 9439) made 2**31 symbolic dims, one by one."""
    node = helper.make_node("ConstantOfShape", ["x"], ["y"])
    _fails(_model([node], [_vi("x", TensorProto.INT64, [2**31 - 1])], ["y"]), "more than 64")


def test_grid_sample_batches_disagree() -> None:
    """A symbolic grid batch fed 2 against an input batch of 1 ran to [2, ...] where [1, ...] was declared
    (case 11701); statically different batches are refused at import."""
    node = helper.make_node("GridSample", ["x", "g"], ["y"], align_corners=1)
    model = _model([node], [_vi("x", F, [1, 1, 3, 2]), _vi("g", F, ["N", 2, 4, 2])], ["y"], opset=20)
    feeds = {"x": np.zeros((1, 1, 3, 2), np.float32), "g": np.zeros((2, 2, 4, 2), np.float32)}
    _fails(model, "batch .* differ", feeds)
    model = _model([node], [_vi("x", F, [1, 1, 3, 2]), _vi("g", F, [2, 2, 4, 2])], ["y"], opset=20)
    _fails(model, "batch of input .* differ")


def test_conv_transpose_output_shape_of_another_rank() -> None:
    """output_shape with fewer spatial dims than the kernel (case 15955): IndexError in _transpose_pads."""
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], output_shape=[5])
    w = numpy_helper.from_array(np.ones((1, 1, 2, 2), np.float32), "w")
    _fails(_model([node], [_vi("x", F, [1, 1, 3, 3])], ["y"], inits=(w,)), "do not all have 2 spatial dims")


def test_matmul_of_a_scalar() -> None:
    """Gemm rewired into MatMul on a rank-0 operand (case 20297): IndexError in matmul's shape inference."""
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    _fails(_model([node], [_vi("a", F, []), _vi("b", F, [2, 2])], ["y"]), "rank >= 1")


def test_gather_elements_indices_of_another_rank() -> None:
    """Indices of rank 3 against data of rank 4 (case 949) imported, and numpy's error surfaced only at run."""
    node = helper.make_node("GatherElements", ["x", "i"], ["y"], axis=1)
    model = _model([node], [_vi("x", F, [3, 5, 6, 6]), _vi("i", TensorProto.INT64, [3, 1, 6])], ["y"])
    _fails(model, "must have the rank of data")


def test_gather_nd_index_tuple_longer_than_data_rank() -> None:
    """Index tuples of length 2 into 1-D data (case 920): IndexError inside the kernel at run."""
    node = helper.make_node("GatherND", ["x", "i"], ["y"])
    model = _model([node], [_vi("x", TensorProto.INT32, [2]), _vi("i", TensorProto.INT64, [2, 2])], ["y"])
    _fails(model, "do not fit data")
