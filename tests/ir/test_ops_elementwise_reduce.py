"""IR-level checks of the elementwise and reduce op families: type inference, FLOP counts, NumPy semantics."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from hetflow.ir import DType, Graph, IRError, get_op


def _node(op, shape=("N", 3, 4), dtype="float32", **attrs):
    g = Graph()
    x = g.add_input("x", dtype, shape)
    return g.add_node(op, [x], attrs)


# ------------------------------------------------------------------ type inference
@pytest.mark.parametrize(
    "axes,keepdims,want",
    [
        (None, True, (1, 1, 1)),
        (None, False, ()),
        ((1,), True, ("N", 1, 4)),
        ((-1,), False, ("N", 3)),
        ((0, 2), False, (3,)),
        ((), True, ("N", 3, 4)),
    ],
)
def test_reduce_infers_shape_with_symbolic_dims(axes, keepdims, want):
    for op in ("reduce_sum", "reduce_mean", "reduce_max", "reduce_min", "reduce_prod"):
        out = _node(op, axes=axes, keepdims=keepdims).outputs[0]
        assert out.type.shape == want and out.type.dtype is DType.float32, op


def test_reduce_unknown_rank_and_bad_axes():
    assert _node("reduce_sum", shape=None, axes=(0,)).outputs[0].type.shape is None
    with pytest.raises(IRError, match=r"axis 3 is out of range for rank 3"):
        _node("reduce_sum", axes=(3,))
    with pytest.raises(IRError, match=r"name an axis twice"):
        _node("reduce_max", axes=(1, -2))
    with pytest.raises(IRError, match=r"axis -4 is out of range"):
        _node("argmax", axis=-4)


def test_argmax_and_cumsum_types():
    arg = _node("argmin", axis=-1, keepdims=False).outputs[0]
    assert arg.type.dtype is DType.int64 and arg.type.shape == ("N", 3)
    assert _node("argmax", axis=0).outputs[0].type.shape == (1, 3, 4)
    cum = _node("cumsum", dtype="int32", axis=1).outputs[0]
    assert cum.type.dtype is DType.int32 and cum.type.shape == ("N", 3, 4)


def test_flop_counts():
    g = Graph()
    x = g.add_input("x", "float32", (4, 5))
    assert get_op("reduce_sum").flop_count(g.add_node("reduce_sum", [x], {"axes": (1,)})) == 20
    assert get_op("reduce_mean").flop_count(g.add_node("reduce_mean", [x], {"axes": (1,)})) == 20 + 4
    assert get_op("argmax").flop_count(g.add_node("argmax", [x], {"axis": 0})) == 20
    assert get_op("cumsum").flop_count(g.add_node("cumsum", [x], {"axis": 0})) == 20
    assert get_op("add").flop_count(g.add_node("add", [x, x])) == 20
    sym = _node("reduce_max", axes=(1,))  # the symbolic batch dim counts as 1 (a per-sample cost)
    assert get_op("reduce_max").flop_count(sym) == 12


# ------------------------------------------------------------------ reduction semantics
def _run(op, *inputs, **attrs):
    opdef = get_op(op)
    g = Graph()
    values = [g.add_input(f"x{i}", DType.of(a.dtype), a.shape) for i, a in enumerate(inputs)]
    node = g.add_node(op, values, attrs)
    (out,) = opdef.run(node, list(inputs))
    assert out.dtype == node.outputs[0].type.dtype.numpy, f"{op}: computed {out.dtype}, inferred {node.outputs[0].type}"
    assert out.shape == node.outputs[0].type.shape, f"{op}: computed {out.shape}, inferred {node.outputs[0].type}"
    return out


@pytest.mark.parametrize(
    "dtype,want",
    [
        (np.float32, {"reduce_sum": 0, "reduce_prod": 1, "reduce_max": -np.inf, "reduce_min": np.inf}),
        (np.int32, {"reduce_sum": 0, "reduce_prod": 1, "reduce_max": -(2**31), "reduce_min": 2**31 - 1, "reduce_mean": 0}),
        (np.uint8, {"reduce_max": 0, "reduce_min": 255}),
        (np.bool_, {"reduce_max": False, "reduce_min": True}),
    ],
)
def test_empty_set_reductions(dtype, want):
    empty = np.zeros((2, 0, 3), dtype)
    for op, value in want.items():
        out = _run(op, empty, axes=(1,), keepdims=False)
        np.testing.assert_array_equal(out, np.full((2, 3), value, dtype), err_msg=op)
    if np.dtype(dtype).kind == "f":
        assert np.isnan(_run("reduce_mean", empty, axes=(1,), keepdims=True)).all()


def test_integer_mean_truncates_toward_zero_exactly():
    x = np.array([[-3, -4], [3, 4], [2**61, 2**61 + 2]], np.int64)
    np.testing.assert_array_equal(_run("reduce_mean", x, axes=(1,), keepdims=False), [-3, 3, 2**61 + 1])


def test_reductions_keep_dtype_and_sum_half_floats_in_float32():
    x = np.ones(5000, np.float16)  # a float16 accumulator would stop at 2048
    assert _run("reduce_sum", x, axes=None, keepdims=False) == np.float16(5000)
    assert _run("cumsum", x, axis=0, exclusive=False, reverse=False)[-1] == np.float16(5000)
    ints = np.array([100, 100, 100], np.int8)
    assert _run("reduce_sum", ints, axes=(0,), keepdims=False) == np.int8(44)  # wraps in its own type, as ONNX


def test_arg_ties_and_cumsum_variants():
    x = np.array([[1, 3, 3, 0], [2, 2, 0, 0]], np.int32)
    np.testing.assert_array_equal(_run("argmax", x, axis=1, keepdims=False, select_last_index=False), [1, 0])
    np.testing.assert_array_equal(_run("argmax", x, axis=1, keepdims=False, select_last_index=True), [2, 1])
    np.testing.assert_array_equal(_run("argmin", x, axis=1, keepdims=True, select_last_index=True), [[3], [3]])
    v = np.array([1, 2, 3, 4], np.float32)
    runs = {
        (False, False): [1, 3, 6, 10],
        (True, False): [0, 1, 3, 6],
        (False, True): [10, 9, 7, 4],
        (True, True): [9, 7, 4, 0],
    }
    for (exclusive, reverse), want in runs.items():
        np.testing.assert_array_equal(_run("cumsum", v, axis=-1, exclusive=exclusive, reverse=reverse), want)


# ------------------------------------------------------------------ elementwise semantics
def test_integer_div_truncates_exactly():
    a = np.array([7, -7, 7, -7, 2**62 + 1, -(2**62) - 1], np.int64)
    b = np.array([2, 2, -2, -2, 3, 3], np.int64)
    np.testing.assert_array_equal(_run("div", a, b), [3, -3, -3, 3, (2**62 + 1) // 3, -((2**62 + 1) // 3)])


def test_pow_keeps_base_type():
    out = _run("pow", np.array([2, -2, 1, 3], np.int32), np.array([3, -1, -5, 2], np.int64))
    np.testing.assert_array_equal(out, [8, 0, 1, 9])
    out = _run("pow", np.array([4.0], np.float32), np.array([0.5], np.float64))
    assert out.dtype == np.float32 and out[0] == 2.0


def test_half_precision_activations_round_once():
    x = np.array([-0.25, -1.5, 0.75], ml_dtypes.bfloat16)
    want = np.where(x.astype(np.float32) > 0, x.astype(np.float32), np.expm1(x.astype(np.float32)))
    np.testing.assert_array_equal(_run("elu", x, alpha=1.0), want.astype(ml_dtypes.bfloat16))
    h = np.linspace(-4, 4, 33).astype(np.float16)
    np.testing.assert_array_equal(_run("tanh", h), np.tanh(h.astype(np.float32)).astype(np.float16))
