"""ONNX models with dynamic dims for the specialization tests: written with onnx.helper (always available), and
exported by torch.onnx with ``dynamic_axes`` where torch is installed."""

from __future__ import annotations

import io

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def _weights(name: str, shape: tuple[int, ...], seed: int) -> onnx.TensorProto:
    data = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.2
    return numpy_helper.from_array(data, name)


def _int64(name: str, value: object) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(value, np.int64), name)


def batch_mlp() -> onnx.ModelProto:
    """x[batch,3,8,8] -> conv -> relu -> reshape to [batch, -1] from Shape/Gather/Concat (as exporters write a
    flatten) -> gemm: y[batch,10]."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Shape", ["r"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axis0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["r", "target"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [_weights("w", (4, 3, 3, 3), 1), _weights("b", (4,), 2), _int64("zero", 0), _int64("axis0", [0]),
             _int64("minus1", [-1]), _weights("fw", (10, 256), 3), _weights("fb", (10,), 4)]
    graph = helper.make_graph(nodes, "batch_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def resolution_cnn() -> onnx.ModelProto:
    """x[1,3,H,W] -> strided conv -> relu -> global average pool -> flatten -> gemm: y[1,5] at any resolution."""
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
    ]
    inits = [_weights("w", (8, 3, 3, 3), 5), _weights("b", (8,), 6), _weights("fw", (5, 8), 7), _weights("fb", (5,), 8)]
    graph = helper.make_graph(nodes, "resolution_cnn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def tile_by_batch() -> onnx.ModelProto:
    """y = tile(x, [batch, 1]) with the repeats computed from Shape(x): the IR tile reads them as an input, and a
    run at new shapes specializes the plan, folding them to a constant (never by binding x's values)."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "zero", "one"], ["n"]),
        helper.make_node("Concat", ["n", "one"], ["repeats"], axis=0),
        helper.make_node("Tile", ["x", "repeats"], ["t"]),
        helper.make_node("Mul", ["t", "x2"], ["y"]),
    ]
    inits = [_int64("zero", [0]), _int64("one", [1]), numpy_helper.from_array(np.array(2, np.float32), "x2")]
    graph = helper.make_graph(nodes, "tile_by_batch", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "L"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def upsample_by_shape() -> onnx.ModelProto:
    """Upsample-9 by scales computed from Shape(x) ([1, 1, W / H, 2]): the legacy op picks its rounding per
    direction at import, so the scales must be known there; made constant by importing at the run's shapes."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Cast", ["s"], ["sf"], to=TensorProto.FLOAT),
        helper.make_node("Gather", ["sf", "h"], ["hf"]), helper.make_node("Gather", ["sf", "w"], ["wf"]),
        helper.make_node("Div", ["wf", "hf"], ["ratio"]),
        helper.make_node("Concat", ["ones", "ratio", "two"], ["scales"], axis=0),
        helper.make_node("Upsample", ["x", "scales"], ["y"], mode="nearest"),
    ]
    inits = [_int64("h", [2]), _int64("w", [3]), numpy_helper.from_array(np.ones(2, np.float32), "ones"),
             numpy_helper.from_array(np.array([2], np.float32), "two")]
    graph = helper.make_graph(nodes, "upsample_by_shape",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)])


def torch_exported(kind: str) -> onnx.ModelProto:
    """A torch module exported by ``torch.onnx.export`` (TorchScript exporter) with ``dynamic_axes``:
    ``batch`` (a CNN whose flatten is ``x.view(x.size(0), -1)``: Shape/Gather/Concat/Reshape in the file) or
    ``resolution`` (a CNN with adaptive average pooling, dynamic H and W)."""
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 6, 3, padding=1, stride=2)
            self.fc = torch.nn.Linear(6 * 4 * 4 if kind == "batch" else 6, 7)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = torch.relu(self.conv(x))
            if kind == "resolution":
                h = torch.nn.functional.adaptive_avg_pool2d(h, 1)
            return self.fc(h.view(h.size(0), -1))

    axes = {0: "batch"} if kind == "batch" else {2: "height", 3: "width"}
    buffer = io.BytesIO()
    torch.onnx.export(Net().eval(), (torch.randn(2, 3, 8, 8),), buffer, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": axes, "y": {0: "batch"} if kind == "batch" else {}}, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())
