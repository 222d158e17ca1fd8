"""ATen tensor factories -> IR constants, or ``constant_of_shape`` when a size is symbolic."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.frontends.torch.context import TorchCtx
from hetflow.frontends.torch.table import aten_op
from hetflow.ir import DType, Value
from hetflow.ir.types import Dim


def _filled(ctx: TorchCtx, dims: Sequence[Dim], fill: float | int | bool, dtype: DType) -> Value:
    if all(isinstance(d, int) for d in dims):
        return ctx.const(np.full(tuple(int(d) for d in dims), fill, dtype=dtype.numpy), name="full")
    return ctx.emit("constant_of_shape", [ctx.shape_vector(dims)], value=fill, dtype=dtype.value)


@aten_op()
def full(ctx: TorchCtx, size: Sequence[Dim], fill_value: float, *, dtype: DType | None = None) -> Value:
    return _filled(ctx, list(size), fill_value, ctx.result.dtype)


@aten_op()
def full_like(ctx: TorchCtx, self: Value, fill_value: float, *, dtype: DType | None = None,
              memory_format: str | None = None) -> Value:
    if self.type.is_static:
        return _filled(ctx, list(self.type.shape or ()), fill_value, ctx.result.dtype)
    return ctx.emit("constant_of_shape", [ctx.emit("shape", [self])], value=fill_value, dtype=ctx.result.dtype.value)


@aten_op()
def scalar_tensor(ctx: TorchCtx, s: float, *, dtype: DType | None = None) -> Value:
    return ctx.const(np.asarray(s, dtype=ctx.result.dtype.numpy), name="scalar")


@aten_op()
def arange(ctx: TorchCtx, start: Dim, end: Dim | None = None, step: Dim = 1, *, dtype: DType | None = None) -> Value:
    begin, stop = (0, start) if end is None else (start, end)
    if any(isinstance(v, str) for v in (begin, stop, step)):
        raise ctx.fail(f"arange({begin}, {stop}, {step}) has a symbolic bound; only static bounds are supported")
    return ctx.const(np.arange(begin, stop, step).astype(ctx.result.dtype.numpy), name="arange")
