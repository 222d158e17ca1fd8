"""ONNX QDQ and QLinear models import into the IR's quantized ops and agree with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetflow as hf
from hetflow.backends.reference import ReferenceBackend

ort = pytest.importorskip("onnxruntime")


def _run_both(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)
    g = hf.load(model)
    got = ReferenceBackend().compile(g).run(feeds)
    return want, [got[o.name] for o in model.graph.output], [n.op for n in g.nodes]


def test_qdq_conv_model_imports_into_quantized_ops():
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, (8, 3, 3, 3)).astype(np.int8)
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("xs", np.float32(0.05)), ("xz", np.int8(0)), ("w", w), ("ws", (rng.uniform(0.001, 0.01, 8)).astype(np.float32)),
        ("wz", np.zeros(8, np.int8)), ("ys", np.float32(0.1)), ("yz", np.int8(0))]]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"], pads=[1, 1, 1, 1]),
        helper.make_node("QuantizeLinear", ["y", "ys", "yz"], ["yq"]),
        helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["out"]),
    ]
    graph = helper.make_graph(nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    feeds = {"x": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)}
    want, got, ops = _run_both(model, feeds)
    # the weight's DequantizeLinear of constants folds at import; the activations' stay quantized ops
    assert ops.count("quantize_linear") == 2 and ops.count("dequantize_linear") == 2
    np.testing.assert_allclose(got[0], want[0], atol=0.1 + 1e-6)  # at most one step of the output scale apart
    assert np.mean(got[0] == want[0]) > 0.98


def test_qlinear_conv_accumulates_with_conv_integer_and_matches_onnxruntime():
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("xs", np.float32(0.02)), ("xz", np.uint8(128)), ("w", rng.integers(0, 256, (4, 5, 3, 3)).astype(np.uint8)),
        ("ws", np.float32(0.01)), ("wz", np.uint8(120)), ("ys", np.float32(0.3)), ("yz", np.uint8(100)),
        ("b", rng.integers(-500, 500, 4).astype(np.int32))]]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], pads=[1, 0, 1, 0],
                            strides=[2, 1])
    graph = helper.make_graph([node], "qlinear", [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 5, 7, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    feeds = {"x": rng.integers(0, 256, (1, 5, 7, 6)).astype(np.uint8)}
    want, got, ops = _run_both(model, feeds)
    assert "conv_integer" in ops
    np.testing.assert_array_equal(got[0], want[0])
