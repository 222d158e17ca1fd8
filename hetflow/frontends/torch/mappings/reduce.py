"""ATen reductions -> IR reduce ops."""

from __future__ import annotations

from collections.abc import Sequence

from hetflow.frontends.torch.context import TorchCtx
from hetflow.frontends.torch.table import aten_op
from hetflow.ir import DType, Value

Dims = Sequence[int] | int | None


def _axes(dim: Dims) -> tuple[int, ...] | None:
    """None (or an empty list, which ATen's reductions read as "all dims") reduces every axis."""
    if dim is None:
        return None
    axes = (int(dim),) if isinstance(dim, int) else tuple(int(d) for d in dim)
    return axes or None


def _reduce(ctx: TorchCtx, op: str, x: Value, dim: Dims, keepdim: bool) -> Value:
    return ctx.emit(op, [ctx.tensor(x, ctx.result.dtype)], axes=_axes(dim), keepdims=bool(keepdim))


@aten_op()
def mean(ctx: TorchCtx, self: Value, dim: Dims = None, keepdim: bool = False, *, dtype: DType | None = None) -> Value:
    return _reduce(ctx, "reduce_mean", self, dim, keepdim)


@aten_op("sum")
def sum_(ctx: TorchCtx, self: Value, dim: Dims = None, keepdim: bool = False, *, dtype: DType | None = None) -> Value:
    return _reduce(ctx, "reduce_sum", self, dim, keepdim)


@aten_op()
def prod(ctx: TorchCtx, self: Value, dim: Dims = None, keepdim: bool = False, *, dtype: DType | None = None) -> Value:
    return _reduce(ctx, "reduce_prod", self, dim, keepdim)


@aten_op()
def amax(ctx: TorchCtx, self: Value, dim: Dims = (), keepdim: bool = False) -> Value:
    return _reduce(ctx, "reduce_max", self, dim, keepdim)


@aten_op()
def amin(ctx: TorchCtx, self: Value, dim: Dims = (), keepdim: bool = False) -> Value:
    return _reduce(ctx, "reduce_min", self, dim, keepdim)


@aten_op("any")
def any_(ctx: TorchCtx, self: Value, dim: Dims = None, keepdim: bool = False) -> Value:
    # The IR has no boolean reduction: the max of 0/1 over the axes is "any".
    as_int = ctx.tensor(self, DType.int32)
    return ctx.tensor(ctx.emit("reduce_max", [as_int], axes=_axes(dim), keepdims=bool(keepdim)), DType.bool)


@aten_op()
def argmax(ctx: TorchCtx, self: Value, dim: int | None = None, keepdim: bool = False) -> Value:
    if dim is None:
        flat = ctx.reshape(self, [-1])
        return ctx.emit("argmax", [flat], axis=0, keepdims=bool(keepdim))
    return ctx.emit("argmax", [self], axis=int(dim), keepdims=bool(keepdim))


@aten_op()
def argmin(ctx: TorchCtx, self: Value, dim: int | None = None, keepdim: bool = False) -> Value:
    if dim is None:
        return ctx.emit("argmin", [ctx.reshape(self, [-1])], axis=0, keepdims=bool(keepdim))
    return ctx.emit("argmin", [self], axis=int(dim), keepdims=bool(keepdim))


@aten_op()
def cumsum(ctx: TorchCtx, self: Value, dim: int, *, dtype: DType | None = None) -> Value:
    return ctx.emit("cumsum", [ctx.tensor(self, ctx.result.dtype)], axis=int(dim))
