"""ATen elementwise ops -> IR elementwise ops.

Operands follow PyTorch's type promotion through the result dtype export recorded: a Python scalar becomes
a constant of that dtype and a tensor of another dtype is cast, so the IR op sees equal dtypes.
"""

from __future__ import annotations

from hetflow.frontends.torch.context import TorchCtx
from hetflow.frontends.torch.table import aten_op
from hetflow.ir import DType, Value

Operand = Value | float | int | bool


def _binary(ctx: TorchCtx, op: str, a: Operand, b: Operand) -> Value:
    dtype = ctx.result.dtype
    return ctx.emit(op, [ctx.tensor(a, dtype), ctx.tensor(b, dtype)])


def _compare(ctx: TorchCtx, op: str, a: Operand, b: Operand) -> Value:
    """Comparisons produce bool; the operands meet in the dtype of the tensor operand(s)."""
    tensors = [x.type.dtype for x in (a, b) if isinstance(x, Value)]
    dtype = tensors[0] if len(set(tensors)) == 1 else DType.float32 if any(d.is_float for d in tensors) else tensors[0]
    return ctx.emit(op, [ctx.tensor(a, dtype), ctx.tensor(b, dtype)])


def _unary(ctx: TorchCtx, op: str, x: Value, **attrs: object) -> Value:
    return ctx.emit(op, [ctx.tensor(x, ctx.result.dtype)], **attrs)


def _scaled(ctx: TorchCtx, x: Operand, alpha: float) -> Operand:
    if alpha == 1:
        return x
    if not isinstance(x, Value):
        return x * alpha
    return ctx.emit("mul", [ctx.tensor(x, ctx.result.dtype), ctx.tensor(alpha, ctx.result.dtype)])


@aten_op()
def add(ctx: TorchCtx, self: Operand, other: Operand, *, alpha: float = 1) -> Value:
    return _binary(ctx, "add", self, _scaled(ctx, other, alpha))


@aten_op()
def sub(ctx: TorchCtx, self: Operand, other: Operand, *, alpha: float = 1) -> Value:
    return _binary(ctx, "sub", self, _scaled(ctx, other, alpha))


@aten_op()
def rsub(ctx: TorchCtx, self: Operand, other: Operand, *, alpha: float = 1) -> Value:
    return _binary(ctx, "sub", other, _scaled(ctx, self, alpha))


