"""ONNX ops that make tensors from attributes or shapes, and selection ops: Constant, Shape, TopK, ..."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.importer import onnx_dtype
from hetflow.frontends.onnx.symbolic import known, name_dims, range_length
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Value


def _sparse_to_dense(sparse: onnx.SparseTensorProto) -> np.ndarray:
    values = numpy_helper.to_array(sparse.values)
    indices = numpy_helper.to_array(sparse.indices).astype(np.int64)
    dense = np.zeros(int(np.prod(sparse.dims, dtype=np.int64)), dtype=values.dtype)
    # Indices are either flat positions (1-D) or one coordinate row per value (2-D).
    flat = indices if indices.ndim == 1 else np.ravel_multi_index(tuple(indices.T), tuple(sparse.dims))
    dense[flat] = values
    return dense.reshape(tuple(sparse.dims))


@onnx_op(since=1)
def Constant(ctx: Ctx, *, value: np.ndarray | None = None, sparse_value: Any = None, value_float: float | None = None,
             value_floats: Sequence[float] | None = None, value_int: int | None = None,
             value_ints: Sequence[int] | None = None, value_string: str | None = None,
             value_strings: Sequence[str] | None = None) -> Value:
    given = {
        "value": value,
        "sparse_value": None if sparse_value is None else _sparse_to_dense(sparse_value),
        "value_float": None if value_float is None else np.array(value_float, np.float32),
        "value_floats": None if value_floats is None else np.array(value_floats, np.float32),
        "value_int": None if value_int is None else np.array(value_int, np.int64),
        "value_ints": None if value_ints is None else np.array(value_ints, np.int64),
        "value_string": None if value_string is None else np.array(value_string, dtype=object),
        "value_strings": None if value_strings is None else np.array(list(value_strings), dtype=object),
    }
    present = [k for k, v in given.items() if v is not None]
    if len(present) != 1:
        raise ctx.fail(f"needs exactly one value attribute, got {present or 'none'}")
    return ctx.const(given[present[0]], name=ctx.node_name)


@onnx_op(since=9)
def ConstantOfShape(ctx: Ctx, shape: Value, *, value: np.ndarray | None = None) -> Value:
    fill = np.zeros(1, np.float32) if value is None else np.asarray(value)
    if fill.size != 1:
        raise ctx.fail(f"value must hold one element, got {fill.size}")
    out = ctx.emit("constant_of_shape", [shape], value=fill.reshape(-1)[0].item(), dtype=DType.of(fill.dtype).value)
    contents = known(shape)
    return name_dims(out, contents.dims) if contents is not None and out.const is None else out


def _shape(ctx: Ctx, x: Value, start: int, end: int | None) -> Value:
    if x.type.shape is not None:
        dims = x.type.shape[start:end]
        if all(isinstance(d, int) for d in dims):
            return ctx.const(np.array(dims, dtype=np.int64), name=ctx.node_name)
    return ctx.emit("shape", [x], start=start, end=end)


@onnx_op(since=1)
def Shape_v1(ctx: Ctx, x: Value) -> Value:
    return _shape(ctx, x, 0, None)


@onnx_op(since=15)
def Shape_v15(ctx: Ctx, x: Value, *, start: int = 0, end: int | None = None) -> Value:
    return _shape(ctx, x, start, end)


@onnx_op(since=1)
def Size(ctx: Ctx, x: Value) -> Value:
    if x.type.numel is not None:
        return ctx.const(np.array(x.type.numel, dtype=np.int64), name=ctx.node_name)
    return ctx.emit("size", [x])


def _top_k(ctx: Ctx, x: Value, k: int, axis: int, largest: int, sorted: int) -> list[Value]:  # noqa: A002
    shape = x.type.shape
    if shape is not None:
        if not -len(shape) <= axis < len(shape):
            raise ctx.fail(f"axis {axis} is out of range for rank {len(shape)}")
        axis %= len(shape)
        if isinstance(shape[axis], int) and not 0 <= k <= shape[axis]:
            raise ctx.fail(f"k = {k} is outside [0, {shape[axis]}] (dim {axis} of {list(shape)})")
    return ctx.emit("top_k", [x], num_outputs=2, k=k, axis=axis, largest=bool(largest), sorted=bool(sorted))


@onnx_op(since=1)
def TopK_v1(ctx: Ctx, x: Value, *, k: int, axis: int = -1) -> list[Value]:
    return _top_k(ctx, x, k, axis, 1, 1)


@onnx_op(since=10)
def TopK_v10(ctx: Ctx, x: Value, k: Value, *, axis: int = -1, largest: int = 1, sorted: int = 1) -> list[Value]:  # noqa: A002
    return _top_k(ctx, x, (ctx.ints_of(k, "k") or [0])[0], axis, largest, sorted)


@onnx_op(since=9)
def OneHot(ctx: Ctx, indices: Value, depth: Value, values: Value, *, axis: int = -1) -> Value:
    d = ctx.value_of(depth, "the depth")
    assert d is not None
    if d.size != 1:
        raise ctx.fail(f"depth must be a single value, got shape {list(d.shape)}")
    return ctx.emit("one_hot", [indices, values], depth=int(d.reshape(-1)[0]), axis=axis)


def _range(ctx: Ctx, start: Value, limit: Value, delta: Value) -> Value:
    """A range whose bounds come from shapes gets its length as a symbolic dim (``W``, ``(H+1)//2``)."""
    out = ctx.emit("range", [start, limit, delta])
    length = range_length(known(start), known(limit), known(delta)) if out.const is None else None
    return out if length is None else name_dims(out, (length,))


@onnx_op(since=11)
def Range_v11(ctx: Ctx, start: Value, limit: Value, delta: Value) -> Value:
    return _range(ctx, start, limit, delta)


@onnx_op(since=27)
def Range_v27(ctx: Ctx, start: Value, limit: Value, delta: Value, *, stash_type: int = 1) -> Value:
    """stash_type asks float16 ranges to be computed in float32; the IR op always computes in float64."""
    return _range(ctx, start, limit, delta)


@onnx_op(since=14)
def Trilu(ctx: Ctx, x: Value, k: Value | None = None, *, upper: int = 1) -> Value:
    diagonal = ctx.ints_of(k, "k")
    return ctx.emit("trilu", [x], upper=bool(upper), k=diagonal[0] if diagonal else 0)


@onnx_op(since=9)
def NonZero(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("non_zero", [x])


@onnx_op(since=9)
def EyeLike(ctx: Ctx, x: Value, *, dtype: int | None = None, k: int = 0) -> Value:
    out = None if dtype is None else onnx_dtype(dtype, ctx.where).value
    return ctx.emit("eye_like", [x], k=k, dtype=out)


@onnx_op(since=11)
def Unique(ctx: Ctx, x: Value, *, axis: int | None = None, sorted: int = 1) -> list[Value]:  # noqa: A002
    if axis is not None and x.type.shape is not None:
        if not -len(x.type.shape) <= axis < len(x.type.shape):
            raise ctx.fail(f"axis {axis} is out of range for rank {len(x.type.shape)}")
        axis %= len(x.type.shape)
    return ctx.emit("unique", [x], num_outputs=4, axis=axis, sorted=bool(sorted))
