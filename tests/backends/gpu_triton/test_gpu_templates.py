"""Every kernel template, through Triton's interpreter on small shapes, against the NumPy reference backend."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import check

from hetflow.ir import Graph

RNG = np.random.default_rng(7)


def const(g: Graph, shape: tuple[int, ...], dtype: str = "float32", low: float | None = None) -> object:
    a = RNG.standard_normal(shape) if low is None else RNG.uniform(low, low + 1, shape)
    return g.constant(a.astype(dtype))


def unary_graph(op: str, shape: tuple[int, ...] = (3, 70), dtype: str = "float32", **attrs: object) -> Graph:
    g = Graph(op)
    x = g.add_input("x", dtype, shape)
    g.outputs = [g.add_node(op, [x], attrs).outputs[0]]
    return g


POINTWISE_UNARY = ["relu", "sigmoid", "tanh", "exp", "abs", "neg", "erf", "softsign", "softplus", "identity"]


@pytest.mark.parametrize("op", POINTWISE_UNARY)
def test_pointwise_unary(op: str) -> None:
    check(unary_graph(op))


@pytest.mark.parametrize("op,attrs", [("leaky_relu", {"alpha": 0.1}), ("elu", {"alpha": 0.7}),
                                      ("clip", {"min": -0.5, "max": 0.5}),
                                      ("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}),
                                      ("hard_sigmoid", {"alpha": 0.2, "beta": 0.5}), ("selu", {"alpha": 1.6, "gamma": 1.05})])
def test_pointwise_with_attributes(op: str, attrs: dict) -> None:
    check(unary_graph(op, **attrs))


def test_broadcast_chain_is_one_kernel() -> None:
    g = Graph("chain")
    x = g.add_input("x", "float32", (2, 3, 5))
    b = g.add_input("b", "float32", (3, 1))
    h = g.add_node("add", [x, b]).outputs[0]
    h = g.add_node("div", [h, g.constant(np.float32(3.0))]).outputs[0]
    h = g.add_node("max", [h, const(g, (5,))]).outputs[0]
    g.outputs = [g.add_node("sqrt", [g.add_node("abs", [h]).outputs[0]]).outputs[0]]
    exe = check(g)
    assert len(exe.kernels()) == 1


def test_matmul_with_fused_bias_and_activation() -> None:
    g = Graph("mm")
    x = g.add_input("x", "float32", (37, 50))
    h = g.add_node("matmul", [x, const(g, (50, 29))]).outputs[0]
    h = g.add_node("add", [h, const(g, (29,))]).outputs[0]
    g.outputs = [g.add_node("clip", [h], {"min": 0.0, "max": 6.0}).outputs[0]]
    exe = check(g)
    assert [k.template for k in exe.kernels()] == ["matmul"]


def test_batched_broadcast_matmul_with_residual() -> None:
    g = Graph("bmm")
    a = g.add_input("a", "float32", (2, 3, 17, 20))
    b = g.add_input("b", "float32", (3, 20, 18))
    r = g.add_input("r", "float32", (2, 3, 17, 18))
    h = g.add_node("matmul", [a, b]).outputs[0]
    g.outputs = [g.add_node("add", [h, r]).outputs[0]]
    check(g)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_matmul_accumulates_in_float32(dtype: str) -> None:
    g = Graph("mm16")
    x = g.add_input("x", dtype, (33, 64))
    h = g.add_node("matmul", [x, const(g, (64, 40), dtype)]).outputs[0]
    g.outputs = [g.add_node("relu", [h]).outputs[0]]
    check(g, dtype=dtype, scale=8.0)


@pytest.mark.parametrize("group,stride,pads", [(1, 1, (1, 1, 1, 1)), (2, 2, (0, 1, 1, 0)), (1, 2, (3, 3, 3, 3))])
def test_conv_implicit_gemm_with_batch_norm_and_relu(group: int, stride: int, pads: tuple) -> None:
    g = Graph("conv")
    x = g.add_input("x", "float32", (2, 4, 9, 11))
    k = 7 if pads[0] == 3 else 3
    h = g.add_node("conv", [x, const(g, (6, 4 // group, k, k)), const(g, (6,))],
                   {"strides": (stride, stride), "pads": pads, "group": group, "dilations": (1, 1)}).outputs[0]
    h = g.add_node("batch_norm", [h, const(g, (6,)), const(g, (6,)), const(g, (6,)), const(g, (6,), low=0.5)],
                   {"epsilon": 1e-5}).outputs[0]
    g.outputs = [g.add_node("relu", [h]).outputs[0]]
    exe = check(g)
    assert [k.template for k in exe.kernels()] == ["conv"]


def test_depthwise_conv_runs_the_window_template() -> None:
    g = Graph("dw")
    x = g.add_input("x", "float32", (1, 6, 10, 10))
    h = g.add_node("conv", [x, const(g, (12, 1, 3, 3)), const(g, (12,))],
                   {"strides": (2, 2), "pads": (1, 1, 1, 1), "group": 6, "dilations": (1, 1)}).outputs[0]
    g.outputs = [g.add_node("relu", [h]).outputs[0]]
    exe = check(g)
    assert [k.template for k in exe.kernels()] == ["window"]


@pytest.mark.parametrize("op,attrs", [
    ("max_pool", {"kernel": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1)}),
    ("max_pool", {"kernel": (2, 2), "strides": (2, 2), "pads": (0, 0, 0, 0), "ceil_mode": True}),
    ("avg_pool", {"kernel": (3, 3), "strides": (1, 1), "pads": (1, 1, 1, 1), "count_include_pad": False}),
    ("avg_pool", {"kernel": (3, 3), "strides": (2, 2), "pads": (1, 1, 1, 1), "count_include_pad": True,
                  "ceil_mode": True}),
])
def test_windowed_pooling(op: str, attrs: dict) -> None:
    check(unary_graph(op, (2, 3, 9, 9), **attrs))


@pytest.mark.parametrize("op,axes,keepdims", [("reduce_mean", (2, 3), True), ("reduce_sum", (1,), False),
                                              ("reduce_max", (0, 2), True), ("reduce_min", None, False)])
def test_reductions(op: str, axes: tuple | None, keepdims: bool) -> None:
    check(unary_graph(op, (2, 5, 6, 7), axes=axes, keepdims=keepdims))


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(op: str) -> None:
    check(unary_graph(op, (3, 5, 4100), axis=-1))


def test_layer_group_instance_norm() -> None:
    g = Graph("norms")
    x = g.add_input("x", "float32", (2, 6, 5, 5))
    ln = g.add_node("layer_norm", [x, const(g, (5, 5)), const(g, (5, 5))], {"axis": 2}, num_outputs=1).outputs[0]
    gn = g.add_node("group_norm", [x, const(g, (6,)), const(g, (6,))], {"num_groups": 3, "epsilon": 1e-5}).outputs[0]
    inn = g.add_node("instance_norm", [x, const(g, (6,)), const(g, (6,))], {"epsilon": 1e-5}).outputs[0]
    g.outputs = [ln, gn, inn]
    exe = check(g, scale=4.0)
    assert [k.template for k in exe.kernels()] == ["rownorm"] * 3


def test_data_movement_kernels() -> None:
    g = Graph("move")
    x = g.add_input("x", "float32", (2, 3, 4, 5))
    t = g.add_node("transpose", [x], {"perm": (0, 3, 1, 2)}).outputs[0]
    s = g.add_node("slice", [x], {"starts": (1, 0), "ends": (4, 5), "axes": (2, 3), "steps": (2, 2)}).outputs[0]
    p = g.add_node("pad", [x], {"pads": (0, 0, 1, 2, 0, 0, 2, 1), "value": 1.5}).outputs[0]
    c = g.add_node("concat", [x, g.add_node("neg", [x]).outputs[0], x], {"axis": 1}).outputs[0]
    r = g.add_node("reshape", [t], {"shape": (2, 60)}).outputs[0]
    g.outputs = [t, s, p, c, g.add_node("relu", [r]).outputs[0]]
    check(g)


def test_attention_is_one_fused_kernel() -> None:
    g = Graph("attn")
    q = g.add_input("q", "float32", (2, 2, 37, 16))
    kt = g.add_input("kt", "float32", (2, 2, 16, 45))
    v = g.add_input("v", "float32", (2, 2, 45, 24))
    s = g.add_node("matmul", [q, kt]).outputs[0]
    s = g.add_node("mul", [s, g.constant(np.float32(0.25))]).outputs[0]
    p = g.add_node("softmax", [s], {"axis": -1}).outputs[0]
    g.outputs = [g.add_node("matmul", [p, v]).outputs[0]]
    exe = check(g)
    assert [k.template for k in exe.kernels()] == ["attention"]


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_pointwise_and_norm(dtype: str) -> None:
    g = Graph("half")
    x = g.add_input("x", dtype, (4, 96))
    h = g.add_node("gelu", [x]).outputs[0]
    g.outputs = [g.add_node("layer_norm", [h, const(g, (96,), dtype), const(g, (96,), dtype)], num_outputs=1).outputs[0]]
    check(g, dtype=dtype, scale=4.0)


def test_tf32_option_is_accepted_and_close() -> None:
    g = Graph("tf32")
    x = g.add_input("x", "float32", (16, 32))
    g.outputs = [g.add_node("matmul", [x, const(g, (32, 16))]).outputs[0]]
    exe = check(g, tf32=True, scale=50.0)
    assert 'input_precision="tf32"' in exe.source()
