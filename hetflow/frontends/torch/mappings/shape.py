"""ATen view and data-movement ops -> IR shape ops.

Views are values here (the IR has no aliasing): ``view``, ``unsqueeze`` and ``squeeze`` are reshapes,
``permute`` a transpose. Sizes may hold symbolic dims; ``TorchCtx.reshape`` expresses those as "keep".
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.frontends.torch.context import TorchCtx
from hetflow.frontends.torch.table import aten_op
from hetflow.ir import Value
from hetflow.ir.types import Dim

_END = np.iinfo(np.int64).max
"""Slice end meaning "to the end of the dim"."""


def _rank(ctx: TorchCtx, x: Value) -> int:
    if x.type.shape is None:
        raise ctx.fail(f"the rank of input %{x.name} is unknown")
    return len(x.type.shape)


def _axis(ctx: TorchCtx, x: Value, dim: int) -> int:
    rank = _rank(ctx, x)
    return int(dim) + rank if dim < 0 else int(dim)


@aten_op()
def view(ctx: TorchCtx, self: Value, size: Sequence[Dim]) -> Value:
    return ctx.reshape(self, list(ctx.result.shape or size))


@aten_op()
def _unsafe_view(ctx: TorchCtx, self: Value, size: Sequence[Dim]) -> Value:
    return ctx.reshape(self, list(ctx.result.shape or size))


@aten_op()
def reshape(ctx: TorchCtx, self: Value, shape: Sequence[Dim]) -> Value:
    return ctx.reshape(self, list(ctx.result.shape or shape))


@aten_op()
def unsqueeze(ctx: TorchCtx, self: Value, dim: int) -> Value:
    return ctx.reshape(self, list(ctx.result.shape or ()))


@aten_op()
def squeeze(ctx: TorchCtx, self: Value, dim: Sequence[int] | int | None = None) -> Value:
    return ctx.reshape(self, list(ctx.result.shape or ()))


@aten_op()
def permute(ctx: TorchCtx, self: Value, dims: Sequence[int]) -> Value:
    rank = _rank(ctx, self)
    return ctx.emit("transpose", [self], perm=tuple(int(d) % rank if rank else 0 for d in dims))


@aten_op()
def expand(ctx: TorchCtx, self: Value, size: Sequence[Dim], *, implicit: bool = False) -> Value:
    in_shape = tuple(self.type.shape or ())
    lead = len(size) - len(in_shape)
    target: list[int] = []
    grows: list[Dim] = []  # the full output shape, when some dim grows to a symbolic size
    for i, d in enumerate(size):
        source = in_shape[i - lead] if i >= lead else 1
        if d == -1 or d == source:
            target.append(1 if isinstance(source, str) else int(source))  # 1 broadcasts to whatever the dim is
        elif isinstance(d, str):
            target.append(1)
            grows = list(ctx.result.shape or ())
        else:
            target.append(int(d))
    out = ctx.emit("expand", [self], shape=tuple(target)) if tuple(target) != in_shape else self
    if not grows:
        return out
    # The IR's expand takes a static shape: broadcast against a run-time-shaped identity (ones, or True).
    dtype = out.type.dtype
    fill = ctx.emit("constant_of_shape", [ctx.shape_vector(grows)], value=True if dtype.value == "bool" else 1,
                    dtype=dtype.value)
    return ctx.emit("logical_and" if dtype.value == "bool" else "mul", [out, fill])


@aten_op()
def cat(ctx: TorchCtx, tensors: Sequence[Value], dim: int = 0) -> Value:
    dtype = ctx.result.dtype
    present = [ctx.tensor(t, dtype) for t in tensors if t.type.numel != 0]
    if len(present) == 1:
        return present[0]
    return ctx.emit("concat", present, axis=int(dim))


@aten_op("slice")
def slice_(ctx: TorchCtx, self: Value, dim: int = 0, start: Dim | None = None, end: Dim | None = None,
           step: int = 1) -> Value:
    axis = _axis(ctx, self, dim)
    size = (self.type.shape or ())[axis]
    begin = 0 if start is None else start
    stop = _END if end is None or end == size else end
    if isinstance(begin, str) or isinstance(stop, str):
        raise ctx.fail(f"slicing dim {axis} of {self.type} at symbolic bounds ({start}:{end}) is not supported")
    if begin == 0 and stop >= _END and step == 1:
        return self
    return ctx.emit("slice", [self], starts=(int(begin),), ends=(int(stop),), axes=(axis,), steps=(int(step),))


@aten_op()
def select(ctx: TorchCtx, self: Value, dim: int, index: int) -> Value:
    if isinstance(index, str):
        raise ctx.fail(f"select at the symbolic index {index} is not supported")
    return ctx.emit("gather", [self, ctx.const(np.int64(index), name="index")], axis=_axis(ctx, self, dim))


@aten_op()
def split_with_sizes(ctx: TorchCtx, self: Value, split_sizes: Sequence[int], dim: int = 0) -> list[Value]:
    sizes = ctx.static(split_sizes, "split_sizes")
    parts = ctx.emit("split", [self], num_outputs=len(sizes), axis=_axis(ctx, self, dim), sizes=tuple(sizes))
    return list(parts)


@aten_op()
def gather(ctx: TorchCtx, self: Value, dim: int, index: Value, *, sparse_grad: bool = False) -> Value:
    return ctx.emit("gather_elements", [self, index], axis=_axis(ctx, self, dim))


@aten_op()
def index_select(ctx: TorchCtx, self: Value, dim: int, index: Value) -> Value:
    return ctx.emit("gather", [self, index], axis=_axis(ctx, self, dim))


@aten_op()
def flip(ctx: TorchCtx, self: Value, dims: Sequence[int]) -> Value:
    axes = tuple(_axis(ctx, self, d) for d in dims)
    n = len(axes)
    return ctx.emit("slice", [self], starts=(-1,) * n, ends=(-_END,) * n, axes=axes, steps=(-1,) * n)
