"""ONNX elementwise ops -> IR elementwise ops.

One function per ONNX op, named like the op; ``Name_vN`` is the form from opset N on. Ops whose
only change across versions was a widened type list keep one function. Ops the IR has no node
for (HardSwish, Mish, Shrink, Mean, ...) are decomposed into IR elementwise ops here.
"""

from __future__ import annotations

import math

import numpy as np
import onnx

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.importer import onnx_dtype
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Value
from hetflow.ir.errors import ModelError

FLT_MAX = float(np.finfo(np.float32).max)
"""The bound Clip-6 uses when min or max is not given."""


# ------------------------------------------------------------------ helpers
def _scalar(ctx: Ctx, value: float, like: Value, name: str = "const") -> Value:
    """A rank-0 constant holding ``value`` in the element type of ``like``."""
    return ctx.const(np.asarray(value).astype(like.type.dtype.numpy), name=name)


def _legacy_broadcast(ctx: Ctx, a: Value, b: Value, broadcast: int, axis: int | None) -> Value:
    """Opset < 7: with ``broadcast=1`` and ``axis``, B's dims line up with A's starting at ``axis``.

    NumPy broadcasting lines B up with A's trailing dims, so B gets trailing size-1 dims.
    """
    if not broadcast or axis is None:
        return b
    rank_a, rank_b = a.type.rank, b.type.rank
    if rank_a is None or rank_b is None:
        raise ctx.fail("legacy broadcast with 'axis' needs inputs of known rank")
    start = axis % rank_a if rank_a else 0
    tail = rank_a - start - rank_b
    if tail < 0:
        raise ctx.fail(f"B of rank {rank_b} does not fit into A of rank {rank_a} from axis {axis}")
    if tail == 0:
        return b
    return ctx.emit("reshape", [b], shape=(0,) * rank_b + (1,) * tail)


def _variadic(ctx: Ctx, op: str, inputs: tuple[Value, ...]) -> Value:
    if not inputs:
        raise ctx.fail("needs at least one input")
    if len(inputs) == 1:
        return ctx.emit("identity", [inputs[0]])
    out = inputs[0]
    for v in inputs[1:]:
        out = ctx.emit(op, [out, v])
    return out


def _cast_target(ctx: Ctx, to: int | str) -> DType:
    """The IR type for a Cast's ``to``: an ONNX TensorProto type (a name before opset 6)."""
    if isinstance(to, str):
        if to.upper() not in onnx.TensorProto.DataType.keys():
            raise ctx.fail(f"'to' names no ONNX element type: {to!r}")
        to = onnx.TensorProto.DataType.Value(to.upper())
    name = onnx.TensorProto.DataType.Name(to) if to in onnx.TensorProto.DataType.values() else str(to)
    try:
        dtype = onnx_dtype(to, ctx.where)
    except ModelError:
        dtype = None
    if dtype is None or dtype is DType.string:
        supported = ", ".join(sorted(str(d) for d in DType if d is not DType.string))
        raise ctx.fail(f"casting to {name} is not supported; hetflow casts to {supported}")
    return dtype


