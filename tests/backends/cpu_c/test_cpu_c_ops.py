"""Every entry of the cpu_c table, generated and compared with the reference backend on random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from backends.cpu_c.helpers import compare

from hetflow.backends.cpu_c.table import TABLE
from hetflow.ir import Graph

RNG = np.random.default_rng(0)
SHAPE = (3, 17, 5)  # odd sizes: vector remainders everywhere

# op -> input range for its random input
DOMAIN = {
    "log": (0.05, 4.0), "sqrt": (0.0, 4.0), "reciprocal": (0.2, 4.0), "asin": (-0.95, 0.95), "acos": (-0.95, 0.95),
    "atanh": (-0.95, 0.95), "acosh": (1.05, 4.0), "tan": (-1.2, 1.2),
}
UNARY = ["abs", "neg", "exp", "log", "sqrt", "reciprocal", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh",
         "asinh", "acosh", "atanh", "floor", "ceil", "sign", "erf", "tanh", "sigmoid", "relu", "softplus", "softsign"]
PARAMETRIC = [
    ("leaky_relu", {"alpha": 0.1}), ("elu", {"alpha": 0.7}), ("selu", {}), ("celu", {"alpha": 0.5}),
    ("thresholded_relu", {"alpha": 0.5}), ("hard_sigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("gelu", {"approximate": "none"}), ("gelu", {"approximate": "tanh"}),
    ("clip", {"min": -0.5, "max": 1.0}), ("clip", {"min": None, "max": 0.25}), ("clip", {"min": 0.0, "max": None}),
]
BINARY = ["add", "sub", "mul", "div", "pow", "max", "min", "prelu"]
COMPARE = ["equal", "less", "less_equal", "greater", "greater_equal"]
LOGICAL = ["logical_and", "logical_or", "logical_xor"]
TESTED: set[str] = set()


def rand(shape: tuple[int, ...], lo: float = -3.0, hi: float = 3.0, dtype: str = "float32") -> np.ndarray:
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-5, 6, shape).astype(dtype)
    if dtype == "bool":
        return RNG.random(shape) < 0.5
    return RNG.uniform(lo, hi, shape).astype(dtype)


def one_node(op: str, inputs: dict[str, np.ndarray], attrs: dict | None = None, consts: dict[str, np.ndarray] | None = None,
             num_outputs: int | None = None) -> tuple[Graph, dict[str, np.ndarray]]:
    """A graph of one node: ``inputs`` are graph inputs, ``consts`` constants, in that order."""
    TESTED.add(op)
    g = Graph(op)
    args = [g.add_input(k, str(v.dtype) if v.dtype != bool else "bool", v.shape) for k, v in inputs.items()]
    args += [g.constant(v, k) for k, v in (consts or {}).items()]
    node = g.add_node(op, args, attrs or {}, num_outputs=num_outputs)
    g.outputs = list(node.outputs)
    return g, inputs


# ---------------------------------------------------------------- elementwise
@pytest.mark.parametrize("op", UNARY)
def test_unary(op: str) -> None:
    compare(*one_node(op, {"x": rand(SHAPE, *DOMAIN.get(op, (-3.0, 3.0)))}))


def test_round_is_half_to_even() -> None:
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.4, 0.6, 3.0], np.float32)
    compare(*one_node("round", {"x": x}))


def test_isnan() -> None:
    x = rand((4, 9))
    x[1, 2] = x[3, 0] = np.nan
    compare(*one_node("isnan", {"x": x}))


@pytest.mark.parametrize("op,attrs", PARAMETRIC, ids=lambda p: str(p))
def test_parametric(op: str, attrs: dict) -> None:
    compare(*one_node(op, {"x": rand(SHAPE)}, attrs))


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", [((3, 17, 5), (3, 17, 5)), ((3, 1, 5), (17, 1)), ((5,), (3, 17, 5))])
def test_binary_broadcasting(op: str, shapes: tuple) -> None:
    a = rand(shapes[0], 0.5, 3.0) if op == "pow" else rand(shapes[0])
    b = rand(shapes[1], 0.5, 2.0) * np.where(rand(shapes[1]) > 0, 1, -1).astype(np.float32) if op == "div" \
        else rand(shapes[1], -1.5, 1.5)
    compare(*one_node(op, {"a": a, "b": b}))


@pytest.mark.parametrize("fmod", [True, False])
def test_mod(fmod: bool) -> None:
    b = rand((17, 5), 0.5, 2.0) * np.where(rand((17, 5)) > 0, 1, -1).astype(np.float32)
    compare(*one_node("mod", {"a": rand((3, 17, 5), -6, 6), "b": b}, {"fmod": fmod}))


@pytest.mark.parametrize("op", COMPARE)
@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_compare(op: str, dtype: str) -> None:
    a = RNG.integers(-3, 4, (6, 7)).astype(dtype)
    b = RNG.integers(-3, 4, (7,)).astype(dtype)
    compare(*one_node(op, {"a": a, "b": b}))


@pytest.mark.parametrize("op", LOGICAL)
def test_logical(op: str) -> None:
    compare(*one_node(op, {"a": rand((6, 7), dtype="bool"), "b": rand((7,), dtype="bool")}))


def test_logical_not() -> None:
    compare(*one_node("logical_not", {"a": rand((6, 7), dtype="bool")}))


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_where(dtype: str) -> None:
    compare(*one_node("where", {"c": rand((6, 1), dtype="bool"), "a": rand((6, 7), dtype=dtype),
                                "b": rand((7,), dtype=dtype)}))


@pytest.mark.parametrize("src,dst", [("float32", "int32"), ("float32", "int64"), ("float32", "bool"),
                                     ("int64", "float32"), ("bool", "float32"), ("int32", "int64")])
def test_cast(src: str, dst: str) -> None:
    x = rand((6, 7), dtype=src) if src != "float32" else np.array(rand((6, 7)) * 3, np.float32)
    if src == "float32":
        x[0, :3] = [0.0, -0.0, 0.25]
    compare(*one_node("cast", {"x": x}, {"to": dst}))


# ---------------------------------------------------------------- matmul
MATMULS = {
    "2d_const_b": ((37, 300), (300, 45), "b"),
    "kc_blocks": ((25, 600), (600, 70), "b"),
    "2d_dynamic": ((13, 40), (40, 33), None),
    "const_a": ((20, 30), (30, 50), "a"),
    "gemv": ((1, 700), (700, 130), "b"),
    "skinny_dynamic": ((3, 64), (64, 77), None),
    "batched_folded": ((2, 3, 9, 16), (16, 20), "b"),
    "batched_both": ((4, 9, 16), (4, 16, 11), None),
    "batched_broadcast_a": ((9, 16), (3, 16, 11), None),
    "vector_left": ((16,), (16, 5), None),
    "vector_right": ((6, 16), (16,), "b"),
}


@pytest.mark.parametrize("case", list(MATMULS))
def test_matmul(case: str) -> None:
    sa, sb, const = MATMULS[case]
    a, b = rand(sa, -1, 1), rand(sb, -1, 1)
    TESTED.add("matmul")
    g = Graph(case)
    feeds = {k: v for k, v in (("a", a), ("b", b)) if k != const}
    args = [g.constant(v, k) if k == const else g.add_input(k, "float32", v.shape) for k, v in (("a", a), ("b", b))]
    g.outputs = [g.add_node("matmul", args).outputs[0]]
    compare(g, feeds, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- convolution and pooling
CONVS = {
    "3x3": dict(x=(1, 8, 13, 11), w=(16, 8, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
    "3x3_deep_k": dict(x=(1, 64, 9, 9), w=(24, 64, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
    "stride2_asym": dict(x=(2, 5, 15, 14), w=(7, 5, 3, 3), strides=(2, 2), pads=(0, 1, 1, 0)),
    "dilated": dict(x=(1, 4, 16, 16), w=(6, 4, 3, 3), strides=(1, 1), pads=(2, 2, 2, 2), dilations=(2, 2)),
    "1x1": dict(x=(1, 32, 7, 7), w=(50, 32, 1, 1), strides=(1, 1), pads=(0, 0, 0, 0)),
    "1x1_stride2": dict(x=(1, 16, 14, 14), w=(20, 16, 1, 1), strides=(2, 2), pads=(0, 0, 0, 0)),
    "7x7_s2": dict(x=(1, 3, 40, 40), w=(16, 3, 7, 7), strides=(2, 2), pads=(3, 3, 3, 3)),
    "grouped": dict(x=(1, 12, 10, 10), w=(18, 4, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1), group=3),
    "depthwise": dict(x=(2, 10, 12, 12), w=(10, 1, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1), group=10),
    "depthwise_s2": dict(x=(1, 10, 13, 13), w=(10, 1, 3, 3), strides=(2, 2), pads=(1, 1, 1, 1), group=10),
    "depthwise_x2": dict(x=(1, 6, 9, 9), w=(12, 1, 5, 5), strides=(1, 1), pads=(2, 2, 2, 2), group=6),
    "no_bias": dict(x=(1, 3, 8, 8), w=(4, 3, 3, 3), strides=(1, 1), pads=(0, 0, 0, 0), bias=False),
    "1d": dict(x=(2, 4, 30), w=(6, 4, 5), strides=(2,), pads=(2, 1)),
    # few pixels, many channels: the product runs pixels x channels and is transposed back
    "transposed_3x3": dict(x=(2, 64, 7, 7), w=(64, 64, 3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
    "transposed_1x1": dict(x=(1, 256, 7, 7), w=(32, 256, 1, 1), strides=(1, 1), pads=(0, 0, 0, 0)),
    "transposed_s2_grouped": dict(x=(1, 128, 13, 13), w=(128, 64, 3, 3), strides=(2, 2), pads=(1, 1, 1, 1), group=2),
}


@pytest.mark.parametrize("case", list(CONVS))
def test_conv(case: str) -> None:
    spec = dict(CONVS[case])
    x, w = rand(spec.pop("x"), -1, 1), rand(spec.pop("w"), -0.5, 0.5)
    consts = {"w": w}
    if spec.pop("bias", True):
        consts["b"] = rand((w.shape[0],))
    spec.setdefault("dilations", (1,) * (w.ndim - 2))
    compare(*one_node("conv", {"x": x}, spec, consts), rtol=1e-4, atol=1e-5)


POOLS = {
    "3x3_s2": dict(kernel=(3, 3), strides=(2, 2), pads=(0, 0, 0, 0)),
    "2x2_s2": dict(kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0)),
    "3x3_s1_pad": dict(kernel=(3, 3), strides=(1, 1), pads=(1, 1, 1, 1)),
    "ceil": dict(kernel=(3, 3), strides=(2, 2), pads=(0, 0, 0, 0), ceil_mode=True),
    "asym_pads": dict(kernel=(3, 2), strides=(2, 1), pads=(1, 0, 0, 1)),
    "global_like": dict(kernel=(7, 7), strides=(1, 1), pads=(0, 0, 0, 0)),
    "1d": dict(kernel=(3,), strides=(2,), pads=(1, 1)),
}


@pytest.mark.parametrize("op", ["max_pool", "avg_pool"])
@pytest.mark.parametrize("case", list(POOLS))
def test_pool(op: str, case: str) -> None:
    attrs = dict(POOLS[case])
    shape = (2, 3, 15) if len(attrs["kernel"]) == 1 else (2, 3, 14, 15)
    if case == "global_like":
        shape = (1, 4, 7, 7)
    compare(*one_node(op, {"x": rand(shape)}, attrs))


def test_avg_pool_counting_pads() -> None:
    attrs = dict(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1), count_include_pad=True)
    compare(*one_node("avg_pool", {"x": rand((1, 3, 10, 11))}, attrs))


def test_max_pool_dilated() -> None:
    attrs = dict(kernel=(2, 2), strides=(1, 1), pads=(0, 0, 0, 0), dilations=(2, 2))
    compare(*one_node("max_pool", {"x": rand((1, 3, 9, 9))}, attrs))


# ---------------------------------------------------------------- rows: softmax, norms, reductions
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_softmax(op: str, axis: int) -> None:
    compare(*one_node(op, {"x": rand((4, 9, 33), -5, 5)}, {"axis": axis}))


@pytest.mark.parametrize("axis,bias,stats", [(-1, True, False), (1, False, False), (-1, True, True)])
def test_layer_norm(axis: int, bias: bool, stats: bool) -> None:
    x = rand((3, 5, 40))
    consts = {"scale": rand(x.shape[axis % 3:], 0.5, 1.5)}
    if bias:
        consts["bias"] = rand(x.shape[axis % 3:])
    compare(*one_node("layer_norm", {"x": x}, {"axis": axis}, consts, num_outputs=3 if stats else None),
            rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("beta", [0.75, 0.6])
def test_lrn(beta: float) -> None:
    compare(*one_node("lrn", {"x": rand((2, 9, 5, 6))}, {"size": 5, "alpha": 1e-2, "beta": beta, "bias": 1.5}),
            rtol=1e-4, atol=1e-6)


def test_batch_norm() -> None:
    c = 6
    consts = {"scale": rand((c,), 0.5, 1.5), "bias": rand((c,)), "mean": rand((c,)), "var": rand((c,), 0.5, 2.0)}
    compare(*one_node("batch_norm", {"x": rand((2, c, 5, 7))}, {"epsilon": 1e-3}, consts), rtol=1e-5, atol=1e-5)


REDUCTIONS = [((1,), True), ((2, 3), True), (None, False), ((0,), False), ((3,), True), ((), True)]


@pytest.mark.parametrize("op", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"])
@pytest.mark.parametrize("axes,keepdims", REDUCTIONS)
def test_reduce(op: str, axes: tuple | None, keepdims: bool) -> None:
    lo, hi = (0.7, 1.3) if op == "reduce_prod" else (-3.0, 3.0)
    compare(*one_node(op, {"x": rand((2, 5, 4, 6), lo, hi)}, {"axes": axes, "keepdims": keepdims}),
            rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- data movement
def test_reshape_and_identity_are_views() -> None:
    g = Graph("views")
    x = g.add_input("x", "float32", (4, 6))
    y = g.add_node("reshape", [x], {"shape": (3, 8)}).outputs[0]
    z = g.add_node("identity", [y]).outputs[0]
    g.outputs = [g.add_node("relu", [z]).outputs[0]]
    TESTED.update({"reshape", "identity"})
    exe = compare(g, {"x": rand((4, 6))})
    assert exe.source.count("a view: no code") == 2


@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 0, 1), (0, 2, 1)])
@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_transpose(perm: tuple, dtype: str) -> None:
    compare(*one_node("transpose", {"x": rand((3, 4, 5), dtype=dtype)}, {"perm": perm}))


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_concat(axis: int) -> None:
    compare(*one_node("concat", {"a": rand((2, 3, 4)), "b": rand((2, 3, 4)), "c": rand((2, 3, 4))}, {"axis": axis}))


def test_concat_int64() -> None:
    compare(*one_node("concat", {"a": rand((1, 3), dtype="int64"), "b": rand((1, 5), dtype="int64")}, {"axis": 1}))


@pytest.mark.parametrize("axis,sizes", [(0, (1, 3)), (1, (2, 1, 3)), (2, (4, 2))])
def test_split(axis: int, sizes: tuple) -> None:
    shape = [4, 6, 6]
    shape[axis] = sum(sizes)
    compare(*one_node("split", {"x": rand(tuple(shape))}, {"axis": axis, "sizes": sizes}))


SLICES = {
    "outer_view": dict(starts=(1,), ends=(3,), axes=(0,), steps=(1,)),
    "inner": dict(starts=(1, 0), ends=(4, 100), axes=(1, 2), steps=(1, 2)),
    "negative_step": dict(starts=(-1,), ends=(-100,), axes=(2,), steps=(-2,)),
    "negative_bounds": dict(starts=(-3,), ends=(-1,), axes=(1,), steps=(1,)),
    "reversed_whole_axis": dict(starts=(-1,), ends=(-(2**62),), axes=(0,), steps=(-1,)),
    "one_of_a_unit_axis": dict(starts=(0,), ends=(1,), axes=(1,), steps=(-1,)),
}


@pytest.mark.parametrize("case", list(SLICES))
def test_slice(case: str) -> None:
    compare(*one_node("slice", {"x": rand((4, 5, 7))}, SLICES[case]))


@pytest.mark.parametrize("shape,target", [((3, 1), (2, 3, 4)), ((1,), (5,)), ((4,), (2, 4))])
def test_expand(shape: tuple, target: tuple) -> None:
    compare(*one_node("expand", {"x": rand(shape)}, {"shape": target}))


@pytest.mark.parametrize("dtype", ["float32", "int32"])
def test_pad(dtype: str) -> None:
    compare(*one_node("pad", {"x": rand((2, 3, 4), dtype=dtype)}, {"pads": (0, 1, 2, 1, 0, 3), "value": 2}))


# ---------------------------------------------------------------- coverage of the table itself
def test_every_table_entry_has_a_test() -> None:
    """Every op in the table is exercised by a test above."""
    ops: set[str] = set(UNARY) | {op for op, _ in PARAMETRIC} | set(BINARY) | set(COMPARE) | set(LOGICAL)
    ops |= {"round", "isnan", "mod", "logical_not", "where", "cast", "matmul", "conv", "max_pool", "avg_pool", "softmax",
            "log_softmax", "layer_norm", "lrn", "batch_norm", "reduce_sum", "reduce_mean", "reduce_max", "reduce_min",
            "reduce_prod", "reshape", "identity", "transpose", "concat", "split", "slice", "expand", "pad"}
    ops |= {"conv_transpose", "gather", "gather_elements", "group_norm", "instance_norm", "isinf", "resize"}  # coverage9
    missing = sorted(set(TABLE) - ops)
    assert not missing, f"table entries without a test: {missing}"
