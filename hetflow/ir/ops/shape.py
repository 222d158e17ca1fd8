"""Data-movement ops: reshape, transpose, concat, slice, gather, pad, ..."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.errors import InputError
from hetflow.ir.graph import Node
from hetflow.ir.ops._util import broadcast_shapes, const_of, in_type, norm_axis
from hetflow.ir.registry import REQUIRED, IRError, defop
from hetflow.ir.types import MAX_DIM, MAX_RANK, Dim, TensorType


def _new_dim(node: Node, axis: int) -> str:
    """A fresh symbol for an output dim whose size is not known statically."""
    return f"{node.name}_d{axis}"


def _add_dims(node: Node, axis: int, dims: list[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return sum(dims)  # type: ignore[arg-type]
    nonzero = [d for d in dims if d != 0]
    return nonzero[0] if len(nonzero) == 1 else _new_dim(node, axis)


def _resolve_shape(in_shape: tuple, shape: tuple[int, ...], allowzero: bool) -> list:
    """Replace 0 by the input dim at that index (unless allowzero); -1 stays to be inferred."""
    if allowzero:
        return list(shape)
    return [in_shape[i] if d == 0 and i < len(in_shape) else d for i, d in enumerate(shape)]


def _infer_minus_one(in_shape: tuple, dims: list, name: str) -> int | str:
    """The size of the -1 dim: exact when the symbols left over are none or one, else a new symbol."""
    left = [d for d in in_shape if isinstance(d, str)]
    for d in dims:
        if isinstance(d, str):
            if d not in left:
                return f"{name}_d"
            left.remove(d)
    in_ints = int(np.prod([d for d in in_shape if isinstance(d, int)]))
    out_ints = int(np.prod([d for d in dims if isinstance(d, int) and d != -1]))
    if not left:
        return in_ints // max(out_ints, 1)
    if len(left) == 1 and in_ints == out_ints:
        return left[0]
    return f"{name}_d"


def _run_time_reshape_infer(node: Node, x: TensorType) -> list[TensorType]:
    """A reshape whose target arrives as a second input: its value when constant (after specialization folds the
    shape computation), else the static hint in ``shape`` (sizes, 0 to copy, -1 for each entry known at run time)."""
    target = in_type(node, 1)
    if target.dtype.numpy.kind not in "iu" or target.rank not in (None, 1):
        raise IRError(f"node {node.name!r} (reshape): the run-time target must be a 1-D integer tensor, got {target}")
    given = const_of(node, 1)
    if given is not None:
        node.attrs["shape"] = tuple(int(d) for d in given.reshape(-1))  # static from now on: one input is enough
        del node.inputs[1]
        return _reshape_infer(node)
    hint = tuple(node.attrs["shape"])
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    dims = _resolve_shape(x.shape, hint, node.attrs["allowzero"])
    return [TensorType(x.dtype, tuple(_new_dim(node, i) if d == -1 else d for i, d in enumerate(dims)))]


def _reshape_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if len(node.inputs) > 1:
        return _run_time_reshape_infer(node, x)
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    dims = _resolve_shape(x.shape, tuple(node.attrs["shape"]), node.attrs["allowzero"])
    if -1 in dims:
        dims[dims.index(-1)] = _infer_minus_one(x.shape, dims, node.name)
    out = TensorType(x.dtype, tuple(dims))
    if x.numel is not None and out.numel is not None and out.numel != x.numel:
        raise IRError(f"node {node.name!r} (reshape): cannot reshape {x} to {tuple(dims)}")
    return [out]


@defop("reshape", family="shape", infer=_reshape_infer, attrs={"shape": REQUIRED, "allowzero": False})
def reshape(x: np.ndarray, run_shape: np.ndarray | None = None, *, shape: tuple[int, ...],
            allowzero: bool) -> np.ndarray:
    """Row-major reshape as in ONNX: a 0 copies the input dim (unless allowzero), one -1 is inferred. The target
    is ``shape``, or the optional second input when the graph computes it at run time."""
    target = tuple(int(d) for d in np.asarray(run_shape).reshape(-1)) if run_shape is not None else tuple(shape)
    return x.reshape(_resolve_shape(x.shape, target, allowzero))


def _transpose_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    perm = node.attrs["perm"]
    if x.shape is None:
        return [x]
    if sorted(perm) != list(range(len(x.shape))):
        raise IRError(f"node {node.name!r} (transpose): perm {perm} does not fit rank {len(x.shape)}")
    return [x.with_shape(tuple(x.shape[p] for p in perm))]


@defop("transpose", family="shape", infer=_transpose_infer, attrs={"perm": REQUIRED})
def transpose(x: np.ndarray, *, perm: tuple[int, ...]) -> np.ndarray:
    """Permute the dims: output dim i is input dim perm[i]."""
    return np.ascontiguousarray(np.transpose(x, perm))


def _concat_infer(node: Node) -> list[TensorType]:
    types = [v.type for v in node.inputs if v is not None]
    if not types:
        raise IRError(f"node {node.name!r} (concat): needs at least one input")
    shapes = [t.shape for t in types if t.shape is not None]
    if len(shapes) < len(types):
        return [TensorType(types[0].dtype, None)]
    rank = len(shapes[0])
    if any(len(s) != rank for s in shapes):
        raise IRError(f"node {node.name!r} (concat): inputs differ in rank: {[tuple(s) for s in shapes]}")
    axis = norm_axis(node.attrs["axis"], rank, node)
    out: list[Dim] = []
    for i in range(rank):
        dims = [s[i] for s in shapes]
        if i == axis:
            out.append(_add_dims(node, i, dims))
            continue
        ints = {d for d in dims if isinstance(d, int)}
        if len(ints) > 1:
            raise IRError(f"node {node.name!r} (concat): inputs differ in dim {i}: {[tuple(s) for s in shapes]}")
        out.append(ints.pop() if ints else dims[0])
    return [TensorType(types[0].dtype, tuple(out))]


@defop("concat", family="shape", infer=_concat_infer, attrs={"axis": REQUIRED})
def concat(*xs: np.ndarray, axis: int) -> np.ndarray:
    """Join the inputs along ``axis`` (negative counts from the end)."""
    return np.concatenate([x for x in xs if x is not None], axis=axis)


# ------------------------------------------------------------------ helpers
def _dim_map(node: Node, axis: int, d: Dim, fn: Callable[[int], int], keeps: bool = False) -> Dim:
    """``fn(d)`` for a known dim; a symbolic dim stays when the map ``keeps`` it, else gets a new symbol."""
    if isinstance(d, int):
        return int(fn(d))
    return d if keeps else _new_dim(node, axis)


def _static(node: Node, i: int, what: str) -> tuple[Dim, ...]:
    t = in_type(node, i)
    if t.shape is None:
        raise IRError(f"node {node.name!r} ({node.op}): {what} needs a known rank")
    return t.shape


def _norm_index(idx: np.ndarray, dim: int) -> np.ndarray:
    """Indices with negatives counted from the end, as intp for NumPy indexing."""
    idx = np.asarray(idx).astype(np.int64)
    return np.where(idx < 0, idx + dim, idx).astype(np.intp)


# ------------------------------------------------------------------ split / slice
def _split_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    sizes = node.attrs["sizes"]
    if x.shape is None:
        return [TensorType(x.dtype, None)] * len(sizes)
    axis = norm_axis(node.attrs["axis"], len(x.shape), node)
    d = x.shape[axis]
    if isinstance(d, int) and sum(sizes) != d:
        raise IRError(f"node {node.name!r} (split): sizes {list(sizes)} do not add up to dim {axis} = {d}")
    return [x.with_shape(x.shape[:axis] + (int(s),) + x.shape[axis + 1:]) for s in sizes]


@defop("split", family="shape", infer=_split_infer, attrs={"axis": 0, "sizes": REQUIRED},
       outputs=lambda attrs, n: len(attrs["sizes"]))
def split(x: np.ndarray, *, axis: int, sizes: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Cut ``x`` along ``axis`` into consecutive pieces of the given sizes."""
    if sum(sizes) != x.shape[axis]:  # a symbolic dim, now bound: the sizes were checked against it only now
        raise InputError(f"split: sizes {list(sizes)} do not add up to dim {axis} = {x.shape[axis]} of {list(x.shape)}")
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


