"""ONNX elementwise ops through hetflow's reference backend, checked against onnxruntime on seeded random inputs.

Each family is one table-driven test; onnx's ReferenceEvaluator is the oracle only where onnxruntime
has no kernel for the op or type.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx_check import check_node, node_model, run_hetflow

from hetflow.ir.errors import HetflowError, ModelError

F32, F64, F16 = np.float32, np.float64, np.float16
I8, I32, I64, U8 = np.int8, np.int32, np.int64, np.uint8


def rand(shape, dtype=F32, seed=0, lo=-3.0, hi=3.0):
    """Seeded uniform values in [lo, hi) (integers: the same range, rounded)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    values = np.asarray(rng.uniform(lo, hi, shape))
    if np.dtype(dtype).kind in "iu":
        return np.asarray(np.round(values).astype(dtype))
    return values.astype(dtype)


# ------------------------------------------------------------------ unary
# (op, attrs, dtypes, (lo, hi) input range, opset, oracle)
UNARY = [
    ("Abs", {}, (F32, I32, I8, F64), (-3, 3), 13, "ort"),
    ("Neg", {}, (F32, I32, I64), (-3, 3), 13, "ort"),
    ("Exp", {}, (F32, F64), (-3, 3), 13, "ort"),
    ("Log", {}, (F32,), (0.01, 5), 13, "ort"),
    ("Sqrt", {}, (F32, F64), (0, 5), 13, "ort"),
    ("Reciprocal", {}, (F32,), (0.5, 5), 13, "ort"),
    ("Sin", {}, (F32,), (-3, 3), 7, "ort"),
    ("Cos", {}, (F32,), (-3, 3), 17, "ort"),
    ("Tan", {}, (F32,), (-1.2, 1.2), 17, "ort"),
    ("Asin", {}, (F32,), (-0.99, 0.99), 17, "ort"),
    ("Acos", {}, (F32,), (-0.99, 0.99), 17, "ort"),
    ("Atan", {}, (F32,), (-3, 3), 17, "ort"),
    ("Sinh", {}, (F32,), (-3, 3), 9, "ort"),
    ("Cosh", {}, (F32,), (-3, 3), 17, "ort"),
    ("Asinh", {}, (F32,), (-3, 3), 17, "ort"),
    ("Acosh", {}, (F32,), (1.01, 5), 17, "ort"),
    ("Atanh", {}, (F32,), (-0.99, 0.99), 17, "ort"),
    ("Floor", {}, (F32, F64), (-3, 3), 13, "ort"),
    ("Ceil", {}, (F32,), (-3, 3), 13, "ort"),
    ("Round", {}, (F32,), (-3, 3), 11, "ort"),
    ("Sign", {}, (F32, I32, I64), (-3, 3), 13, "ort"),
    ("Erf", {}, (F32,), (-3, 3), 13, "ort"),
    ("Tanh", {}, (F32, F64), (-3, 3), 13, "ort"),
    ("Sigmoid", {}, (F32, F16), (-6, 6), 13, "ort"),
    ("Relu", {}, (F32, I32, I8), (-3, 3), 14, "ort"),
    ("Softplus", {}, (F32,), (-6, 6), 17, "ort"),
    ("Softsign", {}, (F32,), (-3, 3), 17, "ort"),
    ("Identity", {}, (F32, I64, np.bool_), (-3, 3), 17, "ort"),
    ("IsNaN", {}, (F32,), (-3, 3), 13, "ort"),
    ("IsInf", {"detect_negative": 0}, (F32,), (-3, 3), 10, "ort"),
    ("LeakyRelu", {}, (F32,), (-3, 3), 16, "ort"),
    ("LeakyRelu", {"alpha": 0.3}, (F32, F16), (-3, 3), 6, "ort"),
    ("Elu", {"alpha": 0.7}, (F32,), (-3, 3), 6, "ort"),
    ("Selu", {}, (F32,), (-3, 3), 6, "ort"),
    ("Selu", {"alpha": 2.0, "gamma": 3.0}, (F32,), (-3, 3), 6, "ort"),
    ("Celu", {"alpha": 2.0}, (F32,), (-3, 3), 12, "ort"),
    ("ThresholdedRelu", {"alpha": 0.5}, (F32,), (-3, 3), 10, "ort"),
    ("HardSigmoid", {}, (F32,), (-4, 4), 6, "ort"),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, (F32,), (-4, 4), 6, "ort"),
    ("HardSwish", {}, (F32,), (-5, 5), 14, "ort"),
    ("Mish", {}, (F32,), (-5, 5), 18, "ort"),
    ("Gelu", {}, (F32,), (-4, 4), 20, "ort"),
    ("Gelu", {"approximate": "tanh"}, (F32,), (-4, 4), 20, "ort"),
    ("Shrink", {}, (F32,), (-2, 2), 9, "ort"),
    ("Shrink", {"lambd": 1.5, "bias": 1.0}, (F32, I32, I8), (-4, 4), 9, "ort"),
    ("Shrink", {"lambd": 1.0, "bias": 1.0}, (U8,), (0, 6), 9, "ort"),
    ("Clip", {"min": -1.0, "max": 0.5}, (F32,), (-3, 3), 6, "ort"),
    ("Clip", {"max": 0.5}, (F32,), (-3, 3), 6, "ort"),
    ("Not", {}, (np.bool_,), (-3, 3), 1, "ort"),
    ("BitwiseNot", {}, (I32, U8, I8), (-100, 100), 18, "ort"),
]


