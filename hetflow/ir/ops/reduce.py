"""Reductions over axes: sum, mean, max, min, prod; argmax/argmin; cumulative sum.

``axes=None`` reduces over every axis; ``axes=()`` reduces over none (the op is then a copy).
Reductions over an empty set follow ONNX: sum 0, prod 1, max the lowest value of the type
(-inf for floats), min the highest (+inf), mean NaN for floats and 0 for integers.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import in_type, norm_axis, numel
from hetflow.ir.registry import IRError, defop
from hetflow.ir.types import TensorType


def reduced_axes(node: Node, rank: int) -> tuple[int, ...]:
    """The node's ``axes`` attribute made non-negative and checked; None means every axis."""
    axes = node.attrs["axes"]
    if axes is None:
        return tuple(range(rank))
    norm = tuple(norm_axis(int(a), rank, node) for a in axes)
    if len(set(norm)) != len(norm):
        raise IRError(f"node {node.name!r} ({node.op}): axes {tuple(axes)} name an axis twice")
    return norm


def _reduce_shape(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [x]
    axes = reduced_axes(node, len(x.shape))
    return [x.with_shape(_reduce_shape(x.shape, axes, node.attrs["keepdims"]))]


def _input_flops(node: Node) -> int:
    return numel(in_type(node, 0).shape)


def _mean_flops(node: Node) -> int:
    return numel(in_type(node, 0).shape) + numel(node.outputs[0].type.shape if node.outputs else None)


def _np_axes(x: np.ndarray, axes: tuple[int, ...] | None) -> tuple[int, ...] | None:
    return None if axes is None else tuple(int(a) % max(x.ndim, 1) for a in axes)


def _accumulator(x: np.ndarray) -> np.dtype:
    """Accumulate 16-bit floats (float16, bfloat16) in float32; every other type in itself."""
    if DType.of(x.dtype) in (DType.float16, DType.bfloat16):
        return np.dtype(np.float32)
    return x.dtype


def _lowest(dtype: np.dtype) -> object:
    if dtype == np.bool_:
        return False
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    return -np.inf


def _highest(dtype: np.dtype) -> object:
    if dtype == np.bool_:
        return True
    if dtype.kind in "iu":
        return np.iinfo(dtype).max
    return np.inf


def _sum(x: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    return np.sum(x, axis=axes, keepdims=keepdims, dtype=_accumulator(x))


def _mean(x: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    count = math.prod(x.shape[a] for a in (range(x.ndim) if axes is None else axes))
    total = np.sum(x, axis=axes, keepdims=keepdims, dtype=_accumulator(x))
    if x.dtype.kind in "iu":
        # Integer mean: exact integer sum, then a quotient truncated toward zero.
        if count == 0:
            return np.zeros_like(total)
        q = np.floor_divide(total, count)
        return q + ((total < 0) & (q * count != total))
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count


def _max(x: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    return np.max(x, axis=axes, keepdims=keepdims, initial=_lowest(x.dtype))


def _min(x: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    return np.min(x, axis=axes, keepdims=keepdims, initial=_highest(x.dtype))


def _prod(x: np.ndarray, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
    return np.prod(x, axis=axes, keepdims=keepdims, dtype=_accumulator(x))


# name -> (NumPy reduction, FLOP count). Each becomes an IR op of family "reduce".
REDUCE: dict[str, tuple[Callable[[np.ndarray, tuple[int, ...] | None, bool], np.ndarray], Callable[[Node], int]]] = {
    "reduce_sum": (_sum, _input_flops),
    "reduce_mean": (_mean, _mean_flops),
    "reduce_max": (_max, _input_flops),
    "reduce_min": (_min, _input_flops),
    "reduce_prod": (_prod, _input_flops),
}


def _reduction(name: str, fn: Callable[[np.ndarray, tuple[int, ...] | None, bool], np.ndarray]) -> Callable[..., np.ndarray]:
    def compute(x: np.ndarray, *, axes: tuple[int, ...] | None, keepdims: bool) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = fn(x, _np_axes(x, axes), bool(keepdims))
        return np.asarray(out).astype(x.dtype, copy=False)

    compute.__doc__ = f"{name} over ``axes`` (None: all), keeping reduced dims as size 1 if ``keepdims``."
    return compute


for _name, (_fn, _flops) in REDUCE.items():
    defop(_name, family="reduce", infer=_reduce_infer, flops=_flops, attrs={"axes": None, "keepdims": True})(
        _reduction(_name, _fn))


# ------------------------------------------------------------------ index of extremum
def _arg_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [TensorType(DType.int64, None)]
    axis = norm_axis(node.attrs["axis"], len(x.shape), node)
    return [TensorType(DType.int64, _reduce_shape(x.shape, (axis,), node.attrs["keepdims"]))]


def _arg(fn: Callable[..., np.ndarray], x: np.ndarray, axis: int, keepdims: bool, select_last_index: bool) -> np.ndarray:
    axis = axis % max(x.ndim, 1)
    if x.ndim == 0:
        return np.zeros((), np.int64)
    if select_last_index:
        flipped = fn(np.flip(x, axis), axis=axis, keepdims=bool(keepdims))
        return (x.shape[axis] - 1 - flipped).astype(np.int64)
    return fn(x, axis=axis, keepdims=bool(keepdims)).astype(np.int64)


_ARG_ATTRS = {"axis": 0, "keepdims": True, "select_last_index": False}


@defop("argmax", family="reduce", infer=_arg_infer, flops=_input_flops, attrs=_ARG_ATTRS)
def argmax(x: np.ndarray, *, axis: int, keepdims: bool, select_last_index: bool) -> np.ndarray:
    """Index (int64) of the largest element along ``axis``; ties go to the first, or the last if asked."""
    return _arg(np.argmax, x, axis, keepdims, select_last_index)


@defop("argmin", family="reduce", infer=_arg_infer, flops=_input_flops, attrs=_ARG_ATTRS)
def argmin(x: np.ndarray, *, axis: int, keepdims: bool, select_last_index: bool) -> np.ndarray:
    """Index (int64) of the smallest element along ``axis``; ties go to the first, or the last if asked."""
    return _arg(np.argmin, x, axis, keepdims, select_last_index)


# ------------------------------------------------------------------ scan
def _cumsum_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is not None:
        norm_axis(node.attrs["axis"], len(x.shape), node)
    return [x]


@defop("cumsum", family="reduce", infer=_cumsum_infer, flops=_input_flops,
       attrs={"axis": 0, "exclusive": False, "reverse": False})
def cumsum(x: np.ndarray, *, axis: int, exclusive: bool, reverse: bool) -> np.ndarray:
    """Running sum along ``axis``; ``exclusive`` leaves out the current element, ``reverse`` runs from the end."""
    axis = axis % max(x.ndim, 1)
    y = np.flip(x, axis) if reverse else x
    out = np.cumsum(y, axis=axis, dtype=_accumulator(x)).astype(x.dtype, copy=False)
    if exclusive:
        out = np.roll(out, 1, axis=axis)
        np.moveaxis(out, axis, 0)[:1] = 0
    return np.flip(out, axis) if reverse else out