def _slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int]:
    """ONNX clamping: negative bounds count from the end; a negative step may end at -1 (before 0)."""
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim)
    return min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)


def _slice_len(dim: int, start: int, end: int, step: int) -> int:
    lo, hi = _slice_bounds(dim, start, end, step)
    return max(0, -(-(hi - lo) // step))


def _slice_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [x]
    a = node.attrs
    out = list(x.shape)
    if not out and a["axes"]:
        raise IRError(f"node {node.name!r} (slice): a scalar has no axis to slice")
    for axis, start, end, step in zip(a["axes"], a["starts"], a["ends"], a["steps"]):
        axis = norm_axis(axis, len(out), node)
        if step == 0:
            raise IRError(f"node {node.name!r} (slice): step is 0 on axis {axis}")
        whole = start == 0 and step == 1 and end >= 2**31 - 1
        out[axis] = _dim_map(node, axis, out[axis], lambda d, s=start, e=end, t=step: _slice_len(d, s, e, t), whole)
    return [x.with_shape(tuple(out))]


@defop("slice", family="shape", infer=_slice_infer,
       attrs={"starts": REQUIRED, "ends": REQUIRED, "axes": REQUIRED, "steps": REQUIRED})
def slice_(x: np.ndarray, *, starts: tuple[int, ...], ends: tuple[int, ...], axes: tuple[int, ...],
           steps: tuple[int, ...]) -> np.ndarray:
    """ONNX Slice: per listed axis, x[start:end:step] with out-of-range bounds clamped."""
    index = [slice(None)] * x.ndim
    for axis, start, end, step in zip(axes, starts, ends, steps):
        lo, hi = _slice_bounds(x.shape[axis], start, end, step)
        index[axis] = slice(lo, hi if hi >= 0 else None, step)
    return x[tuple(index)].copy()


def _dynamic_slice_infer(node: Node) -> list[TensorType]:
    x, starts = in_type(node, 0), in_type(node, 1)
    if x.shape is None:
        return [x]
    axes = node.attrs["axes"]
    if axes is None:
        if starts.shape is None or len(starts.shape) != 1 or not isinstance(starts.shape[0], int):
            return [TensorType(x.dtype, tuple(f"{node.name}_d{i}" for i in range(len(x.shape))))]
        axes = range(starts.shape[0])
    out = list(x.shape)
    for axis in axes:
        axis = norm_axis(axis, len(out), node)
        out[axis] = f"{node.name}_d{axis}"  # the bounds are known only at run time
    return [x.with_shape(tuple(out))]


@defop("slice_dynamic", family="shape", infer=_dynamic_slice_infer, attrs={"axes": None, "steps": None})
def slice_dynamic(x: np.ndarray, starts: np.ndarray, ends: np.ndarray, *, axes: tuple[int, ...] | None,
                  steps: tuple[int, ...] | None) -> np.ndarray:
    """ONNX Slice whose starts and ends are computed at run time (in a loop body, from the iteration number);
    ``axes`` and ``steps`` are constants (None: the leading axes, step 1)."""
    starts, ends = [int(s) for s in np.asarray(starts).reshape(-1)], [int(e) for e in np.asarray(ends).reshape(-1)]
    if len(starts) != len(ends):
        raise ValueError(f"{len(starts)} starts and {len(ends)} ends")
    axes = tuple(range(len(starts))) if axes is None else axes
    steps = (1,) * len(starts) if steps is None else steps
    if not len(axes) == len(steps) == len(starts):
        raise ValueError(f"{len(starts)} starts for {len(axes)} axes and {len(steps)} steps")
    return slice_(x, starts=tuple(starts), ends=tuple(ends), axes=tuple(a % x.ndim for a in axes), steps=steps)


# ------------------------------------------------------------------ gather / scatter
def _gather_infer(node: Node) -> list[TensorType]:
    x, idx = in_type(node, 0), in_type(node, 1)
    if x.shape is None or idx.shape is None:
        return [TensorType(x.dtype, None)]
    if not x.shape:
        raise IRError(f"node {node.name!r} (gather): the data must have rank 1 or more, got {x}")
    axis = norm_axis(node.attrs["axis"], len(x.shape), node)
    return [x.with_shape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])]