# ------------------------------------------------------------------ unary math
@onnx_op()
def Abs(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("abs", [x])


@onnx_op()
def Neg(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("neg", [x])


@onnx_op()
def Exp(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("exp", [x])


@onnx_op()
def Log(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("log", [x])


@onnx_op()
def Sqrt(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("sqrt", [x])


@onnx_op()
def Reciprocal(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("reciprocal", [x])


@onnx_op(since=7)
def Sin_v7(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("sin", [x])


@onnx_op(since=7)
def Cos_v7(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("cos", [x])


@onnx_op(since=7)
def Tan_v7(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("tan", [x])


@onnx_op(since=7)
def Asin_v7(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("asin", [x])


@onnx_op(since=7)
def Acos_v7(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("acos", [x])


@onnx_op(since=7)
def Atan_v7(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("atan", [x])


@onnx_op(since=9)
def Sinh_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("sinh", [x])


@onnx_op(since=9)
def Cosh_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("cosh", [x])


@onnx_op(since=9)
def Asinh_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("asinh", [x])


@onnx_op(since=9)
def Acosh_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("acosh", [x])


@onnx_op(since=9)
def Atanh_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("atanh", [x])


@onnx_op()
def Floor(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("floor", [x])


@onnx_op()
def Ceil(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("ceil", [x])


@onnx_op(since=11)
def Round_v11(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("round", [x])


@onnx_op(since=9)
def Sign_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("sign", [x])


@onnx_op(since=9)
def Erf_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("erf", [x])


@onnx_op()
def Identity(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("identity", [x])


@onnx_op()
def Not(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("logical_not", [x])


@onnx_op(since=18)
def BitwiseNot_v18(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("bitwise_not", [x])


@onnx_op(since=9)
def IsNaN_v9(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("isnan", [x])


@onnx_op(since=10)
def IsInf_v10(ctx: Ctx, x: Value, *, detect_negative: int = 1, detect_positive: int = 1) -> Value:
    return ctx.emit("isinf", [x], detect_negative=bool(detect_negative), detect_positive=bool(detect_positive))


# ------------------------------------------------------------------ activations
@onnx_op()
def Tanh(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("tanh", [x])


@onnx_op()
def Sigmoid(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("sigmoid", [x])


@onnx_op()
def Relu(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("relu", [x])


@onnx_op()
def Softplus(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("softplus", [x])


@onnx_op()
def Softsign(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("softsign", [x])


@onnx_op()
def LeakyRelu(ctx: Ctx, x: Value, *, alpha: float = 0.01) -> Value:
    return ctx.emit("leaky_relu", [x], alpha=alpha)


@onnx_op()
def Elu(ctx: Ctx, x: Value, *, alpha: float = 1.0) -> Value:
    return ctx.emit("elu", [x], alpha=alpha)


@onnx_op()
def Selu(ctx: Ctx, x: Value, *, alpha: float = 1.67326319217681884765625,
         gamma: float = 1.05070102214813232421875) -> Value:
    return ctx.emit("selu", [x], alpha=alpha, gamma=gamma)


@onnx_op(since=12)
def Celu_v12(ctx: Ctx, x: Value, *, alpha: float = 1.0) -> Value:
    return ctx.emit("celu", [x], alpha=alpha)


@onnx_op(since=10)
def ThresholdedRelu_v10(ctx: Ctx, x: Value, *, alpha: float = 1.0) -> Value:
    return ctx.emit("thresholded_relu", [x], alpha=alpha)


@onnx_op()
def HardSigmoid(ctx: Ctx, x: Value, *, alpha: float = 0.2, beta: float = 0.5) -> Value:
    return ctx.emit("hard_sigmoid", [x], alpha=alpha, beta=beta)


@onnx_op(since=14)
def HardSwish_v14(ctx: Ctx, x: Value) -> Value:
    """x * HardSigmoid(x; alpha=1/6, beta=1/2)."""
    return ctx.emit("mul", [x, ctx.emit("hard_sigmoid", [x], alpha=1 / 6, beta=0.5)])


@onnx_op(since=18)
def Mish_v18(ctx: Ctx, x: Value) -> Value:
    """x * tanh(softplus(x))."""
    return ctx.emit("mul", [x, ctx.emit("tanh", [ctx.emit("softplus", [x])])])


@onnx_op(since=20)
def Gelu_v20(ctx: Ctx, x: Value, *, approximate: str = "none") -> Value:
    if approximate not in ("none", "tanh"):
        raise ctx.fail(f"approximate must be 'none' or 'tanh', not {approximate!r}")
    return ctx.emit("gelu", [x], approximate=approximate)


@onnx_op(since=9)
def Shrink_v9(ctx: Ctx, x: Value, *, bias: float = 0.0, lambd: float = 0.5) -> Value:
    """x + bias where x < -lambd, x - bias where x > lambd, else 0."""
    low, high = -lambd, lambd
    if x.type.dtype.is_int:
        # An integer x compares with a real bound t as with ceil(t) (for <) or floor(t) (for >);
        # a bound beyond the type's range compares as the range's end.
        info = np.iinfo(x.type.dtype.numpy)
        low, high = min(max(math.ceil(low), info.min), info.max), min(max(math.floor(high), info.min), info.max)
    below = ctx.emit("less", [x, _scalar(ctx, low, x)])
    above = ctx.emit("greater", [x, _scalar(ctx, high, x)])
    shift = _scalar(ctx, bias, x)
    inner = ctx.emit("where", [above, ctx.emit("sub", [x, shift]), _scalar(ctx, 0, x)])
    return ctx.emit("where", [below, ctx.emit("add", [x, shift]), inner])


@onnx_op()
def Clip(ctx: Ctx, x: Value, *, min: float | None = None, max: float | None = None) -> Value:  # noqa: A002
    """Opset 1-5: absent bounds do not clip."""
    return ctx.emit("clip", [x], min=min, max=max)


@onnx_op(since=6)
def Clip_v6(ctx: Ctx, x: Value, *, min: float = -FLT_MAX, max: float = FLT_MAX) -> Value:  # noqa: A002
    return ctx.emit("clip", [x], min=min, max=max)


@onnx_op(since=11)
def Clip_v11(ctx: Ctx, x: Value, min: Value | None = None, max: Value | None = None) -> Value:  # noqa: A002
    """Bounds are optional inputs: constants become the clip op's attributes, runtime bounds max/min ops."""
    bounds = [b for b in (min, max) if b is not None]
    if all(b.is_const for b in bounds):
        return ctx.emit("clip", [x], min=_bound(ctx, min, "min"), max=_bound(ctx, max, "max"))
    out = x if min is None else ctx.emit("max", [x, min])
    return out if max is None else ctx.emit("min", [out, max])


def _bound(ctx: Ctx, v: Value | None, what: str) -> float | int | None:
    array = ctx.value_of(v, f"the clip bound '{what}'")
    if array is None:
        return None
    if array.size != 1:
        raise ctx.fail(f"the clip bound '{what}' must be a scalar, got shape {list(array.shape)}")
    return array.reshape(-1)[0].item()


# ------------------------------------------------------------------ binary arithmetic
@onnx_op()
def Add(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("add", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Add_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("add", [a, b])


@onnx_op()
def Sub(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("sub", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Sub_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("sub", [a, b])


@onnx_op()
def Mul(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("mul", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Mul_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("mul", [a, b])


@onnx_op()
def Div(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("div", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Div_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("div", [a, b])


@onnx_op()
def Pow(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("pow", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Pow_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    """From opset 12 the exponent may have another type; the result keeps the base's."""
    return ctx.emit("pow", [a, b])


@onnx_op(since=10)
def Mod_v10(ctx: Ctx, a: Value, b: Value, *, fmod: int = 0) -> Value:
    if fmod not in (0, 1):
        raise ctx.fail(f"fmod must be 0 or 1, not {fmod}")
    return ctx.emit("mod", [a, b], fmod=bool(fmod))


@onnx_op(since=11)
def BitShift_v11(ctx: Ctx, a: Value, b: Value, *, direction: str = "") -> Value:
    if direction not in ("LEFT", "RIGHT"):
        raise ctx.fail(f"direction must be 'LEFT' or 'RIGHT', not {direction!r}")
    return ctx.emit("bit_shift", [a, b], direction=direction)


@onnx_op(since=18)
def BitwiseAnd_v18(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("bitwise_and", [a, b])


@onnx_op(since=18)
def BitwiseOr_v18(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("bitwise_or", [a, b])


@onnx_op(since=18)
def BitwiseXor_v18(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("bitwise_xor", [a, b])


@onnx_op()
def PRelu(ctx: Ctx, x: Value, slope: Value) -> Value:
    """Opset 1-6: a 1-D slope holds one value per channel (axis 1), not per trailing element."""
    rank, shape = x.type.rank, slope.type.shape
    if rank is not None and rank > 2 and shape is not None and len(shape) == 1 and shape[0] != 1:
        slope = ctx.emit("reshape", [slope], shape=(0,) + (1,) * (rank - 2))
    return ctx.emit("prelu", [x, slope])


@onnx_op(since=7)
def PRelu_v7(ctx: Ctx, x: Value, slope: Value) -> Value:
    """The slope broadcasts to x (NumPy style, one direction)."""
    return ctx.emit("prelu", [x, slope])


# ------------------------------------------------------------------ comparison and logic
@onnx_op()
def Equal(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("equal", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Equal_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("equal", [a, b])


@onnx_op()
def Less(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("less", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Less_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("less", [a, b])


@onnx_op(since=12)
def LessOrEqual_v12(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("less_equal", [a, b])


@onnx_op()
def Greater(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("greater", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Greater_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("greater", [a, b])


@onnx_op(since=12)
def GreaterOrEqual_v12(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("greater_equal", [a, b])


@onnx_op()
def And(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("logical_and", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def And_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("logical_and", [a, b])


@onnx_op()
def Or(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("logical_or", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Or_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("logical_or", [a, b])


@onnx_op()
def Xor(ctx: Ctx, a: Value, b: Value, *, broadcast: int = 0, axis: int | None = None) -> Value:
    return ctx.emit("logical_xor", [a, _legacy_broadcast(ctx, a, b, broadcast, axis)])


@onnx_op(since=7)
def Xor_v7(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("logical_xor", [a, b])


@onnx_op(since=9)
def Where_v9(ctx: Ctx, cond: Value, a: Value, b: Value) -> Value:
    return ctx.emit("where", [cond, a, b])


# ------------------------------------------------------------------ variadic
@onnx_op()
def Sum(ctx: Ctx, *inputs: Value) -> Value:
    return _variadic(ctx, "add", inputs)


@onnx_op()
def Mean(ctx: Ctx, *inputs: Value) -> Value:
    total = _variadic(ctx, "add", inputs)
    return total if len(inputs) == 1 else ctx.emit("div", [total, _scalar(ctx, len(inputs), total)])


@onnx_op()
def Max(ctx: Ctx, *inputs: Value) -> Value:
    return _variadic(ctx, "max", inputs)


@onnx_op()
def Min(ctx: Ctx, *inputs: Value) -> Value:
    return _variadic(ctx, "min", inputs)


# ------------------------------------------------------------------ type conversion
@onnx_op()
def Cast(ctx: Ctx, x: Value, *, to: str = "") -> Value:
    """Opset 1-5: ``to`` is a type name such as "FLOAT"."""
    return ctx.emit("cast", [x], to=str(_cast_target(ctx, to)))


@onnx_op(since=6)
def Cast_v6(ctx: Ctx, x: Value, *, to: int = 0) -> Value:
    return ctx.emit("cast", [x], to=str(_cast_target(ctx, to)))


@onnx_op(since=19)
def Cast_v19(ctx: Ctx, x: Value, *, to: int = 0, saturate: int = 1) -> Value:
    """``saturate`` only matters for float8 targets, which are refused."""
    return ctx.emit("cast", [x], to=str(_cast_target(ctx, to)), saturate=bool(saturate))


@onnx_op(since=24)
def Cast_v24(ctx: Ctx, x: Value, *, to: int = 0, saturate: int = 1, round_mode: str = "up") -> Value:
    """``round_mode`` only matters for float8e8m0 targets, which are refused."""
    return ctx.emit("cast", [x], to=str(_cast_target(ctx, to)), saturate=bool(saturate))


def _like_target(ctx: Ctx, like: Value) -> str:
    if like.type.dtype is DType.string:
        raise ctx.fail("casting to STRING is not supported")
    return str(like.type.dtype)


@onnx_op(since=15)
def CastLike_v15(ctx: Ctx, x: Value, like: Value) -> Value:
    return ctx.emit("cast", [x], to=_like_target(ctx, like))


@onnx_op(since=19)
def CastLike_v19(ctx: Ctx, x: Value, like: Value, *, saturate: int = 1) -> Value:
    return ctx.emit("cast", [x], to=_like_target(ctx, like), saturate=bool(saturate))


@onnx_op(since=24)
def CastLike_v24(ctx: Ctx, x: Value, like: Value, *, saturate: int = 1, round_mode: str = "up") -> Value:
    return ctx.emit("cast", [x], to=_like_target(ctx, like), saturate=bool(saturate))
