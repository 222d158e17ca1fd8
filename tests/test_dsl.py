"""The DSL builds the same IR as an ONNX import, and the same numbers as onnxruntime on that ONNX model."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import hetflow as hf
from hetflow import dsl
from hetflow.ir import Graph
from hetflow.passes import run_passes


def _onnx_model(nodes: list[onnx.NodeProto], inputs: dict[str, list], output: tuple[str, list],
                params: dict[str, np.ndarray], extra: dict[str, np.ndarray] | None = None, opset: int = 17) -> onnx.ModelProto:
    """A float32 ONNX model whose initializers are the DSL model's parameters (plus shape constants)."""
    inits = [numpy_helper.from_array(a, k) for k, a in {**params, **(extra or {})}.items()]
    graph = helper.make_graph(
        nodes, "dsl_twin", [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs.items()],
        [helper.make_tensor_value_info(output[0], TensorProto.FLOAT, output[1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model


def _ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> np.ndarray:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def _ops(graph: Graph) -> Counter:
    return Counter(n.op for n in graph.nodes)


def _check(m: dsl.Model, model: onnx.ModelProto, feeds: dict[str, np.ndarray], out: str,
           rtol: float = 1e-5, atol: float = 1e-5, same_ops: bool = True) -> None:
    got = hf.compile(m.graph).run(feeds)[out]
    want = _ort(model, feeds)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
    if same_ops:
        imported = hf.load(model)
        cleaned = run_passes(m.graph.copy(), ["constant_fold", "dce", "cse", "dce"])
        assert _ops(cleaned) == _ops(imported)


# ---------------------------------------------------------------------------- MLP
def test_mlp_matches_onnx_import_and_onnxruntime():
    with dsl.model("mlp", seed=3) as m:
        x = m.input("x", ("N", 784))
        with m.layer("fc1"):
            h = dsl.relu(dsl.linear(x, m.param("w", dsl.he((784, 128))), m.param("b", dsl.normal((128,), 0.1))))
        with m.layer("fc2"):
            y = h @ m.param("w", dsl.xavier((128, 10))) + m.param("b", dsl.zeros((10,)))
        m.output(dsl.softmax(y), name="probs")
    assert list(m.params) == ["fc1/w", "fc1/b", "fc2/w", "fc2/b"]
    assert str(m.graph.outputs[0].type) == "float32[N,10]" and m.graph.outputs[0].name == "probs"
    nodes = [
        helper.make_node("MatMul", ["x", "fc1/w"], ["h0"]), helper.make_node("Add", ["h0", "fc1/b"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "fc2/w"], ["y0"]),
        helper.make_node("Add", ["y0", "fc2/b"], ["y"]), helper.make_node("Softmax", ["y"], ["probs"], axis=-1),
    ]
    model = _onnx_model(nodes, {"x": ["N", 784]}, ("probs", ["N", 10]), m.params)
    x = np.random.default_rng(0).standard_normal((5, 784), dtype=np.float32)
    _check(m, model, {"x": x}, "probs")


# ---------------------------------------------------------------------------- CNN
def _bn_params(m: dsl.Model, c: int) -> list[dsl.Tensor]:
    return [m.param("scale", dsl.uniform((c,), 0.5, 1.5)), m.param("bias", dsl.normal((c,), 0.1)),
            m.param("mean", dsl.normal((c,), 0.1)), m.param("var", dsl.uniform((c,), 0.5, 1.5))]


def _onnx_bn(name: str, x: str, y: str) -> onnx.NodeProto:
    return helper.make_node("BatchNormalization", [x] + [f"{name}/{p}" for p in ("scale", "bias", "mean", "var")], [y],
                            epsilon=1e-5)


def test_small_cnn_matches_onnx_import_and_onnxruntime():
    with dsl.model("cnn", seed=7) as m:
        x = m.input("x", ("N", 3, 16, 16))
        with m.layer("conv1"):
            h = dsl.relu(dsl.batch_norm(dsl.conv2d(x, m.param("w", dsl.he((8, 3, 3, 3))), padding=1), *_bn_params(m, 8)))
        with m.layer("pool1"):
            h = dsl.max_pool2d(h, 3, stride=2, padding=1)  # 8x8
        with m.block("res"):
            with m.layer("a"):
                a = dsl.relu(dsl.conv2d(h, m.param("w", dsl.he((8, 8, 3, 3))), m.param("b", dsl.zeros((8,))), padding="same"))
            with m.layer("b"):
                a = dsl.conv2d(a, m.param("w", dsl.he((8, 4, 3, 3))), stride=1, padding=(1, 1), groups=2)
            h = dsl.relu(a + h)
        with m.layer("branches"):
            p = dsl.avg_pool2d(h, 2)
            q = dsl.max_pool2d(h, 2, dilation=1, ceil_mode=True)
            h = dsl.concat([p, q * 0.5], axis=1)  # 16 x 4 x 4
        with m.layer("head"):
            g = dsl.flatten(dsl.global_avg_pool(h))
            y = dsl.linear(g, m.param("w", dsl.he((16, 5))), m.param("b", dsl.zeros((5,))))
        m.output(y, name="logits")
    assert m.graph.outputs[0].type.shape == ("N", 5)
    half = np.array(0.5, np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "conv1/w"], ["c1"], pads=[1, 1, 1, 1]),
        _onnx_bn("conv1", "c1", "b1"), helper.make_node("Relu", ["b1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p1", "res/a/w", "res/a/b"], ["ca"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["ca"], ["ra"]),
        helper.make_node("Conv", ["ra", "res/b/w"], ["cb"], pads=[1, 1, 1, 1], group=2),
        helper.make_node("Add", ["cb", "p1"], ["s"]), helper.make_node("Relu", ["s"], ["h"]),
        helper.make_node("AveragePool", ["h"], ["pa"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("MaxPool", ["h"], ["pm"], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
        helper.make_node("Mul", ["pm", "half"], ["pmh"]),
        helper.make_node("Concat", ["pa", "pmh"], ["cat"], axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"]),
        helper.make_node("MatMul", ["flat", "head/w"], ["y0"]), helper.make_node("Add", ["y0", "head/b"], ["logits"]),
    ]
    model = _onnx_model(nodes, {"x": ["N", 3, 16, 16]}, ("logits", ["N", 5]), m.params, {"half": half})
    x = np.random.default_rng(1).standard_normal((2, 3, 16, 16), dtype=np.float32)
    _check(m, model, {"x": x}, "logits", rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------- transformer encoder block
SEQ, HIDDEN, HEADS, FFN = 128, 256, 4, 1024
HEAD = HIDDEN // HEADS


def _dsl_encoder() -> dsl.Model:
    with dsl.model("encoder", seed=11) as m:
        x = m.input("x", ("N", SEQ, HIDDEN))
        with m.block("attn"):
            def proj(name: str, t: dsl.Tensor) -> dsl.Tensor:
                with m.layer(name):
                    return dsl.linear(t, m.param("w", dsl.xavier((HIDDEN, HIDDEN))), m.param("b", dsl.normal((HIDDEN,))))

            def heads(t: dsl.Tensor) -> dsl.Tensor:
                return t.reshape(0, SEQ, HEADS, HEAD).transpose(0, 2, 1, 3)

            q, k, v = (heads(proj(n, x)) for n in ("q", "k", "v"))
            with m.layer("scores"):
                p = dsl.softmax(q @ k.transpose(0, 1, 3, 2) * (1.0 / math.sqrt(HEAD)), axis=-1)
            with m.layer("context"):
                c = (p @ v).transpose(0, 2, 1, 3).reshape(0, SEQ, HIDDEN)
            o = proj("out", c)
            with m.layer("ln"):
                h = dsl.layer_norm(x + o, m.param("g", dsl.ones((HIDDEN,))), m.param("b", dsl.zeros((HIDDEN,))), eps=1e-5)
        with m.block("ffn"):
            with m.layer("up"):
                f = dsl.gelu(dsl.linear(h, m.param("w", dsl.he((HIDDEN, FFN))), m.param("b", dsl.zeros((FFN,)))))
            with m.layer("down"):
                f = dsl.linear(f, m.param("w", dsl.xavier((FFN, HIDDEN))), m.param("b", dsl.zeros((HIDDEN,))))
            with m.layer("ln"):
                y = dsl.layer_norm(h + f, m.param("g", dsl.ones((HIDDEN,))), m.param("b", dsl.zeros((HIDDEN,))))
        m.output(y, name="y")
    return m


def _onnx_encoder(params: dict[str, np.ndarray]) -> onnx.ModelProto:
    mk = helper.make_node
    nodes = []
    for n in ("q", "k", "v"):
        nodes += [mk("MatMul", ["x", f"attn/{n}/w"], [f"{n}0"]), mk("Add", [f"{n}0", f"attn/{n}/b"], [f"{n}1"]),
                  mk("Reshape", [f"{n}1", "split_shape"], [f"{n}2"]), mk("Transpose", [f"{n}2"], [n], perm=[0, 2, 1, 3])]
    nodes += [
        mk("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]), mk("MatMul", ["q", "kt"], ["s0"]),
        mk("Mul", ["s0", "scale"], ["s1"]), mk("Softmax", ["s1"], ["p"], axis=-1),
        mk("MatMul", ["p", "v"], ["c0"]), mk("Transpose", ["c0"], ["c1"], perm=[0, 2, 1, 3]),
        mk("Reshape", ["c1", "merge_shape"], ["c"]),
        mk("MatMul", ["c", "attn/out/w"], ["o0"]), mk("Add", ["o0", "attn/out/b"], ["o"]),
        mk("Add", ["x", "o"], ["r1"]), mk("LayerNormalization", ["r1", "attn/ln/g", "attn/ln/b"], ["h"], axis=-1, epsilon=1e-5),
        mk("MatMul", ["h", "ffn/up/w"], ["u0"]), mk("Add", ["u0", "ffn/up/b"], ["u1"]), mk("Gelu", ["u1"], ["u"]),
        mk("MatMul", ["u", "ffn/down/w"], ["d0"]), mk("Add", ["d0", "ffn/down/b"], ["d"]),
        mk("Add", ["h", "d"], ["r2"]), mk("LayerNormalization", ["r2", "ffn/ln/g", "ffn/ln/b"], ["y"], axis=-1),
    ]
    extra = {"split_shape": np.array([0, SEQ, HEADS, HEAD], np.int64), "merge_shape": np.array([0, SEQ, HIDDEN], np.int64),
             "scale": np.array(1.0 / math.sqrt(HEAD), np.float32)}
    return _onnx_model(nodes, {"x": ["N", SEQ, HIDDEN]}, ("y", ["N", SEQ, HIDDEN]), params, extra, opset=20)


def test_transformer_encoder_block_matches_onnx_import_and_onnxruntime():
    m = _dsl_encoder()
    assert str(m.graph.outputs[0].type) == f"float32[N,{SEQ},{HIDDEN}]"
    ops = _ops(m.graph)
    assert ops["matmul"] == 8 and ops["softmax"] == 1 and ops["layer_norm"] == 2 and ops["gelu"] == 1
    x = np.random.default_rng(5).standard_normal((2, SEQ, HIDDEN), dtype=np.float32)
    _check(m, _onnx_encoder(m.params), {"x": x}, "y", rtol=1e-4, atol=2e-4)


def test_encoder_regions_follow_the_dsl_names():
    m = _dsl_encoder()
    g = run_passes(m.graph, ["form_regions"])
    assert g.regions["attn/q"].parent == "attn" and g.regions["ffn/ln"].kind == "layer"
    blocks = {r.name for r in g.regions.values() if r.kind == "block"}
    assert blocks == {"attn", "ffn"}  # each residual is its given block; no pattern block repeats it
    assert all(g.regions[n.region].kind == "layer" for n in g.nodes)


# ---------------------------------------------------------------------------- the DSL itself
def test_parameters_are_seeded_per_model_and_name():
    def build(seed: int, extra: bool) -> dict[str, np.ndarray]:
        with dsl.model("p", seed=seed) as m:
            x = m.input("x", (2,))
            if extra:
                m.param("first", dsl.normal((2,)))
            m.output(x @ m.param("w", dsl.he((2, 2))))
        return m.params

    a, b, c = build(0, False), build(0, True), build(1, False)
    np.testing.assert_array_equal(a["w"], b["w"])  # another parameter does not shift this one
    assert not np.array_equal(a["w"], c["w"]) and a["w"].dtype == np.float32


def test_operators_with_python_scalars_and_reflected_operands():
    with dsl.model("ops") as m:
        x = m.input("x", (3,))
        y = (2.0 - x) / 4 + 1 * x
        z = -(1.0 / (y + 3.0))
        m.output(dsl.clip(dsl.sigmoid(z) * dsl.tanh(x), min=-0.5, max=0.5), name="z")
    xs = np.array([-1.0, 0.5, 2.0], np.float32)
    y = (2.0 - xs) / 4 + xs
    want = np.clip(1 / (1 + np.exp(1.0 / (y + 3.0))) * np.tanh(xs), -0.5, 0.5)
    np.testing.assert_allclose(hf.compile(m.graph).run({"x": xs})["z"], want, rtol=1e-6)
    assert all(v.type.dtype.name == "float32" for n in m.graph.nodes for v in n.inputs)


def test_mistakes_get_clear_errors():
    with pytest.raises(dsl.DSLError, match="no outputs"):
        with dsl.model("empty") as m:
            m.input("x", (1,))
    m1, m2 = dsl.model("a"), dsl.model("b")
    with pytest.raises(dsl.DSLError, match="different models"):
        dsl.add(m1.input("x", (1,)), m2.input("x", (1,)))
    with pytest.raises(dsl.DSLError, match="declared twice"):
        m1.param("w", 1.0), m1.param("w", 2.0)
    with pytest.raises(dsl.DSLError, match="inside layer"):
        with m1.layer("l1"), m1.layer("l2"):
            pass
    with pytest.raises(dsl.DSLError, match="opened twice"):
        with m1.block("blk"):
            pass
        with m1.block("blk"):
            pass
    with pytest.raises(dsl.DSLError, match="stride 1"):
        dsl.conv2d(m1.input("img", (1, 1, 4, 4)), m1.param("k", np.ones((1, 1, 3, 3), np.float32)), stride=2, padding="same")