@defop("gather", family="shape", infer=_gather_infer, attrs={"axis": 0})
def gather(x: np.ndarray, indices: np.ndarray, *, axis: int) -> np.ndarray:
    """Pick slices of ``x`` along ``axis``; negative indices count from the end."""
    return np.take(x, _norm_index(indices, x.shape[axis]), axis=axis)


def _gather_elements_infer(node: Node) -> list[TensorType]:
    x, idx = in_type(node, 0), in_type(node, 1)
    if x.rank is not None and idx.rank is not None:
        if x.rank != idx.rank or x.rank == 0:
            raise IRError(f"node {node.name!r} (gather_elements): indices {idx} must have the rank of data {x} (>= 1)")
        norm_axis(node.attrs["axis"], x.rank, node)
    return [idx.with_dtype(x.dtype)]


@defop("gather_elements", family="shape", infer=_gather_elements_infer, attrs={"axis": 0})
def gather_elements(x: np.ndarray, indices: np.ndarray, *, axis: int) -> np.ndarray:
    """out[i][j][k] = x[i][indices[i][j][k]][k] for axis=1 (ONNX GatherElements)."""
    return np.take_along_axis(x, _norm_index(indices, x.shape[axis]), axis=axis)


def _gather_nd_infer(node: Node) -> list[TensorType]:
    x, idx = in_type(node, 0), in_type(node, 1)
    k = idx.shape[-1] if idx.shape else None
    if x.shape is None or idx.shape is None or not isinstance(k, int):
        return [TensorType(x.dtype, None)]
    b = node.attrs["batch_dims"]
    if not 0 <= b < len(idx.shape) or b + k > len(x.shape) or k < 1:
        raise IRError(f"node {node.name!r} (gather_nd): indices {idx} with batch_dims={b} do not fit data {x}")
    return [x.with_shape(idx.shape[:-1] + x.shape[b + k:])]