@pytest.mark.parametrize("op,attrs,dtypes,domain,opset,oracle", UNARY, ids=lambda v: v if isinstance(v, str) else None)
def test_unary(op, attrs, dtypes, domain, opset, oracle):
    for i, dtype in enumerate(dtypes):
        lo, hi = (0, 100) if np.dtype(dtype).kind == "u" else domain
        shape = [(2, 3, 4), (7,), ()][i % 3]
        x = rand(shape, dtype, seed=i, lo=lo, hi=hi)
        tol = {"rtol": 2e-3, "atol": 1e-3} if dtype == F16 else {"rtol": 1e-5, "atol": 1e-6}
        check_node(op, {"x": x}, attrs, opset=opset, oracle=oracle, **tol)


def test_unary_special_values():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.5, -2.5, 2.5], F32)
    for op, attrs in [("IsNaN", {}), ("IsInf", {}), ("IsInf", {"detect_positive": 0}), ("Round", {}), ("Sign", {}),
                      ("Relu", {}), ("Abs", {}), ("Sigmoid", {}), ("Softplus", {})]:
        check_node(op, {"x": x}, attrs, opset=17)


# ------------------------------------------------------------------ binary, broadcasting
SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (2, 3)), ((2, 1, 4), (3, 1))]

# (op, attrs, dtypes, opset)
BINARY = [
    ("Add", {}, (F32, I32, I64, F16), 14),
    ("Sub", {}, (F32, I64, U8), 14),
    ("Mul", {}, (F32, I32, F64), 14),
    ("Div", {}, (F32, I32, I64), 14),
    ("Add", {}, (F32,), 7),
    ("Mul", {}, (F32,), 13),
    ("Pow", {}, (F32,), 15),
    ("Mod", {}, (I32, I64, I8), 13),
    ("Mod", {"fmod": 1}, (F32, I32, I64), 13),
    ("BitwiseAnd", {}, (I32, U8), 18),
    ("BitwiseOr", {}, (I64, I8), 18),
    ("BitwiseXor", {}, (I32, U8), 18),
    ("Equal", {}, (F32, I32, np.bool_), 13),
    ("Less", {}, (F32, I64), 13),
    ("LessOrEqual", {}, (F32, I32), 16),
    ("Greater", {}, (F32, I32), 9),
    ("GreaterOrEqual", {}, (F32, I64), 12),
    ("And", {}, (np.bool_,), 7),
    ("Or", {}, (np.bool_,), 7),
    ("Xor", {}, (np.bool_,), 7),
    ("Max", {}, (F32, I32), 13),
    ("Min", {}, (F32, I64), 13),
    ("Sum", {}, (F32, F64), 13),
    ("Mean", {}, (F32,), 13),
]


@pytest.mark.parametrize("op,attrs,dtypes,opset", BINARY, ids=lambda v: v if isinstance(v, str) else None)
def test_binary(op, attrs, dtypes, opset):
    for i, dtype in enumerate(dtypes):
        for j, (sa, sb) in enumerate(SHAPES):
            a = rand(sa, dtype, seed=10 * i + j, lo=-20, hi=20)
            b = rand(sb, dtype, seed=10 * i + j + 1, lo=-20, hi=20)
            if op in ("Div", "Mod") and np.dtype(dtype).kind in "iu":
                b[b == 0] = 3  # integer division by zero is undefined
            if op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual") and dtype is not np.bool_:
                b.reshape(-1)[::2] = a.reshape(-1)[0]  # make some elements equal
            tol = {"rtol": 2e-3, "atol": 1e-3} if dtype == F16 else {}
            check_node(op, {"a": a, "b": b}, attrs, opset=opset, **tol)


