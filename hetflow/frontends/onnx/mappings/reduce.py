"""ONNX reductions -> IR reduce ops.

Versions: up to opset 17 (12 for ReduceSum) the axes are an attribute; from opset 18 (13 for
ReduceSum) they are an optional input, and ``noop_with_empty_axes=1`` turns an empty axes list
into "reduce nothing" instead of "reduce everything". ReduceL1, ReduceL2, ReduceLogSum,
ReduceLogSumExp and ReduceSumSquare have no IR op: they are decomposed as the ONNX spec's
function bodies define them (the elementwise parts apply even when no axis is reduced).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value

Axes = Sequence[int] | None


# ------------------------------------------------------------------ helpers
def _axes_input(ctx: Ctx, axes: Value | None) -> list[int] | None:
    return ctx.ints_of(axes, "the reduction axes")


def _reduce(ctx: Ctx, op: str, x: Value, axes: Axes, keepdims: int, noop_with_empty_axes: int = 0) -> Value:
    """One IR reduction; an empty axes list reduces every axis, or none at all if ``noop_with_empty_axes``."""
    if not axes and noop_with_empty_axes:
        return ctx.emit("identity", [x])
    if not axes:
        return ctx.emit(op, [x], axes=None, keepdims=bool(keepdims))
    rank = x.type.rank
    if rank is not None and all(-rank <= a < rank for a in axes):
        axes = sorted(int(a) % rank for a in axes)  # one spelling per reduction, for CSE and backends
    return ctx.emit(op, [x], axes=tuple(int(a) for a in axes), keepdims=bool(keepdims))


def _l1(ctx: Ctx, x: Value, axes: Axes, keepdims: int, noop: int) -> Value:
    return _reduce(ctx, "reduce_sum", ctx.emit("abs", [x]), axes, keepdims, noop)


def _l2(ctx: Ctx, x: Value, axes: Axes, keepdims: int, noop: int) -> Value:
    return ctx.emit("sqrt", [_sum_square(ctx, x, axes, keepdims, noop)])


def _sum_square(ctx: Ctx, x: Value, axes: Axes, keepdims: int, noop: int) -> Value:
    return _reduce(ctx, "reduce_sum", ctx.emit("mul", [x, x]), axes, keepdims, noop)


def _log_sum(ctx: Ctx, x: Value, axes: Axes, keepdims: int, noop: int) -> Value:
    return ctx.emit("log", [_reduce(ctx, "reduce_sum", x, axes, keepdims, noop)])


def _log_sum_exp(ctx: Ctx, x: Value, axes: Axes, keepdims: int, noop: int) -> Value:
    """log(sum(exp(x - m))) + m with m the (finite) maximum, so that exp cannot overflow."""
    dtype = x.type.dtype
    if not dtype.is_float:
        # Integer inputs (allowed before opset 28) are reduced in float64 and cast back.
        wide = ctx.emit("cast", [x], to="float64")
        return ctx.emit("cast", [_log_sum_exp(ctx, wide, axes, keepdims, noop)], to=str(dtype))
    peak = _reduce(ctx, "reduce_max", x, axes, 1, noop)
    # An infinite maximum (all -inf, or a +inf) would turn x - m into NaN; shift by 0 instead.
    zero = ctx.const(np.zeros((), dtype.numpy), name="zero")
    peak = ctx.emit("where", [ctx.emit("isinf", [peak]), zero, peak])
    shifted = ctx.emit("exp", [ctx.emit("sub", [x, peak])])
    total = ctx.emit("log", [_reduce(ctx, "reduce_sum", shifted, axes, keepdims, noop)])
    if not keepdims and not (noop and not axes):
        # Reducing the size-1 dims drops them: the shift gets the output's shape.
        peak = _reduce(ctx, "reduce_max", peak, axes, 0)
    return ctx.emit("add", [total, peak])


# ------------------------------------------------------------------ ReduceSum (axes input from 13)
@onnx_op()
def ReduceSum(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    return _reduce(ctx, "reduce_sum", x, axes, keepdims)


@onnx_op(since=13)
def ReduceSum_v13(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                  noop_with_empty_axes: int = 0) -> Value:
    return _reduce(ctx, "reduce_sum", x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


# ------------------------------------------------------------------ direct reductions (axes input from 18)
@onnx_op()
def ReduceMean(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    return _reduce(ctx, "reduce_mean", x, axes, keepdims)


@onnx_op(since=18)
def ReduceMean_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                   noop_with_empty_axes: int = 0) -> Value:
    return _reduce(ctx, "reduce_mean", x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceMax(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    return _reduce(ctx, "reduce_max", x, axes, keepdims)


@onnx_op(since=18)
def ReduceMax_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                  noop_with_empty_axes: int = 0) -> Value:
    return _reduce(ctx, "reduce_max", x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceMin(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    return _reduce(ctx, "reduce_min", x, axes, keepdims)


@onnx_op(since=18)
def ReduceMin_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                  noop_with_empty_axes: int = 0) -> Value:
    return _reduce(ctx, "reduce_min", x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceProd(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    return _reduce(ctx, "reduce_prod", x, axes, keepdims)


@onnx_op(since=18)
def ReduceProd_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                   noop_with_empty_axes: int = 0) -> Value:
    return _reduce(ctx, "reduce_prod", x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


# ------------------------------------------------------------------ decomposed reductions (axes input from 18)
@onnx_op()
def ReduceL1(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    """sum(|x|)."""
    return _l1(ctx, x, axes, keepdims, 0)


@onnx_op(since=18)
def ReduceL1_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                 noop_with_empty_axes: int = 0) -> Value:
    return _l1(ctx, x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceL2(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    """sqrt(sum(x * x))."""
    return _l2(ctx, x, axes, keepdims, 0)


@onnx_op(since=18)
def ReduceL2_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                 noop_with_empty_axes: int = 0) -> Value:
    return _l2(ctx, x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceSumSquare(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    """sum(x * x)."""
    return _sum_square(ctx, x, axes, keepdims, 0)


@onnx_op(since=18)
def ReduceSumSquare_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                        noop_with_empty_axes: int = 0) -> Value:
    return _sum_square(ctx, x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceLogSum(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    """log(sum(x))."""
    return _log_sum(ctx, x, axes, keepdims, 0)


@onnx_op(since=18)
def ReduceLogSum_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                     noop_with_empty_axes: int = 0) -> Value:
    return _log_sum(ctx, x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


@onnx_op()
def ReduceLogSumExp(ctx: Ctx, x: Value, *, axes: list[int] | None = None, keepdims: int = 1) -> Value:
    """log(sum(exp(x))), computed without overflow."""
    return _log_sum_exp(ctx, x, axes, keepdims, 0)


@onnx_op(since=18)
def ReduceLogSumExp_v18(ctx: Ctx, x: Value, axes: Value | None = None, *, keepdims: int = 1,
                        noop_with_empty_axes: int = 0) -> Value:
    return _log_sum_exp(ctx, x, _axes_input(ctx, axes), keepdims, noop_with_empty_axes)


# ------------------------------------------------------------------ index of extremum (select_last_index from 12)
@onnx_op()
def ArgMax(ctx: Ctx, x: Value, *, axis: int = 0, keepdims: int = 1) -> Value:
    return ctx.emit("argmax", [x], axis=axis, keepdims=bool(keepdims))


@onnx_op(since=12)
def ArgMax_v12(ctx: Ctx, x: Value, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Value:
    return ctx.emit("argmax", [x], axis=axis, keepdims=bool(keepdims), select_last_index=bool(select_last_index))


@onnx_op()
def ArgMin(ctx: Ctx, x: Value, *, axis: int = 0, keepdims: int = 1) -> Value:
    return ctx.emit("argmin", [x], axis=axis, keepdims=bool(keepdims))


@onnx_op(since=12)
def ArgMin_v12(ctx: Ctx, x: Value, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Value:
    return ctx.emit("argmin", [x], axis=axis, keepdims=bool(keepdims), select_last_index=bool(select_last_index))


# ------------------------------------------------------------------ scan
@onnx_op(since=11)
def CumSum_v11(ctx: Ctx, x: Value, axis: Value, *, exclusive: int = 0, reverse: int = 0) -> Value:
    """The axis is an input (a scalar, or a 1-element tensor)."""
    axes = ctx.ints_of(axis, "the CumSum axis")
    if axes is None or len(axes) != 1:
        raise ctx.fail(f"the axis input must hold one integer, got {axes}")
    return ctx.emit("cumsum", [x], axis=axes[0], exclusive=bool(exclusive), reverse=bool(reverse))