@defop("gather_nd", family="shape", infer=_gather_nd_infer, attrs={"batch_dims": 0})
def gather_nd(x: np.ndarray, indices: np.ndarray, *, batch_dims: int) -> np.ndarray:
    """Index ``x`` by the last axis of ``indices``, the first ``batch_dims`` dims walking together."""
    b, k = batch_dims, indices.shape[-1]
    batch = int(np.prod(x.shape[:b], dtype=np.int64))
    flat_x = x.reshape((batch,) + x.shape[b:])
    flat_i = indices.reshape(batch, -1, k)
    coords = [_norm_index(flat_i[..., j], x.shape[b + j]) for j in range(k)]
    rows = np.arange(batch, dtype=np.intp)[:, None]
    picked = flat_x[(rows, *coords)]
    return picked.reshape(indices.shape[:-1] + x.shape[b + k:])


_REDUCE_AT = {"add": np.add.at, "mul": np.multiply.at, "max": np.maximum.at, "min": np.minimum.at}


def _scatter(out: np.ndarray, index: tuple, updates: np.ndarray, reduction: str) -> np.ndarray:
    if reduction == "none":
        out[index] = updates
    elif reduction in _REDUCE_AT:
        _REDUCE_AT[reduction](out, index, updates)
    else:
        raise IRError(f"scatter reduction must be one of none, add, mul, max, min; got {reduction!r}")
    return out


@defop("scatter_elements", family="shape", infer=lambda node: [in_type(node, 0)], attrs={"axis": 0, "reduction": "none"})
def scatter_elements(x: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, axis: int, reduction: str) -> np.ndarray:
    """A copy of ``x`` with ``updates`` written (or reduced) at ``indices`` along ``axis``."""
    axis %= x.ndim
    grid = list(np.indices(indices.shape, sparse=True))
    grid[axis] = _norm_index(indices, x.shape[axis])
    return _scatter(x.copy(), tuple(grid), updates, reduction)


@defop("scatter_nd", family="shape", infer=lambda node: [in_type(node, 0)], attrs={"reduction": "none"})
def scatter_nd(x: np.ndarray, indices: np.ndarray, updates: np.ndarray, *, reduction: str) -> np.ndarray:
    """A copy of ``x`` with ``updates`` written (or reduced) at the index tuples in ``indices``' last axis."""
    k = indices.shape[-1]
    index = tuple(_norm_index(indices[..., j], x.shape[j]) for j in range(k))
    return _scatter(x.copy(), index, updates, reduction)


# ------------------------------------------------------------------ pad / expand / tile
def _fold_run_time_amounts(node: Node, attr: str, count: int, what: str) -> bool:
    """Check the optional second input of a pad / tile whose amounts the graph computes at run time (``count``
    integers); when it is constant by now (a specialization folded the shape computation) make it the static
    attribute, one input from then on. False when it is still computed at run time."""
    amounts = in_type(node, 1)
    length = amounts.shape[0] if amounts.shape is not None and len(amounts.shape) == 1 else None
    if amounts.dtype.numpy.kind not in "iu" or amounts.rank not in (None, 1) or (isinstance(length, int) and length != count):
        raise IRError(f"node {node.name!r} ({node.op}): the run-time {what} must be {count} integers, got {amounts}")
    given = const_of(node, 1)
    if given is None:
        return False
    if given.size != count:
        raise IRError(f"node {node.name!r} ({node.op}): the run-time {what} must be {count} integers, got {given.size}")
    node.attrs[attr] = tuple(int(a) for a in given.reshape(-1))
    del node.inputs[1]
    return True


def _amounts_at_run(node_op: str, given: np.ndarray | None, static: tuple[int, ...], count: int,
                    what: str) -> tuple[int, ...]:
    """The amounts a pad / tile runs with: the run-time input's values (checked), else the static attribute."""
    if given is None:
        return tuple(static)
    flat = np.asarray(given).reshape(-1)
    if flat.size != count or flat.dtype.kind not in "iu":
        raise InputError(f"{node_op}: the {what} computed at run time are {flat.size} {flat.dtype} values; "
                         f"need {count} integers")
    return tuple(int(a) for a in flat)