def test_pow_types_and_exponent_dtypes():
    base = rand((3, 4), F32, lo=0.1, hi=3)
    for exp_dtype in (F32, I64, I32, F64):
        check_node("Pow", {"a": base, "b": rand((4,), exp_dtype, seed=1, lo=-2, hi=3)}, opset=15)
    for base_dtype in (I32, I64):
        ints = rand((3, 4), base_dtype, lo=-5, hi=5)
        check_node("Pow", {"a": ints, "b": rand((3, 4), base_dtype, seed=2, lo=0, hi=4)}, opset=15)
    check_node("Pow", {"a": base, "b": np.array(2.0, F32)}, opset=7)


def test_bitshift():
    for dtype in (np.uint8, np.uint32, np.uint64):
        x = rand((2, 5), dtype, lo=0, hi=200)
        y = rand((5,), dtype, seed=1, lo=0, hi=5)
        for direction in ("LEFT", "RIGHT"):
            check_node("BitShift", {"x": x, "y": y}, {"direction": direction}, opset=11)


def test_prelu_and_where():
    x = rand((2, 3, 4, 5))
    for slope_shape in [(3, 1, 1), (5,), (1,), (2, 3, 4, 5)]:
        check_node("PRelu", {"x": x, "slope": rand(slope_shape, seed=1)}, opset=16)
    check_node("PRelu", {"x": x, "slope": rand((3, 1, 1), seed=1)}, opset=9, const_inputs=["slope"])
    for dtype in (F32, I64):
        cond = rand((3, 1, 4), np.bool_, seed=3)
        check_node("Where", {"c": cond, "a": rand((2, 1, 1, 4), dtype), "b": rand((3, 4), dtype, seed=1)}, opset=16)


def test_variadic():
    a, b, c = rand((2, 3, 4)), rand((3, 1), seed=1), rand((4,), seed=2)
    for op in ("Sum", "Mean", "Max", "Min"):
        check_node(op, {"a": a}, opset=13)
        check_node(op, {"a": a, "b": b, "c": c}, opset=13)
        check_node(op, {"a": a, "b": b, "c": c, "d": rand((1, 3, 4), seed=3)}, opset=8)
    for op in ("Max", "Min"):
        check_node(op, {"a": rand((5,), U8, lo=0, hi=9), "b": rand((2, 5), U8, seed=4, lo=0, hi=9)}, opset=12)


# ------------------------------------------------------------------ Clip
def test_clip_versions():
    x = rand((3, 4, 5))
    lo, hi = np.array(-0.5, F32), np.array(1.2, F32)
    check_node("Clip", {"x": x}, opset=6)
    check_node("Clip", {"x": x}, {"min": 0.0}, opset=6)
    for opset in (11, 12, 13):
        check_node("Clip", {"x": x, "lo": lo, "hi": hi}, opset=opset, const_inputs=["lo", "hi"])
        check_node("Clip", {"x": x, "lo": lo, "hi": hi}, opset=opset)  # runtime bounds: max / min ops
    check_node("Clip", {"x": x, "lo": lo, "hi": None}, opset=13, const_inputs=["lo"])
    check_node("Clip", {"x": x, "lo": None, "hi": hi}, opset=13)
    check_node("Clip", {"x": x, "lo": lo, "hi": hi}, opset=13, const_inputs=["hi"])  # one of each
    check_node("Clip", {"x": x, "lo": hi, "hi": lo}, opset=13, const_inputs=["lo", "hi"])  # min > max gives max
    check_node("Clip", {"x": x, "lo": hi, "hi": lo}, opset=13)
    check_node("Clip", {"x": x}, opset=13)
    for dtype in (I32, I64, U8, I8):
        xi = rand((4, 5), dtype, lo=0 if dtype == U8 else -50, hi=50)
        check_node("Clip", {"x": xi, "lo": np.array(2, dtype), "hi": np.array(30, dtype)}, opset=13,
                   const_inputs=["lo", "hi"])
        check_node("Clip", {"x": xi, "lo": np.array(2, dtype), "hi": np.array(30, dtype)}, opset=13)


# ------------------------------------------------------------------ Cast
CAST_TYPES = [F32, F64, F16, I8, I32, I64, U8, np.uint16, np.bool_]
TO_ONNX = {np.dtype(t): t_onnx for t, t_onnx in zip(CAST_TYPES, (1, 11, 10, 3, 6, 7, 2, 4, 9))}


