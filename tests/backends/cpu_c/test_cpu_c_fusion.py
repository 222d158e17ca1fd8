"""Fusion, folding, memory planning and threads: the generated code has the intended shape and the same numbers."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from backends.cpu_c.helpers import compare

from hetflow.backends.cpu_c import CpuCBackend
from hetflow.config import get_config, set_config
from hetflow.ir import Graph, Value

RNG = np.random.default_rng(1)


def rand(*shape: int, lo: float = -1.0, hi: float = 1.0) -> np.ndarray:
    return RNG.uniform(lo, hi, shape).astype(np.float32)


def conv(g: Graph, x: Value, cout: int, k: int = 3, bias: bool = True, name: str | None = None) -> Value:
    cin = x.type.shape[1]
    args = [x, g.constant(rand(cout, cin, k, k, lo=-0.3, hi=0.3))]
    if bias:
        args.append(g.constant(rand(cout)))
    attrs = {"strides": (1, 1), "pads": (k // 2,) * 4, "dilations": (1, 1)}
    return g.add_node("conv", args, attrs, name=name).outputs[0]


def units(source: str) -> list[str]:
    """The unit comments of the generated C: one per fused unit."""
    return re.findall(r"/\* (.*\(\w+\)) \*/", source)


def test_conv_batch_norm_relu_is_one_unit_with_folded_weights() -> None:
    g = Graph("cbr")
    x = g.add_input("x", "float32", (1, 8, 12, 12))
    y = conv(g, x, 16, name="conv")
    c = 16
    bn = [g.constant(a) for a in (rand(c, lo=0.5, hi=1.5), rand(c), rand(c), rand(c, lo=0.5, hi=2.0))]
    y = g.add_node("batch_norm", [y, *bn], {"epsilon": 1e-5}, name="bn").outputs[0]
    g.outputs = [g.add_node("relu", [y], name="relu").outputs[0]]
    exe = compare(g, {"x": rand(1, 8, 12, 12)}, rtol=1e-4, atol=1e-5)
    assert units(exe.source) == ["conv (conv), relu (relu)"]
    assert "HF_ACT_RELU" in exe.source and "static void post" not in exe.source
    where = {p.node: p for p in exe.placement()}
    assert where["bn"].folded_into == "conv" and where["bn"].backend == "cpu_c"
    assert where["relu"].unit == where["conv"].unit


def test_residual_add_and_relu_finish_in_the_conv_tiles() -> None:
    g = Graph("residual")
    x = g.add_input("x", "float32", (1, 16, 10, 10))
    y = conv(g, x, 16)
    y = g.add_node("add", [y, x]).outputs[0]
    g.outputs = [g.add_node("relu", [y]).outputs[0]]
    exe = compare(g, {"x": rand(1, 16, 10, 10)}, rtol=1e-4, atol=1e-5)
    assert len(units(exe.source)) == 1
    assert ".res = " in exe.source and ".bias_m = " in exe.source


def test_a_transposed_convolution_keeps_its_epilogue() -> None:
    g = Graph("small_pixels")  # DenseNet's last block: 7 x 7 pixels, few output channels, long reduction
    x = g.add_input("x", "float32", (1, 256, 7, 7))
    r = g.add_input("r", "float32", (1, 32, 7, 7))
    y = conv(g, x, 32, k=1)
    y = g.add_node("add", [y, r]).outputs[0]
    g.outputs = [g.add_node("relu", [y]).outputs[0]]
    exe = compare(g, {"x": rand(1, 256, 7, 7), "r": rand(1, 32, 7, 7)}, rtol=1e-4, atol=1e-5)
    call = exe.source.split("hf_conv2d_gemm(")[1].split(";")[0]
    assert len(units(exe.source)) == 1 and not call.endswith("NULL)")  # a scratch: the transposed product


def test_a_product_reading_its_result_twice_keeps_it_in_registers() -> None:
    g = Graph("addmm")  # torch addmm twice: y1 = a @ b + c, y2 = a @ b + y1
    a = g.add_input("a", "float32", (5, 7))
    mm = g.add_node("matmul", [a, g.constant(rand(7, 9))]).outputs[0]
    y1 = g.add_node("add", [mm, g.constant(rand(9))]).outputs[0]
    g.outputs = [g.add_node("add", [mm, y1]).outputs[0]]
    exe = compare(g, {"a": rand(5, 7)}, rtol=1e-5, atol=1e-5)
    assert len(units(exe.source)) == 1


def test_matmul_bias_and_gelu_are_one_unit() -> None:
    g = Graph("ffn")
    x = g.add_input("x", "float32", (2, 20, 48))
    h = g.add_node("matmul", [x, g.constant(rand(48, 64))]).outputs[0]
    h = g.add_node("add", [h, g.constant(rand(64))]).outputs[0]
    # gelu as exporters write it: x * 0.5 * (1 + erf(x / sqrt(2)))
    e = g.add_node("div", [h, g.constant(np.float32(np.sqrt(2)))]).outputs[0]
    e = g.add_node("erf", [e]).outputs[0]
    e = g.add_node("add", [e, g.constant(np.float32(1))]).outputs[0]
    e = g.add_node("mul", [h, e]).outputs[0]
    g.outputs = [g.add_node("mul", [e, g.constant(np.float32(0.5))]).outputs[0]]
    exe = compare(g, {"x": rand(2, 20, 48)}, rtol=1e-4, atol=1e-5)
    assert "static void post" in exe.source  # the gelu chain reads the product twice, from registers
    assert len(units(exe.source)) == 1


def test_matmul_with_an_epilogue_chain_is_one_unit() -> None:
    g = Graph("chain")
    x = g.add_input("x", "float32", (33, 40))
    h = g.add_node("matmul", [x, g.constant(rand(40, 50))]).outputs[0]
    h = g.add_node("mul", [h, g.constant(rand(50))]).outputs[0]  # per column: folded into the weights
    h = g.add_node("add", [h, g.constant(rand(50))]).outputs[0]
    h = g.add_node("sigmoid", [h]).outputs[0]
    g.outputs = [g.add_node("mul", [h, g.constant(np.float32(3))]).outputs[0]]
    exe = compare(g, {"x": rand(33, 40)}, rtol=1e-4, atol=1e-5)
    assert len(units(exe.source)) == 1 and "static void post" in exe.source
    assert sum(p.folded_into is not None for p in exe.placement()) == 1


def test_an_elementwise_chain_is_one_loop() -> None:
    g = Graph("ew")
    x = g.add_input("x", "float32", (4, 7, 9))
    b = g.add_input("b", "float32", (9,))
    h = g.add_node("exp", [x]).outputs[0]
    h = g.add_node("add", [h, b]).outputs[0]
    h = g.add_node("mul", [h, x]).outputs[0]
    g.outputs = [g.add_node("tanh", [h]).outputs[0]]
    exe = compare(g, {"x": rand(4, 7, 9), "b": rand(9)})
    assert len(units(exe.source)) == 1
    assert exe.source.count("for (long i0") == 1


def test_a_value_used_twice_is_materialized_once() -> None:
    g = Graph("fanout")
    x = g.add_input("x", "float32", (5, 6))
    a = g.add_node("relu", [x]).outputs[0]
    b = g.add_node("mul", [a, g.constant(np.float32(2))]).outputs[0]
    c = g.add_node("add", [a, g.constant(np.float32(1))]).outputs[0]
    g.outputs = [b, c]
    exe = compare(g, {"x": rand(5, 6)})
    assert len(units(exe.source)) == 3


def test_concat_inputs_are_produced_in_place() -> None:
    g = Graph("dense")
    x = g.add_input("x", "float32", (1, 4, 9, 9))
    a = conv(g, x, 6)
    b = g.add_node("relu", [conv(g, x, 5)]).outputs[0]
    ab = g.add_node("concat", [a, b], {"axis": 1}).outputs[0]
    c = conv(g, ab, 3)
    g.outputs = [g.add_node("concat", [ab, c], {"axis": 1}).outputs[0]]
    exe = compare(g, {"x": rand(1, 4, 9, 9)}, rtol=1e-4, atol=1e-5)
    assert exe.source.count("every input was produced in place") == 2


def test_concat_of_a_graph_input_copies_it() -> None:
    g = Graph("concat_input")
    x = g.add_input("x", "float32", (1, 3, 4))
    y = g.add_node("relu", [x]).outputs[0]
    g.outputs = [g.add_node("concat", [x, y], {"axis": 1}).outputs[0]]
    exe = compare(g, {"x": rand(1, 3, 4)})
    assert "memcpy" in exe.source


def test_split_pieces_are_views() -> None:
    g = Graph("split")
    x = g.add_input("x", "float32", (1, 6, 5))
    y = g.add_node("relu", [x]).outputs[0]
    parts = g.add_node("split", [y], {"axis": 1, "sizes": (2, 4)}).outputs
    g.outputs = [g.add_node("neg", [p]).outputs[0] for p in parts]
    exe = compare(g, {"x": rand(1, 6, 5)})
    assert "every output is a view of the input" in exe.source


def test_the_arena_reuses_memory_by_liveness() -> None:
    g = Graph("deep")
    h = g.add_input("x", "float32", (1, 8, 32, 32))
    for _ in range(10):
        h = conv(g, h, 8)
    g.outputs = [h]
    exe = compare(g, {"x": rand(1, 8, 32, 32)}, rtol=1e-3, atol=1e-4)
    one = 8 * 32 * 32 * 4
    assert exe.info.arena_bytes <= 3 * one  # ten intermediates, at most two alive at once


def test_threads_option_and_config() -> None:
    g = Graph("t")
    x = g.add_input("x", "float32", (64, 96))
    g.outputs = [g.add_node("matmul", [x, g.constant(rand(96, 80))]).outputs[0]]
    feeds = {"x": rand(64, 96)}
    one = compare(g, feeds, threads=1, rtol=1e-4, atol=1e-5).run(feeds)
    two = compare(g, feeds, threads=2, rtol=1e-4, atol=1e-5).run(feeds)
    np.testing.assert_allclose(one[g.outputs[0].name], two[g.outputs[0].name], rtol=1e-5, atol=1e-6)
    before = get_config()
    set_config(dataclasses.replace(before, num_threads=3))
    try:
        assert CpuCBackend().compile(g).threads == 3
        assert CpuCBackend().compile(g, threads=1).threads == 1
    finally:
        set_config(before)


def test_a_symbolic_batch_is_compiled_once() -> None:
    g = Graph("sym")
    x = g.add_input("x", "float32", ("N", 12))
    h = g.add_node("matmul", [x, g.constant(rand(12, 7))]).outputs[0]
    g.outputs = [g.add_node("softmax", [h], {"axis": -1}).outputs[0]]
    exe = CpuCBackend().compile(g)
    for n in (1, 5, 1):
        compare(g, {"x": rand(n, 12)})
        exe.run({"x": rand(n, 12)})
    assert exe.specializations == 1


def test_a_symbolic_inner_dim_is_compiled_per_shape() -> None:
    g = Graph("sym_inner")
    x = g.add_input("x", "float32", (3, "T"))
    g.outputs = [g.add_node("relu", [x]).outputs[0]]
    exe = CpuCBackend().compile(g)
    for n in (1, 5, 1):
        compare(g, {"x": rand(3, n)})
        exe.run({"x": rand(3, n)})
    assert exe.specializations == 2
    assert "compiled per input shape" in exe.report() and "axis 1" in exe.report()


@pytest.mark.parametrize("flags", [("-mno-avx512f",), ("-mno-avx512f", "-mno-avx2", "-mno-fma")], ids=["avx2", "generic"])
def test_other_instruction_sets_give_the_same_numbers(flags: tuple[str, ...]) -> None:
    g = Graph("isa")
    x = g.add_input("x", "float32", (2, 6, 11, 11))
    h = g.add_node("relu", [conv(g, x, 13)]).outputs[0]
    h = g.add_node("reshape", [h], {"shape": (2, -1)}).outputs[0]
    g.outputs = [g.add_node("matmul", [h, g.constant(rand(13 * 121, 9))]).outputs[0]]
    compare(g, {"x": rand(2, 6, 11, 11)}, cflags=flags, rtol=1e-4, atol=1e-4)