def _pad_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    pads = node.attrs["pads"]
    if x.shape is None:
        return [x]
    r = len(x.shape)
    if len(pads) != 2 * r:
        raise IRError(f"node {node.name!r} (pad): {len(pads)} pads for rank {r}; need {2 * r}")
    if len(node.inputs) > 1 and not _fold_run_time_amounts(node, "pads", 2 * r, "pads"):
        # still computed at run time: ``pads`` is a hint (-1 where unknown); an axis whose two pads are known 0 keeps
        # its dim, every other one is known when the node runs
        return [x.with_shape(tuple(d if pads[i] == 0 and pads[i + r] == 0 else _new_dim(node, i)
                                   for i, d in enumerate(x.shape)))]
    pads = node.attrs["pads"]
    return [x.with_shape(tuple(
        _dim_map(node, i, d, lambda n, i=i: n + pads[i] + pads[i + r], pads[i] + pads[i + r] == 0)
        for i, d in enumerate(x.shape)))]


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


@defop("pad", family="shape", infer=_pad_infer, attrs={"pads": REQUIRED, "mode": "constant", "value": 0})
def pad(x: np.ndarray, run_pads: np.ndarray | None = None, *, pads: tuple[int, ...], mode: str,
        value: float) -> np.ndarray:
    """Pad (or, for negative pads, crop) each axis; pads = (begin_0, ..., begin_r-1, end_0, ..., end_r-1), from
    the attribute or, when the graph computes them at run time, the optional second input."""
    if mode not in _PAD_MODES:
        raise IRError(f"pad mode must be one of {sorted(_PAD_MODES)}; got {mode!r}")
    r = x.ndim
    pads = _amounts_at_run("pad", run_pads, pads, 2 * r, "pads")
    begins, ends = pads[:r], pads[r:]
    if run_pads is not None and any(n + b + e < 0 for n, b, e in zip(x.shape, begins, ends)):
        raise InputError(f"pad: the pads {list(pads)} computed at run time crop more than the input {list(x.shape)} has")
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begins, ends)))
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begins, ends)]
    x = x[crop]
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.asarray(value).astype(x.dtype))
    if run_pads is not None and any(n == 0 and w != (0, 0) for n, w in zip(x.shape, widths)):
        raise InputError(f"pad: {mode} padding of an empty axis (pads {list(pads)} computed at run time)")
    return np.pad(x, widths, mode=_PAD_MODES[mode])


def _expand_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    shape = tuple(node.attrs["shape"])
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    return [x.with_shape(broadcast_shapes(node, x.shape, shape))]


@defop("expand", family="shape", infer=_expand_infer, attrs={"shape": REQUIRED})
def expand(x: np.ndarray, *, shape: tuple[int, ...]) -> np.ndarray:
    """Broadcast ``x`` against ``shape`` (both ways, as ONNX Expand)."""
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, tuple(shape))).copy()


def _tile_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    reps = node.attrs["repeats"]
    if x.shape is None:
        return [x]
    if len(reps) != len(x.shape):
        raise IRError(f"node {node.name!r} (tile): {len(reps)} repeats for rank {len(x.shape)}")
    if len(node.inputs) > 1 and not _fold_run_time_amounts(node, "repeats", len(x.shape), "repeats"):
        # still computed at run time: ``repeats`` is a hint (-1 where unknown, known when the node runs)
        return [x.with_shape(tuple(_new_dim(node, i) if n < 0 else _dim_map(node, i, d, lambda k, n=n: k * n, n == 1)
                                   for i, (d, n) in enumerate(zip(x.shape, reps))))]
    reps = node.attrs["repeats"]
    dims = (_dim_map(node, i, d, lambda n, r=r: n * r, r == 1) for i, (d, r) in enumerate(zip(x.shape, reps)))
    return [x.with_shape(tuple(dims))]


@defop("tile", family="shape", infer=_tile_infer, attrs={"repeats": REQUIRED})
def tile(x: np.ndarray, run_repeats: np.ndarray | None = None, *, repeats: tuple[int, ...]) -> np.ndarray:
    """Repeat the whole tensor repeats[i] times along each dim i (the attribute, or the optional second input
    when the graph computes the repeats at run time)."""
    repeats = _amounts_at_run("tile", run_repeats, repeats, x.ndim, "repeats")
    if run_repeats is not None and any(n < 0 for n in repeats):
        raise InputError(f"tile: the repeats {list(repeats)} computed at run time must not be negative")
    return np.tile(x, tuple(repeats))


