"""``hetflow codegen MODEL --target nvidia/nvdla-*`` writes a loadable and its dump."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from hetflow.backends.nvdla.loadable import load
from hetflow.cli import app


def _model(path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array((rng.standard_normal((16, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
             numpy_helper.from_array(np.zeros(16, np.float32), "b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Softmax", ["p"], ["y"], axis=1)]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16, 4, 4])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_codegen_writes_a_loadable_that_loads(tmp_path):
    _model(tmp_path / "tiny.onnx")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["codegen", str(tmp_path / "tiny.onnx"), "--target", "nvidia/nvdla-small",
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "NVDLA loadable for nvidia/nvdla-small: 3 engine ops" in result.output
    assert "left on the CPU: dequantize_linear, quantize_linear, softmax" in result.output
    loadable, _ = load(out)
    assert [op.engine for op in loadable.ops] == ["CONV", "SDP", "PDP"]
    assert "PDP" in (out / "loadable.txt").read_text()


def test_codegen_with_an_unknown_target_is_one_line(tmp_path):
    _model(tmp_path / "tiny.onnx")
    result = CliRunner().invoke(app, ["codegen", str(tmp_path / "tiny.onnx"), "--target", "nvidia/nvdla-huge",
                                      "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown machine preset 'nvidia/nvdla-huge'" in result.output
