"""Models and checks shared by the fpga_hls tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import hetflow as hf
from hetflow.backends.fpga_hls import FpgaExecutable, FpgaHlsBackend
from hetflow.backends.reference import ReferenceBackend
from hetflow.ir import Graph


def mlp(seed: int = 0) -> Graph:
    """x[N,16] -> dense 32 + bias -> relu -> dense 10 + bias -> softmax."""
    rng = np.random.default_rng(seed)
    g = Graph("mlp")
    x = g.add_input("x", "float32", ("N", 16))
    h = g.add_node("matmul", [x, g.constant((rng.standard_normal((16, 32)) * 0.35).astype(np.float32), "w1")],
                   name="fc1").outputs[0]
    h = g.add_node("add", [h, g.constant((rng.standard_normal(32) * 0.1).astype(np.float32), "b1")],
                   name="fc1_bias").outputs[0]
    h = g.add_node("relu", [h], name="relu1").outputs[0]
    h = g.add_node("matmul", [h, g.constant((rng.standard_normal((32, 10)) * 0.25).astype(np.float32), "w2")],
                   name="fc2").outputs[0]
    h = g.add_node("add", [h, g.constant((rng.standard_normal(10) * 0.1).astype(np.float32), "b2")],
                   name="fc2_bias").outputs[0]
    g.outputs = [g.add_node("softmax", [h], name="softmax", output_names=["probs"]).outputs[0]]
    return g


def lenet_onnx(seed: int = 0, *, fc1_activation: str = "Relu", batch: int | str = "N") -> onnx.ModelProto:
    """LeNet-5 style, 1x28x28 -> 10 classes, He-uniform random weights; the first dense layer's activation
    and the batch dim (symbolic by default) can be chosen."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, fan: int) -> np.ndarray:
        return (rng.uniform(-1, 1, shape) * np.sqrt(6 / fan)).astype(np.float32)

    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("c1w", w(6, 1, 5, 5, fan=25)), ("c1b", w(6, fan=600)), ("c2w", w(16, 6, 5, 5, fan=150)),
        ("c2b", w(16, fan=600)), ("f1w", w(256, 120, fan=256)), ("f1b", w(120, fan=600)),
        ("f2w", w(120, 84, fan=120)), ("f2b", w(84, fan=600)), ("f3w", w(84, 10, fan=84)), ("f3b", w(10, fan=600)),
        ("flat_shape", np.array([-1 if isinstance(batch, str) else batch, 256], np.int64))]]
    nodes = [
        helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], name="conv1", kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], name="conv2", kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["p2", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("MatMul", ["flat", "f1w"], ["m1"], name="fc1"),
        helper.make_node("Add", ["m1", "f1b"], ["a1"], name="fc1_bias"),
        helper.make_node(fc1_activation, ["a1"], ["h1"], name=f"{fc1_activation.lower()}3"),
        helper.make_node("MatMul", ["h1", "f2w"], ["m2"], name="fc2"),
        helper.make_node("Add", ["m2", "f2b"], ["a2"], name="fc2_bias"),
        helper.make_node("Relu", ["a2"], ["h2"], name="relu4"),
        helper.make_node("MatMul", ["h2", "f3w"], ["m3"], name="fc3"),
        helper.make_node("Add", ["m3", "f3b"], ["logits"], name="fc3_bias"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(nodes, "lenet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 28, 28])],
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def lenet() -> Graph:
    return hf.load(lenet_onnx())


LENET_CONFIG = {"architecture": "stream", "model": {"reuse_factor": 10}}


def squeezenet64() -> tuple[Graph, np.ndarray]:
    """The onnx wheel's SqueezeNet 1.0 (randomized weights, Softmax cut), rebuilt for a 1x3x64x64 input."""
    from models.zoo import randomized

    zoo = randomized("squeezenet")
    for dim, size in zip(zoo.model.graph.input[0].type.tensor_type.shape.dim, (1, 3, 64, 64)):
        dim.dim_value = size
    x = np.random.default_rng(1).standard_normal((1, 3, 64, 64)).astype(np.float32)
    return hf.load(zoo.model), x


SQUEEZENET_CONFIG = {
    "architecture": "stream",
    # Rounded weights: truncation (AP_TRN) biases every weight down by half an LSB, which after 26
    # convolutions of positive activations shifts the logits by several units (the precision trace shows it).
    "model": {"reuse_factor": 64,
              "precision": {"result": "fixed<18,6,AP_RND>", "weight": "fixed<16,3,AP_RND>", "bias": "fixed<16,6,AP_RND>"}},
}


def reference(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return ReferenceBackend().compile(graph).run(feeds)


def check(graph: Graph, feeds: dict[str, np.ndarray], *, atol: float, config: object = None, fit: str = "error",
          **options: object) -> FpgaExecutable:
    """Compile; the C simulation must equal the NumPy fixed-point model bit for bit and be within ``atol`` of float."""
    exe = FpgaHlsBackend().compile(graph, config=config, fit=fit, **options)  # type: ignore[arg-type]
    csim = exe.run_exact(feeds)
    model = exe.run_exact(feeds, model=True)
    want = reference(graph, feeds)
    for v, c, m in zip(graph.outputs, csim, model):
        np.testing.assert_array_equal(c, m, err_msg=f"{v.name}: C simulation and NumPy model differ")
        np.testing.assert_allclose(c, want[v.name].reshape(-1), rtol=0, atol=atol, err_msg=v.name)
    got = exe.run(feeds)
    for v in graph.outputs:
        assert got[v.name].shape == want[v.name].shape and got[v.name].dtype == want[v.name].dtype
    return exe


def conv_gemm_onnx(seed: int = 0) -> onnx.ModelProto:
    """Conv(1->8, 3x3, pad 1) -> Relu -> MaxPool 2x2 -> Flatten -> Gemm(1568 -> 10) on 1x1x28x28, He-uniform
    weights: the model of issue 10 whose default FPGA export was 2 logits below float."""
    rng = np.random.default_rng(seed)

    def w(*shape: int, fan: int) -> np.ndarray:
        return (rng.uniform(-1, 1, shape) * np.sqrt(6 / fan)).astype(np.float32)

    inits = [numpy_helper.from_array(a, n) for n, a in [
        ("cw", w(8, 1, 3, 3, fan=9)), ("cb", w(8, fan=9)), ("gw", w(10, 1568, fan=1568)), ("gb", w(10, fan=1568))]]
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "gw", "gb"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "conv_gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 28, 28])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model
