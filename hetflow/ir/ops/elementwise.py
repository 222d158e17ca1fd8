"""Elementwise ops: unary math and activations, binary arithmetic and comparison, select, cast."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import broadcast_infer, compare_infer, in_type, same_as_input
from hetflow.ir.registry import REQUIRED, defop
from hetflow.ir.types import TensorType

_HALF = (np.dtype(np.float16), DType.bfloat16.numpy)


def _via_float32(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """Evaluate 16-bit float inputs in float32 and round once at the end, as ONNX Runtime does."""

    @functools.wraps(fn)
    def compute(x: np.ndarray, *args: np.ndarray, **attrs: object) -> np.ndarray:
        if x.dtype in _HALF:
            return np.asarray(fn(x.astype(np.float32), *args, **attrs)).astype(x.dtype)
        return fn(x, *args, **attrs)

    return compute


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz–Stegun 7.1.26 is only 1e-7 accurate; use math.erf vectorised for exactness.
    return _ERF_UFUNC(x).astype(x.dtype)


_ERF_UFUNC = np.frompyfunc(math.erf, 1, 1)


def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.round(x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (1.0 / (1.0 + np.exp(-x))).astype(x.dtype, copy=False)


def _softplus(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.logaddexp(x, 0).astype(x.dtype, copy=False)


# name -> NumPy function of one array. Each becomes an IR op of family "elementwise".
UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "abs": np.abs,
    "neg": np.negative,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "reciprocal": np.reciprocal,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "asinh": np.arcsinh,
    "acosh": np.arccosh,
    "atanh": np.arctanh,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": _round_half_even,
    "sign": np.sign,
    "erf": _erf,
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "relu": lambda x: np.maximum(x, np.zeros((), x.dtype)),
    "softplus": _softplus,
    "softsign": lambda x: x / (1 + np.abs(x)),
    "identity": lambda x: x,
    "logical_not": np.logical_not,
    "bitwise_not": np.invert,
}


def _math(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    @_via_float32
    def compute(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = fn(x)
        return np.asarray(out).astype(x.dtype) if x.dtype != object else np.asarray(out)

    compute.__doc__ = f"y = {getattr(fn, '__name__', 'f')}(x), elementwise."
    return compute


for _name, _fn in UNARY.items():
    defop(_name, family="elementwise", infer=same_as_input, elementwise=True)(_math(_fn))


def _is_check_infer(node: Node) -> list[TensorType]:
    return [in_type(node, 0).with_dtype(DType.bool)]


@defop("isnan", family="elementwise", infer=_is_check_infer, elementwise=True)
def isnan(x: np.ndarray) -> np.ndarray:
    return np.isnan(x)


@defop("isinf", family="elementwise", infer=_is_check_infer, elementwise=True,
       attrs={"detect_negative": True, "detect_positive": True})
def isinf(x: np.ndarray, *, detect_negative: bool, detect_positive: bool) -> np.ndarray:
    return np.isinf(x) & ((x > 0) & detect_positive | (x < 0) & detect_negative)


# ------------------------------------------------------------------ parametric activations
@defop("leaky_relu", family="elementwise", infer=same_as_input, elementwise=True, attrs={"alpha": 0.01})
@_via_float32
def leaky_relu(x: np.ndarray, *, alpha: float) -> np.ndarray:
    return np.where(x >= 0, x, x * x.dtype.type(alpha))


@defop("elu", family="elementwise", infer=same_as_input, elementwise=True, attrs={"alpha": 1.0})
@_via_float32
def elu(x: np.ndarray, *, alpha: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.where(x > 0, x, alpha * (np.exp(x) - 1)).astype(x.dtype)


@defop("selu", family="elementwise", infer=same_as_input, elementwise=True,
       attrs={"alpha": 1.67326319217681884765625, "gamma": 1.05070102214813232421875})
@_via_float32
def selu(x: np.ndarray, *, alpha: float, gamma: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (gamma * np.where(x > 0, x, alpha * (np.exp(x) - 1))).astype(x.dtype)


@defop("celu", family="elementwise", infer=same_as_input, elementwise=True, attrs={"alpha": 1.0})
@_via_float32
def celu(x: np.ndarray, *, alpha: float) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (np.maximum(0, x) + np.minimum(0, alpha * (np.exp(x / alpha) - 1))).astype(x.dtype)


@defop("thresholded_relu", family="elementwise", infer=same_as_input, elementwise=True, attrs={"alpha": 1.0})
@_via_float32
def thresholded_relu(x: np.ndarray, *, alpha: float) -> np.ndarray:
    return np.where(x > alpha, x, 0).astype(x.dtype)


@defop("hard_sigmoid", family="elementwise", infer=same_as_input, elementwise=True, attrs={"alpha": 0.2, "beta": 0.5})
@_via_float32
def hard_sigmoid(x: np.ndarray, *, alpha: float, beta: float) -> np.ndarray:
    return np.clip(alpha * x + beta, 0, 1).astype(x.dtype)


@defop("gelu", family="elementwise", infer=same_as_input, elementwise=True, attrs={"approximate": "none"})
@_via_float32
def gelu(x: np.ndarray, *, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    else:
        y = 0.5 * x * (1 + _erf(x / np.sqrt(2).astype(x.dtype)))
    return y.astype(x.dtype)


@defop("clip", family="elementwise", infer=same_as_input, elementwise=True, attrs={"min": None, "max": None})
def clip(x: np.ndarray, *, min: float | None, max: float | None) -> np.ndarray:  # noqa: A002
    """Clamp to [min, max]; a None bound is absent."""
    lo = x.dtype.type(min) if min is not None else None
    hi = x.dtype.type(max) if max is not None else None
    if lo is None and hi is None:
        return x
    return np.clip(x, lo, hi)


# ------------------------------------------------------------------ binary
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "sub": np.subtract,
    "mul": np.multiply,
    "max": np.maximum,
    "min": np.minimum,
    "bitwise_and": np.bitwise_and,
    "bitwise_or": np.bitwise_or,
    "bitwise_xor": np.bitwise_xor,
}
COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "equal": np.equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
    "logical_xor": np.logical_xor,
}


def _binary(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], keep_dtype: bool) -> Callable[..., np.ndarray]:
    def compute(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            out = fn(a, b)
        return np.asarray(out, dtype=a.dtype) if keep_dtype else np.asarray(out)

    compute.__doc__ = f"y = {fn.__name__}(a, b) with NumPy broadcasting."
    return compute


for _name, _fn in BINARY.items():
    defop(_name, family="elementwise", infer=broadcast_infer, elementwise=True)(_binary(_fn, True))
for _name, _fn in COMPARE.items():
    defop(_name, family="elementwise", infer=compare_infer, elementwise=True)(_binary(_fn, False))


@defop("div", family="elementwise", infer=broadcast_infer, elementwise=True)
def div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b; integer division truncates toward zero as in C."""
    with np.errstate(all="ignore"):
        if a.dtype.kind in "iu":
            # Exact for all 64-bit values (a float quotient would round): floor, then step toward zero.
            q = np.floor_divide(a, b)
            inexact = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
            return np.asarray(q + inexact, dtype=a.dtype)
        return np.asarray(a / b, dtype=a.dtype)