def test_cast_matrix():
    for i, src in enumerate(CAST_TYPES):
        x = rand((3, 4), src, seed=i, lo=0 if np.dtype(src).kind == "u" else -100, hi=100)
        for dst in CAST_TYPES:
            if np.dtype(src).kind == "f" and np.dtype(dst).kind in "iu":
                x = np.trunc(x)  # fractional float -> int is well defined, out of range is not
            opset = 19 if i % 2 else 13
            check_node("Cast", {"x": x}, {"to": TO_ONNX[np.dtype(dst)]}, opset=opset)
            check_node("CastLike", {"x": x, "like": np.zeros((1,), dst)}, opset=15 + 4 * (i % 2))


def test_cast_special_floats_and_bfloat16():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, 1e-8, 65504.0, 1e5, -3.3], F32)
    for to in (10, 11, 9):  # float16, double, bool
        check_node("Cast", {"x": x}, {"to": to}, opset=13)
    # onnxruntime cannot hand bfloat16 back to NumPy; and bfloat16 NaN compares unequal in assert_close
    bf16 = check_node("Cast", {"x": x[1:]}, {"to": 16}, opset=13, oracle="reference")[0]
    check_node("Cast", {"x": bf16}, {"to": 1}, opset=13, oracle="reference")
    # opset 1 names the type ('to' is a string); neither oracle runs it, NumPy is the expectation
    (got,) = run_hetflow(node_model("Cast", {"x": x}, {"to": "FLOAT16"}, opset=1), {"x": x})
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, x.astype(F16))
    assert got.dtype == F16


def test_cast_from_string():
    x = np.array(["1.5", "-2", "1e3", "NaN", "INF", "-INF", "+INF", "0.25"], dtype=object)
    check_node("Cast", {"x": x}, {"to": 1}, opset=13)
    check_node("Cast", {"x": x}, {"to": 11}, opset=13)


@pytest.mark.parametrize("to", [17, 19, 21, 22, 8])  # float8e4m3fn, float8e5m2, uint4, int4, string
def test_cast_to_unsupported_type_fails_clearly(to):
    model = node_model("Cast", {"x": rand((2,))}, {"to": to}, opset=21)
    with pytest.raises(ModelError, match=r"node 'Cast_0' \(Cast\): casting to \w+ is not supported"):
        run_hetflow(model, {"x": rand((2,))})


# ------------------------------------------------------------------ legacy broadcast (opset < 7)
def test_legacy_broadcast_attribute():
    # onnxruntime has no opset-6 Add; the expected value is NumPy with B aligned at ``axis``.
    a, b = rand((2, 3, 4, 5)), rand((3, 4), seed=1)
    for op, fn in [("Add", np.add), ("Sub", np.subtract), ("Mul", np.multiply), ("Div", np.divide)]:
        model = node_model(op, {"a": a, "b": b}, {"broadcast": 1, "axis": 1}, opset=6)
        (got,) = run_hetflow(model, {"a": a, "b": b})
        np.testing.assert_allclose(got, fn(a, b[:, :, None]), rtol=1e-6)
    model = node_model("Add", {"a": a, "b": rand((5,), seed=2)}, {"broadcast": 1}, opset=6)
    (got,) = run_hetflow(model, {"a": a, "b": rand((5,), seed=2)})
    np.testing.assert_allclose(got, a + rand((5,), seed=2))
    model = node_model("Greater", {"a": a, "b": b}, {"broadcast": 1, "axis": -3}, opset=6)
    (got,) = run_hetflow(model, {"a": a, "b": b})
    np.testing.assert_array_equal(got, a > b[:, :, None])
    # PRelu before opset 7: a 1-D slope is per channel (axis 1)
    x, slope = rand((2, 3, 4)), rand((3,), seed=3)
    (got,) = run_hetflow(node_model("PRelu", {"x": x, "slope": slope}, opset=6), {"x": x, "slope": slope})
    np.testing.assert_allclose(got, np.where(x < 0, x * slope[:, None], x))


# ------------------------------------------------------------------ errors
def test_errors_name_node_and_op():
    with pytest.raises(HetflowError, match=r"node 'BitShift_0' \(BitShift\): direction must be"):
        run_hetflow(node_model("BitShift", {"x": np.ones(2, U8), "y": np.ones(2, U8)}, opset=11), {})
    with pytest.raises(HetflowError, match=r"node 'Add_0'.*do not broadcast"):
        model = node_model("Add", {"a": rand((2, 3)), "b": rand((4,))}, opset=14)
        run_hetflow(model, {"a": rand((2, 3)), "b": rand((4,))})