# ------------------------------------------------------------------ depth / space
def _depth_to_space_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    bs = node.attrs["blocksize"]
    if bs < 1:
        raise IRError(f"node {node.name!r} (depth_to_space): blocksize {bs} must be positive")
    if x.shape is None:
        return [x]
    if len(x.shape) != 4:
        raise IRError(f"node {node.name!r} (depth_to_space): input must be 4-D NCHW, got {x}")
    n, c, h, w = x.shape
    if isinstance(c, int) and c % (bs * bs):
        raise IRError(f"node {node.name!r} (depth_to_space): channels {c} not divisible by blocksize² = {bs * bs}")
    return [x.with_shape((n, _dim_map(node, 1, c, lambda d: d // (bs * bs)),
                          _dim_map(node, 2, h, lambda d: d * bs), _dim_map(node, 3, w, lambda d: d * bs)))]


@defop("depth_to_space", family="shape", infer=_depth_to_space_infer, attrs={"blocksize": REQUIRED, "mode": "DCR"})
def depth_to_space(x: np.ndarray, *, blocksize: int, mode: str) -> np.ndarray:
    """Move channel blocks into spatial blocks; DCR takes depth-column-row order, CRD column-row-depth."""
    n, c, h, w = x.shape
    bs = blocksize
    if mode == "DCR":
        y = x.reshape(n, bs, bs, c // (bs * bs), h, w).transpose(0, 3, 4, 1, 5, 2)
    elif mode == "CRD":
        y = x.reshape(n, c // (bs * bs), bs, bs, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        raise IRError(f"depth_to_space mode must be DCR or CRD; got {mode!r}")
    return np.ascontiguousarray(y.reshape(n, c // (bs * bs), h * bs, w * bs))


def _space_to_depth_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    bs = node.attrs["blocksize"]
    if bs < 1:
        raise IRError(f"node {node.name!r} (space_to_depth): blocksize {bs} must be positive")
    if x.shape is None:
        return [x]
    if len(x.shape) != 4:
        raise IRError(f"node {node.name!r} (space_to_depth): input must be 4-D NCHW, got {x}")
    n, c, h, w = x.shape
    for d in (h, w):
        if isinstance(d, int) and d % bs:
            raise IRError(f"node {node.name!r} (space_to_depth): spatial dims {h}x{w} not divisible by blocksize {bs}")
    return [x.with_shape((n, _dim_map(node, 1, c, lambda d: d * bs * bs),
                          _dim_map(node, 2, h, lambda d: d // bs), _dim_map(node, 3, w, lambda d: d // bs)))]


@defop("space_to_depth", family="shape", infer=_space_to_depth_infer, attrs={"blocksize": REQUIRED, "mode": "DCR"})
def space_to_depth(x: np.ndarray, *, blocksize: int, mode: str) -> np.ndarray:
    """Move spatial blocks into channels; the inverse of depth_to_space with the same mode."""
    n, c, h, w = x.shape
    bs = blocksize
    blocks = x.reshape(n, c, h // bs, bs, w // bs, bs)
    if mode == "DCR":
        y = blocks.transpose(0, 3, 5, 1, 2, 4)
    elif mode == "CRD":
        y = blocks.transpose(0, 1, 3, 5, 2, 4)
    else:
        raise IRError(f"space_to_depth mode must be DCR or CRD; got {mode!r}")
    return np.ascontiguousarray(y.reshape(n, c * bs * bs, h // bs, w // bs))


# ------------------------------------------------------------------ selection
def _top_k_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [x, TensorType(DType.int64, None)]
    axis = norm_axis(node.attrs["axis"], len(x.shape), node)
    d, k = x.shape[axis], node.attrs["k"]
    if isinstance(d, int) and k > d:
        raise IRError(f"node {node.name!r} (top_k): k = {k} exceeds dim {axis} = {d}")
    shape = x.shape[:axis] + (k,) + x.shape[axis + 1:]
    return [x.with_shape(shape), TensorType(DType.int64, shape)]


@defop("top_k", family="shape", infer=_top_k_infer, outputs=2,
       attrs={"k": REQUIRED, "axis": -1, "largest": True, "sorted": True})
def top_k(x: np.ndarray, *, k: int, axis: int, largest: bool, sorted: bool) -> tuple[np.ndarray, np.ndarray]:  # noqa: A002
    """The k largest (or smallest) entries along ``axis`` and their indices; equal values keep index order.

    The result is always sorted, which ``sorted=False`` permits."""
    axis %= x.ndim
    if largest:
        # A stable ascending sort of the reversed axis, read backwards, is descending with ties by lower index.
        n = x.shape[axis]
        order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        order = n - 1 - np.flip(order, axis)
    else:
        order = np.argsort(x, axis=axis, kind="stable")
    idx = np.take(order, np.arange(k), axis=axis)
    return np.take_along_axis(x, idx, axis=axis), idx.astype(np.int64)


def _one_hot_infer(node: Node) -> list[TensorType]:
    idx, values = in_type(node, 0), in_type(node, 1)
    if idx.shape is None:
        return [TensorType(values.dtype, None)]
    axis = norm_axis(node.attrs["axis"], len(idx.shape) + 1, node)
    return [TensorType(values.dtype, idx.shape[:axis] + (node.attrs["depth"],) + idx.shape[axis:])]


@defop("one_hot", family="shape", infer=_one_hot_infer, attrs={"depth": REQUIRED, "axis": -1})
def one_hot(indices: np.ndarray, values: np.ndarray, *, depth: int, axis: int) -> np.ndarray:
    """values[1] where the new ``axis`` equals the index (negatives from ``depth``), values[0] elsewhere."""
    axis %= indices.ndim + 1
    idx = indices.astype(np.int64)
    idx = np.expand_dims(np.where(idx < 0, idx + depth, idx), axis)
    classes = np.arange(depth).reshape((1,) * axis + (depth,) + (1,) * (indices.ndim - axis))
    return np.where(classes == idx, values[1], values[0]).astype(values.dtype)


def _trilu_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is not None and len(x.shape) < 2:  # NumPy would broadcast a vector to a square matrix
        raise IRError(f"node {node.name!r} (trilu): the input must have rank 2 or more, got {x}")
    return [x]


@defop("trilu", family="shape", infer=_trilu_infer, attrs={"upper": True, "k": 0})
def trilu(x: np.ndarray, *, upper: bool, k: int) -> np.ndarray:
    """Keep the upper (or lower) triangle of the last two dims from diagonal ``k``; zero the rest."""
    return np.triu(x, k) if upper else np.tril(x, k)


def _range_infer(node: Node) -> list[TensorType]:
    start = in_type(node, 0)
    bounds = [const_of(node, i) for i in range(3)]
    if any(b is None for b in bounds):
        return [TensorType(start.dtype, (_new_dim(node, 0),))]
    return [TensorType(start.dtype, (range_length(*bounds)[3],))]  # type: ignore[misc]


def range_length(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> tuple[float, float, float, int]:
    """(start, limit, delta, number of values) of a range, checked: three single values, a finite count."""
    if any(np.size(b) != 1 for b in (start, limit, delta)):
        raise IRError(f"range: start, limit and delta must each be one value, got {np.size(start)}, "
                      f"{np.size(limit)} and {np.size(delta)}")
    s, lim, d = start.item(), limit.item(), delta.item()
    steps = (lim - s) / d if d != 0 else math.nan
    if not math.isfinite(steps) or steps > MAX_DIM:
        raise IRError(f"range: from {s} to {lim} by {d} is no sequence hetflow can hold (delta 0, not finite, "
                      f"or over {MAX_DIM} values)")
    return s, lim, d, max(math.ceil(steps), 0)


@defop("range", family="shape", infer=_range_infer)
def range_(start: np.ndarray, limit: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """start, start + delta, ... up to (excluding) limit, in start's dtype."""
    s, _, d, n = range_length(start, limit, delta)
    return (s + np.arange(n) * d).astype(start.dtype) if n else np.zeros(0, start.dtype)


def _non_zero_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    return [TensorType(DType.int64, (len(x.shape) if x.shape is not None else _new_dim(node, 0), _new_dim(node, 1)))]


@defop("non_zero", family="shape", infer=_non_zero_infer)
def non_zero(x: np.ndarray) -> np.ndarray:
    """Indices of the nonzero entries, one row per axis (row-major order); the count is data-dependent."""
    return np.array(np.nonzero(x.reshape(1) if x.ndim == 0 else x), dtype=np.int64).reshape(max(x.ndim, 1), -1)


def _compress_infer(node: Node) -> list[TensorType]:
    x, cond = in_type(node, 0), const_of(node, 1)
    axis = node.attrs["axis"]
    n: Dim = int(np.count_nonzero(cond)) if cond is not None else _new_dim(node, 0)
    if axis is None:
        return [x.with_shape((n,))]
    if x.shape is None:
        return [x]
    axis = norm_axis(axis, len(x.shape), node)
    return [x.with_shape(x.shape[:axis] + (n,) + x.shape[axis + 1:])]


@defop("compress", family="shape", infer=_compress_infer, attrs={"axis": None})
def compress(x: np.ndarray, condition: np.ndarray, *, axis: int | None) -> np.ndarray:
    """The slices of ``x`` along ``axis`` (of the flattened ``x`` when None) where ``condition`` is true."""
    return np.compress(condition.astype(bool), x, axis=axis)


def _unique_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    n = _new_dim(node, 0)
    axis = node.attrs["axis"]
    if axis is None:
        y, scanned = x.with_shape((n,)), x.numel if x.numel is not None else _new_dim(node, 1)
    elif x.shape is None:
        y, scanned = x, _new_dim(node, 1)
    else:
        axis = norm_axis(axis, len(x.shape), node)
        y, scanned = x.with_shape(x.shape[:axis] + (n,) + x.shape[axis + 1:]), x.shape[axis]
    index = TensorType(DType.int64, (n,))
    return [y, index, TensorType(DType.int64, (scanned,)), index]


@defop("unique", family="shape", infer=_unique_infer, outputs=4, attrs={"axis": None, "sorted": True})
def unique(x: np.ndarray, *, axis: int | None, sorted: bool) -> tuple[np.ndarray, ...]:  # noqa: A002
    """Distinct elements (or slices along ``axis``), first-occurrence indices, inverse indices, counts.

    With ``sorted=False`` the distinct values keep the order of their first occurrence."""
    y, first, inverse, counts = np.unique(x, return_index=True, return_inverse=True, return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        y = np.take(y, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    return y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)


def _reverse_sequence_infer(node: Node) -> list[TensorType]:
    return [in_type(node, 0)]


@defop("reverse_sequence", family="shape", infer=_reverse_sequence_infer, attrs={"batch_axis": 1, "time_axis": 0})
def reverse_sequence(x: np.ndarray, lens: np.ndarray, *, batch_axis: int, time_axis: int) -> np.ndarray:
    """Reverse the first lens[b] steps along ``time_axis`` of every batch entry b."""
    t = np.arange(x.shape[time_axis]).reshape([-1 if i == time_axis else 1 for i in range(x.ndim)])
    n = lens.astype(np.int64).reshape([-1 if i == batch_axis else 1 for i in range(x.ndim)])
    src = np.where(t < n, n - 1 - t, t)
    src = np.broadcast_to(src, np.broadcast_shapes(src.shape, x.shape[:time_axis] + (1,) + x.shape[time_axis + 1:]))
    return np.take_along_axis(x, src.astype(np.intp), axis=time_axis)


# ------------------------------------------------------------------ shapes as values
def _shape_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [TensorType(DType.int64, (_new_dim(node, 0),))]
    dims = range(len(x.shape))[node.attrs["start"]:node.attrs["end"]]
    return [TensorType(DType.int64, (len(dims),))]


@defop("shape", family="shape", infer=_shape_infer, attrs={"start": 0, "end": None})
def shape(x: np.ndarray, *, start: int, end: int | None) -> np.ndarray:
    """The dims of ``x`` (those in [start, end), clamped as Python slicing does) as an int64 vector."""
    return np.array(x.shape[start:end], dtype=np.int64)


@defop("size", family="shape", infer=lambda node: [TensorType(DType.int64, ())])
def size(x: np.ndarray) -> np.ndarray:
    """The element count of ``x`` as an int64 scalar."""
    return np.array(x.size, dtype=np.int64)


def _constant_of_shape_infer(node: Node) -> list[TensorType]:
    dtype = DType.of(node.attrs["dtype"])
    dims = const_of(node, 0)
    if in_type(node, 0).rank not in (None, 1):
        raise IRError(f"node {node.name!r} (constant_of_shape): the shape must be a 1-D tensor, got {in_type(node, 0)}")
    if dims is not None:
        return [TensorType(dtype, tuple(int(d) for d in dims.reshape(-1)))]
    s = in_type(node, 0).shape
    if s is None or not s or not isinstance(s[0], int):
        return [TensorType(dtype, None)]
    if s[0] > MAX_RANK:
        raise IRError(f"node {node.name!r} (constant_of_shape): a shape of {s[0]} dims is more than {MAX_RANK}")
    return [TensorType(dtype, tuple(_new_dim(node, i) for i in range(s[0])))]


@defop("constant_of_shape", family="shape", infer=_constant_of_shape_infer, attrs={"value": 0.0, "dtype": "float32"})
def constant_of_shape(dims: np.ndarray, *, value: float, dtype: str) -> np.ndarray:
    """A tensor of shape ``dims`` (an int64 vector) filled with ``value``."""
    return np.full(tuple(int(d) for d in dims.reshape(-1)), value, dtype=DType.of(dtype).numpy)


def _eye_like_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is not None and len(x.shape) != 2:
        raise IRError(f"node {node.name!r} (eye_like): input must be 2-D, got {x}")
    return [x.with_dtype(node.attrs["dtype"] or x.dtype)]


@defop("eye_like", family="shape", infer=_eye_like_infer, attrs={"k": 0, "dtype": None})
def eye_like(x: np.ndarray, *, k: int, dtype: str | None) -> np.ndarray:
    """Ones on diagonal ``k`` of a matrix shaped like ``x``, zeros elsewhere (in ``dtype``, default x's)."""
    return np.eye(x.shape[0], x.shape[1], k, dtype=DType.of(dtype).numpy if dtype else x.dtype)