@defop("pow", family="elementwise", infer=broadcast_infer, elementwise=True)
def power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a ** b in the base's type; the exponent may have another type. Integer ** negative truncates toward 0."""
    with np.errstate(all="ignore"):
        if a.dtype.kind in "iu" and b.dtype.kind in "iu":
            exact = np.power(a, np.maximum(b, 0).astype(b.dtype))
            if np.any(b < 0):
                exact = np.where(b < 0, np.trunc(np.power(a.astype(np.float64), b.astype(np.float64))), exact)
            return np.asarray(exact).astype(a.dtype)
        return np.asarray(np.power(a, b)).astype(a.dtype)


@defop("mod", family="elementwise", infer=broadcast_infer, elementwise=True, attrs={"fmod": False})
def mod(a: np.ndarray, b: np.ndarray, *, fmod: bool) -> np.ndarray:
    """Remainder: with fmod the sign follows the dividend (C fmod), otherwise the divisor (Python %)."""
    with np.errstate(all="ignore"):
        return np.asarray(np.fmod(a, b) if fmod else np.mod(a, b), dtype=a.dtype)


@defop("bit_shift", family="elementwise", infer=broadcast_infer, elementwise=True, attrs={"direction": REQUIRED})
def bit_shift(a: np.ndarray, b: np.ndarray, *, direction: str) -> np.ndarray:
    return np.left_shift(a, b) if direction == "LEFT" else np.right_shift(a, b)


@defop("prelu", family="elementwise", infer=broadcast_infer, elementwise=True)
def prelu(x: np.ndarray, slope: np.ndarray) -> np.ndarray:
    return np.where(x < 0, x * slope, x).astype(x.dtype)


def _where_infer(node: Node) -> list[TensorType]:
    t = broadcast_infer(node)[0]
    return [t.with_dtype(in_type(node, 1).dtype)]


@defop("where", family="elementwise", infer=_where_infer, elementwise=True)
def where(cond: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.where(cond, a, b)


def _cast_infer(node: Node) -> list[TensorType]:
    return [in_type(node, 0).with_dtype(DType.of(node.attrs["to"]))]


@defop("cast", family="elementwise", infer=_cast_infer, elementwise=True, attrs={"to": REQUIRED, "saturate": True})
def cast(x: np.ndarray, *, to: str, saturate: bool) -> np.ndarray:
    target = DType.of(to)
    if target is DType.string:
        return x.astype(str).astype(object) if x.dtype != object else x
    if x.dtype == object:
        return x.astype(np.float64 if target.is_float else target.numpy).astype(target.numpy)
    with np.errstate(all="ignore"):
        return x.astype(target.numpy)