@aten_op()
def mul(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return _binary(ctx, "mul", self, other)


_ROUNDING = {"trunc": "trunc", "floor": "floor"}


@aten_op()
def div(ctx: TorchCtx, self: Operand, other: Operand, *, rounding_mode: str | None = None) -> Value:
    quotient = _binary(ctx, "div", self, other)
    if rounding_mode is None or not ctx.result.dtype.is_float:
        return quotient  # integer div truncates in the IR, as torch's trunc mode does
    if rounding_mode == "floor":
        return ctx.emit("floor", [quotient])
    if rounding_mode == "trunc":
        return ctx.emit("mul", [ctx.emit("sign", [quotient]), ctx.emit("floor", [ctx.emit("abs", [quotient])])])
    raise ctx.fail(f"rounding_mode {rounding_mode!r} is not one of None, 'trunc', 'floor'")


@aten_op("pow")
def pow_(ctx: TorchCtx, self: Operand, exponent: Operand) -> Value:
    return _binary(ctx, "pow", self, exponent)


@aten_op()
def maximum(ctx: TorchCtx, self: Value, other: Value) -> Value:
    return _binary(ctx, "max", self, other)


@aten_op()
def minimum(ctx: TorchCtx, self: Value, other: Value) -> Value:
    return _binary(ctx, "min", self, other)


@aten_op()
def eq(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return _compare(ctx, "equal", self, other)


@aten_op()
def ne(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return ctx.emit("logical_not", [_compare(ctx, "equal", self, other)])


@aten_op()
def lt(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return _compare(ctx, "less", self, other)


@aten_op()
def le(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return _compare(ctx, "less_equal", self, other)


@aten_op()
def gt(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return _compare(ctx, "greater", self, other)


@aten_op()
def ge(ctx: TorchCtx, self: Operand, other: Operand) -> Value:
    return _compare(ctx, "greater_equal", self, other)


@aten_op()
def logical_not(ctx: TorchCtx, self: Value) -> Value:
    return ctx.emit("logical_not", [ctx.tensor(self, DType.bool)])


@aten_op()
def logical_and(ctx: TorchCtx, self: Value, other: Value) -> Value:
    return ctx.emit("logical_and", [ctx.tensor(self, DType.bool), ctx.tensor(other, DType.bool)])


@aten_op()
def logical_or(ctx: TorchCtx, self: Value, other: Value) -> Value:
    return ctx.emit("logical_or", [ctx.tensor(self, DType.bool), ctx.tensor(other, DType.bool)])


@aten_op()
def where(ctx: TorchCtx, condition: Value, self: Operand, other: Operand) -> Value:
    dtype = ctx.result.dtype
    return ctx.emit("where", [ctx.tensor(condition, DType.bool), ctx.tensor(self, dtype), ctx.tensor(other, dtype)])


# ------------------------------------------------------------------ unary math


@aten_op()
def neg(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "neg", self)


@aten_op("abs")
def abs_(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "abs", self)


@aten_op()
def exp(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "exp", self)


@aten_op()
def log(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "log", self)


@aten_op()
def sqrt(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "sqrt", self)


@aten_op()
def rsqrt(ctx: TorchCtx, self: Value) -> Value:
    return ctx.emit("reciprocal", [_unary(ctx, "sqrt", self)])


@aten_op()
def reciprocal(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "reciprocal", self)


@aten_op()
def sin(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "sin", self)


@aten_op()
def cos(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "cos", self)


@aten_op()
def erf(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "erf", self)


@aten_op()
def floor(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "floor", self)


@aten_op()
def ceil(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "ceil", self)


@aten_op("round")
def round_(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "round", self)


@aten_op()
def sign(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "sign", self)


# ------------------------------------------------------------------ activations


@aten_op()
def relu(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "relu", self)


@aten_op()
def sigmoid(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "sigmoid", self)


@aten_op()
def tanh(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "tanh", self)


@aten_op()
def gelu(ctx: TorchCtx, self: Value, *, approximate: str = "none") -> Value:
    return _unary(ctx, "gelu", self, approximate=approximate)


@aten_op()
def silu(ctx: TorchCtx, self: Value) -> Value:
    return ctx.emit("mul", [self, _unary(ctx, "sigmoid", self)])


@aten_op()
def hardtanh(ctx: TorchCtx, self: Value, min_val: float = -1, max_val: float = 1) -> Value:
    return _unary(ctx, "clip", self, min=float(min_val), max=float(max_val))


@aten_op()
def clamp(ctx: TorchCtx, self: Value, min: float | None = None, max: float | None = None) -> Value:  # noqa: A002
    return _unary(ctx, "clip", self, min=None if min is None else float(min), max=None if max is None else float(max))


@aten_op()
def leaky_relu(ctx: TorchCtx, self: Value, negative_slope: float = 0.01) -> Value:
    return _unary(ctx, "leaky_relu", self, alpha=float(negative_slope))


@aten_op()
def elu(ctx: TorchCtx, self: Value, alpha: float = 1, scale: float = 1, input_scale: float = 1) -> Value:
    if scale != 1 or input_scale != 1:
        raise ctx.fail("elu with scale or input_scale other than 1 is not supported")
    return _unary(ctx, "elu", self, alpha=float(alpha))


@aten_op()
def hardsigmoid(ctx: TorchCtx, self: Value) -> Value:
    return _unary(ctx, "hard_sigmoid", self, alpha=1 / 6, beta=0.5)


@aten_op()
def hardswish(ctx: TorchCtx, self: Value) -> Value:
    return ctx.emit("mul", [self, _unary(ctx, "hard_sigmoid", self, alpha=1 / 6, beta=0.5)])


# ------------------------------------------------------------------ copies and casts


@aten_op()
def clone(ctx: TorchCtx, self: Value, *, memory_format: str | None = None) -> Value:
    return self


@aten_op()
def alias(ctx: TorchCtx, self: Value) -> Value:
    return self


@aten_op()
def _to_copy(ctx: TorchCtx, self: Value, *, dtype: DType | None = None, non_blocking: bool = False) -> Value:
    return ctx.tensor(self, dtype) if dtype is not None else self


@aten_op()
def lift_fresh_copy(ctx: TorchCtx, self: Value) -> Value:
    return self
