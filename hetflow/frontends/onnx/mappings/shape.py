"""ONNX data-movement ops -> IR shape ops.

Squeeze, Unsqueeze and Flatten become IR ``reshape`` (0 copies an input dim in place, one -1 is
inferred); when symbolic dims move position a ``transpose`` of unit dims keeps them exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.importer import OnnxCtx
from hetflow.frontends.onnx.symbolic import known, name_dims
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value
from hetflow.ir.ops.resize import RUN_SCALE
from hetflow.ir.types import MAX_RANK, Dim


def _shape_of(ctx: Ctx, x: Value, what: str) -> tuple[Dim, ...]:
    if x.type.shape is None:
        raise ctx.fail(f"{what} needs the rank of input %{x.name}, which is unknown")
    return x.type.shape


def _axes(ctx: Ctx, axes: Sequence[int], rank: int) -> list[int]:
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ctx.fail(f"axis {a} is out of range for rank {rank}")
        out.append(a % rank)
    if len(set(out)) != len(out):
        raise ctx.fail(f"axes {list(axes)} repeat an axis")
    return sorted(out)


def _reshape_plan(in_shape: Sequence[Dim], sources: Sequence[int | None]) -> list[int] | None:
    """Reshape target for an output whose dim j is input dim ``sources[j]`` (None: a new unit dim).

    None when it takes more than one -1 (several symbolic dims change position). A 0 only ever stands
    where the input dim sits in place, so copying it (allowzero off) is exact even for an empty dim.
    """
    target: list[int] = []
    for j, i in enumerate(sources):
        if i is None:
            target.append(1)
        elif isinstance(in_shape[i], int) and (in_shape[i] != 0 or i == j):
            target.append(int(in_shape[i]))
        elif i == j:
            target.append(0)
        elif -1 in target:
            return None
        else:
            target.append(-1)
    return target


def _unsqueeze(ctx: Ctx, x: Value, axes: Sequence[int]) -> Value:
    shape = _shape_of(ctx, x, "Unsqueeze")
    rank = len(shape) + len(axes)
    new = _axes(ctx, axes, rank)
    rest = iter(range(len(shape)))
    sources = [None if j in new else next(rest) for j in range(rank)]
    target = _reshape_plan(shape, sources)
    if target is not None:
        return ctx.emit("reshape", [x], shape=tuple(target), allowzero=False)
    # Append the unit dims (every input dim stays in place), then move them into position.
    padded = ctx.emit("reshape", [x], shape=(0,) * len(shape) + (1,) * len(new), allowzero=False)
    units = iter(range(len(shape), rank))
    perm = tuple(next(units) if i is None else i for i in sources)
    return ctx.emit("transpose", [padded], perm=perm)


def _squeeze(ctx: Ctx, x: Value, axes: Sequence[int] | None) -> Value:
    shape = _shape_of(ctx, x, "Squeeze")
    if axes is None:
        gone = [i for i, d in enumerate(shape) if d == 1]
    else:
        gone = _axes(ctx, axes, len(shape))
        for a in gone:
            if isinstance(shape[a], int) and shape[a] != 1:
                raise ctx.fail(f"cannot squeeze axis {a} of size {shape[a]} (input shape {list(shape)})")
    kept = [i for i in range(len(shape)) if i not in gone]
    target = _reshape_plan(shape, kept)
    if target is not None:
        return ctx.emit("reshape", [x], shape=tuple(target), allowzero=False)
    moved = ctx.emit("transpose", [x], perm=tuple(kept + gone))
    return ctx.emit("reshape", [moved], shape=(0,) * len(kept), allowzero=False)


@onnx_op(since=1)
def Squeeze_v1(ctx: Ctx, x: Value, *, axes: Sequence[int] | None = None) -> Value:
    return _squeeze(ctx, x, axes)


@onnx_op(since=13)
def Squeeze_v13(ctx: Ctx, x: Value, axes: Value | None = None) -> Value:
    return _squeeze(ctx, x, ctx.ints_of(axes, "the axes"))


@onnx_op(since=1)
def Unsqueeze_v1(ctx: Ctx, x: Value, *, axes: Sequence[int]) -> Value:
    return _unsqueeze(ctx, x, axes)


@onnx_op(since=13)
def Unsqueeze_v13(ctx: Ctx, x: Value, axes: Value) -> Value:
    return _unsqueeze(ctx, x, ctx.ints_of(axes, "the axes") or [])


@onnx_op(since=1)
def Flatten(ctx: Ctx, x: Value, *, axis: int = 1) -> Value:
    shape = x.type.shape
    if shape is None:
        if axis not in (0, 1):
            raise ctx.fail(f"Flatten with axis={axis} needs the rank of input %{x.name}, which is unknown")
        return ctx.emit("reshape", [x], shape=(1, -1) if axis == 0 else (0, -1), allowzero=False)
    if not -len(shape) <= axis <= len(shape):
        raise ctx.fail(f"axis {axis} is out of range for rank {len(shape)}")
    axis += len(shape) if axis < 0 else 0
    groups = (shape[:axis], shape[axis:])
    if all(isinstance(d, int) for d in shape):
        target = tuple(math.prod(g) for g in groups)  # type: ignore[arg-type]
        return ctx.emit("reshape", [x], shape=target, allowzero=0 in target)
    flat: list[int] = []
    for j, group in enumerate(groups):
        if j == 0 and len(group) == 1:
            flat.append(0)
        elif all(isinstance(d, int) for d in group):
            flat.append(math.prod(group))  # type: ignore[arg-type]
        elif -1 in flat:
            raise ctx.fail(f"cannot flatten {list(shape)} at axis {axis}: both halves have symbolic dims")
        else:
            flat.append(-1)
    return ctx.emit("reshape", [x], shape=tuple(flat), allowzero=False)


def _symbolic_reshape_target(x: Value, dims: Sequence[Dim], allowzero: int) -> list[int] | None:
    """An IR reshape target for a target whose entries are symbolic dims: a symbol in place copies the input
    dim (0), one other symbolic entry is inferred (-1); None when that does not express it."""
    in_shape = x.type.shape or ()
    target: list[int] = []
    for j, d in enumerate(dims):
        if isinstance(d, int):
            target.append(d)
        elif not allowzero and j < len(in_shape) and in_shape[j] == d:
            target.append(0)
        elif -1 in target or -1 in dims:
            return None
        else:
            target.append(-1)
    return target


@onnx_op(since=5)
def Reshape_v5(ctx: Ctx, x: Value, shape: Value, *, allowzero: int = 0) -> Value:
    if shape.const is not None:
        target = ctx.ints_of(shape, "the target shape")
        return ctx.emit("reshape", [x], shape=tuple(target or ()), allowzero=bool(allowzero))
    contents = known(shape)
    if contents is not None and not contents.scalar:
        target = _symbolic_reshape_target(x, contents.dims, allowzero)
        if target is not None:
            out = ctx.emit("reshape", [x], shape=tuple(target), allowzero=bool(allowzero))
            return name_dims(out, contents.dims)
    return _reshape_at_run_time(ctx, x, shape, None if contents is None or contents.scalar else contents.dims, allowzero)


def _reshape_at_run_time(ctx: Ctx, x: Value, shape: Value, dims: Sequence[Dim] | None, allowzero: int) -> Value:
    """A target that 0 / -1 cannot express statically (``view(b, h, w, c)`` of ``[b, h*w, c]``): the IR reshape
    reads it as its second input when it runs; what is known of it types the output."""
    length = shape.type.shape[0] if shape.type.shape is not None and len(shape.type.shape) == 1 else None
    if not isinstance(length, int) or length > MAX_RANK:
        raise ctx.fail(f"the target shape %{shape.name} ({shape.type}) must be a 1-D tensor of known length "
                       f"up to {MAX_RANK}")
    hint = tuple(d if isinstance(d, int) else -1 for d in dims) if dims is not None else (-1,) * length
    out = ctx.emit("reshape", [x, shape], shape=hint, allowzero=bool(allowzero))
    return out if dims is None else name_dims(out, dims)


@onnx_op(since=1)
def Transpose(ctx: Ctx, x: Value, *, perm: Sequence[int] | None = None) -> Value:
    if perm is None:
        perm = list(range(len(_shape_of(ctx, x, "Transpose without perm"))))[::-1]
    if x.type.shape is not None and sorted(perm) != list(range(len(x.type.shape))):
        raise ctx.fail(f"perm {list(perm)} is not a permutation of the {len(x.type.shape)} input dims")
    return ctx.emit("transpose", [x], perm=tuple(int(p) for p in perm))


@onnx_op(since=1)
def Concat_v1(ctx: Ctx, *inputs: Value, axis: int = 1) -> Value:
    return ctx.emit("concat", [v for v in inputs if v is not None], axis=axis)


@onnx_op(since=4)
def Concat_v4(ctx: Ctx, *inputs: Value, axis: int) -> Value:
    return ctx.emit("concat", [v for v in inputs if v is not None], axis=axis)


def _rank(ctx: Ctx, x: Value, what: str) -> int:
    return len(_shape_of(ctx, x, what))


def _axis(ctx: Ctx, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _given(values: Sequence[int] | None) -> Sequence[int] | None:
    """Treat an empty parameter tensor as an absent one (ONNX models use both)."""
    return values if values else None


# ------------------------------------------------------------------ split
def _split(ctx: Ctx, x: Value, axis: int, sizes: Sequence[int] | None, num_outputs: int | None = None) -> list[Value]:
    shape = _shape_of(ctx, x, "Split")
    axis = _axis(ctx, axis, len(shape))
    if num_outputs is not None and num_outputs != len(ctx.outputs):
        raise ctx.fail(f"num_outputs {num_outputs} differs from the node's {len(ctx.outputs)} outputs")
    n = num_outputs or len(ctx.outputs)
    if sizes is None:
        dim = shape[axis]
        if not isinstance(dim, int):
            raise ctx.fail(f"splitting symbolic dim {dim!r} into equal parts needs explicit split sizes")
        if num_outputs is None and dim % n:
            raise ctx.fail(f"dim {axis} of size {dim} does not split into {n} equal parts")
        chunk = -(-dim // n)
        sizes = [min(chunk, dim - i * chunk) for i in range(n)]
    return ctx.emit("split", [x], num_outputs=len(sizes), axis=axis, sizes=tuple(int(s) for s in sizes))


@onnx_op(since=2)
def Split_v2(ctx: Ctx, x: Value, *, axis: int = 0, split: Sequence[int] | None = None) -> list[Value]:
    return _split(ctx, x, axis, _given(split))


@onnx_op(since=13)
def Split_v13(ctx: Ctx, x: Value, split: Value | None = None, *, axis: int = 0) -> list[Value]:
    return _split(ctx, x, axis, _given(ctx.ints_of(split, "the split sizes")))


@onnx_op(since=18)
def Split_v18(ctx: Ctx, x: Value, split: Value | None = None, *, axis: int = 0,
              num_outputs: int | None = None) -> list[Value]:
    sizes = _given(ctx.ints_of(split, "the split sizes"))
    if sizes is not None and num_outputs is not None:
        raise ctx.fail("give either the split input or the num_outputs attribute, not both")
    return _split(ctx, x, axis, sizes, num_outputs)


# ------------------------------------------------------------------ slice
def _slice(ctx: Ctx, x: Value, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int] | None,
           steps: Sequence[int] | None) -> Value:
    rank = _rank(ctx, x, "Slice")
    axes = list(range(len(starts))) if axes is None else [_axis(ctx, a, rank) for a in axes]
    steps = [1] * len(starts) if steps is None else list(steps)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.fail(f"starts, ends, axes and steps differ in length: {len(starts)}, {len(ends)}, {len(axes)}, {len(steps)}")
    if len(set(axes)) != len(axes):
        raise ctx.fail(f"axes {axes} repeat an axis")
    if 0 in steps:
        raise ctx.fail("a step is 0")
    return ctx.emit("slice", [x], starts=tuple(starts), ends=tuple(ends), axes=tuple(axes), steps=tuple(steps))


@onnx_op(since=1)
def Slice_v1(ctx: Ctx, x: Value, *, starts: Sequence[int], ends: Sequence[int],
             axes: Sequence[int] | None = None) -> Value:
    return _slice(ctx, x, starts, ends, axes, None)


@onnx_op(since=10)
def Slice_v10(ctx: Ctx, x: Value, starts: Value, ends: Value, axes: Value | None = None,
              steps: Value | None = None) -> Value:
    if (starts.const is None or ends.const is None) and _in_body(ctx):
        # computed in a loop body (from the iteration number): never a constant, so nothing to specialize on
        given_axes, given_steps = _given(ctx.ints_of(axes, "the axes")), _given(ctx.ints_of(steps, "the steps"))
        return ctx.emit("slice_dynamic", [x, starts, ends], axes=None if given_axes is None else tuple(given_axes),
                        steps=None if given_steps is None else tuple(given_steps))
    return _slice(ctx, x, ctx.ints_of(starts, "the starts") or [], ctx.ints_of(ends, "the ends") or [],
                  _given(ctx.ints_of(axes, "the axes")), _given(ctx.ints_of(steps, "the steps")))


def _in_body(ctx: Ctx) -> bool:
    """Whether ``ctx`` imports a node of a control-flow body (its values may change every iteration)."""
    return isinstance(ctx, OnnxCtx) and ctx.scope.parent is not None


# ------------------------------------------------------------------ gather / scatter
@onnx_op(since=1)
def Gather(ctx: Ctx, x: Value, indices: Value, *, axis: int = 0) -> Value:
    return ctx.emit("gather", [x, indices], axis=_axis(ctx, axis, _rank(ctx, x, "Gather")))


@onnx_op(since=11)
def GatherElements(ctx: Ctx, x: Value, indices: Value, *, axis: int = 0) -> Value:
    return ctx.emit("gather_elements", [x, indices], axis=_axis(ctx, axis, _rank(ctx, x, "GatherElements")))


@onnx_op(since=11)
def GatherND(ctx: Ctx, x: Value, indices: Value, *, batch_dims: int = 0) -> Value:
    return ctx.emit("gather_nd", [x, indices], batch_dims=batch_dims)


@onnx_op(since=11)
def ScatterElements(ctx: Ctx, x: Value, indices: Value, updates: Value, *, axis: int = 0,
                    reduction: str = "none") -> Value:
    axis = _axis(ctx, axis, _rank(ctx, x, "ScatterElements"))
    return ctx.emit("scatter_elements", [x, indices, updates], axis=axis, reduction=reduction)


@onnx_op(since=9)
def Scatter(ctx: Ctx, x: Value, indices: Value, updates: Value, *, axis: int = 0) -> Value:
    """Deprecated at opset 11 in favour of ScatterElements, with the same meaning."""
    return ScatterElements(ctx, x, indices, updates, axis=axis)


@onnx_op(since=11)
def ScatterND(ctx: Ctx, x: Value, indices: Value, updates: Value, *, reduction: str = "none") -> Value:
    return ctx.emit("scatter_nd", [x, indices, updates], reduction=reduction)


# ------------------------------------------------------------------ pad / expand / tile
_PAD_MODES = ("constant", "reflect", "edge", "wrap")


def _pad(ctx: Ctx, x: Value, pads: Sequence[int], mode: str, value: float, axes: Sequence[int] | None = None) -> Value:
    if mode not in _PAD_MODES:
        raise ctx.fail(f"pad mode {mode!r} is not one of {', '.join(_PAD_MODES)}")
    rank = _rank(ctx, x, "Pad")
    axes = list(range(rank)) if axes is None else [_axis(ctx, a, rank) for a in axes]
    if len(pads) != 2 * len(axes):
        raise ctx.fail(f"{len(pads)} pads for {len(axes)} axes; need {2 * len(axes)}")
    full = [0] * (2 * rank)
    for i, a in enumerate(axes):
        full[a], full[a + rank] = pads[i], pads[i + len(axes)]
    return ctx.emit("pad", [x], pads=tuple(full), mode=mode, value=value)


def _pad_value(ctx: Ctx, constant_value: Value | None) -> float:
    array = ctx.value_of(constant_value, "the constant value")
    return 0 if array is None or array.size == 0 else array.reshape(-1)[0].item()


@onnx_op(since=2)
def Pad_v2(ctx: Ctx, x: Value, *, pads: Sequence[int], mode: str = "constant", value: float = 0.0) -> Value:
    return _pad(ctx, x, pads, mode, value)


def _amounts_vector(ctx: Ctx, v: Value, count: int, what: str) -> None:
    """A pad / tile amount computed at run time must at least be a 1-D integer tensor of ``count`` entries."""
    shape = v.type.shape
    wrong_length = shape is not None and len(shape) == 1 and isinstance(shape[0], int) and shape[0] != count
    if v.type.dtype.numpy.kind not in "iu" or shape is None or len(shape) != 1 or wrong_length:
        raise ctx.fail(f"{what} %{v.name} ({v.type}) must be a 1-D integer tensor of {count} entries")


def _pad_at_run_time(ctx: Ctx, x: Value, pads: Value, mode: str, value: float, axes: Sequence[int] | None) -> Value:
    """Pads the graph computes (``F.pad(x, [0, W % 8])``): the IR pad reads them as its second input when it runs;
    a specialization that makes them constant (shape arithmetic) folds them into the static form. With ``axes``,
    the full [begins..., ends...] vector is gathered from the given pads and a trailing 0."""
    if mode not in _PAD_MODES:
        raise ctx.fail(f"pad mode {mode!r} is not one of {', '.join(_PAD_MODES)}")
    rank = _rank(ctx, x, "Pad")
    picked = list(range(rank)) if axes is None else [_axis(ctx, a, rank) for a in axes]
    n = len(picked)
    _amounts_vector(ctx, pads, 2 * n, "the pads")
    contents = known(pads)
    hint = [0 if contents is not None and d == 0 else -1 for d in contents.dims] if contents else [-1] * (2 * n)
    if picked != list(range(rank)):
        if len(set(picked)) != n:
            raise ctx.fail(f"the axes {list(axes or ())} repeat an axis")
        index, full_hint = [2 * n] * (2 * rank), [0] * (2 * rank)
        for i, a in enumerate(picked):
            index[a], index[a + rank] = i, i + n
            full_hint[a], full_hint[a + rank] = hint[i], hint[i + n]
        wide = ctx.emit("cast", [pads], to="int64")
        padded = ctx.emit("concat", [wide, ctx.const(np.zeros(1, np.int64), name="no_pad")], axis=0)
        pads, hint = ctx.emit("gather", [padded, ctx.const(np.array(index, np.int64), name="pad_axes")], axis=0), full_hint
    return ctx.emit("pad", [x, pads], pads=tuple(hint), mode=mode, value=value)


@onnx_op(since=11)
def Pad_v11(ctx: Ctx, x: Value, pads: Value, constant_value: Value | None = None, *, mode: str = "constant") -> Value:
    if pads.const is None:
        return _pad_at_run_time(ctx, x, pads, mode, _pad_value(ctx, constant_value), None)
    return _pad(ctx, x, ctx.ints_of(pads, "the pads") or [], mode, _pad_value(ctx, constant_value))


@onnx_op(since=18)
def Pad_v18(ctx: Ctx, x: Value, pads: Value, constant_value: Value | None = None, axes: Value | None = None, *,
            mode: str = "constant") -> Value:
    axes_list = _given(ctx.ints_of(axes, "the axes"))
    if pads.const is None:
        return _pad_at_run_time(ctx, x, pads, mode, _pad_value(ctx, constant_value), axes_list)
    return _pad(ctx, x, ctx.ints_of(pads, "the pads") or [], mode, _pad_value(ctx, constant_value), axes_list)


def _symbolic_expand_target(x: Value, dims: Sequence[Dim]) -> tuple[int, ...] | None:
    """An expand target for symbolic entries: one equal to the input's dim it lines up with keeps that dim (1)."""
    in_shape = x.type.shape
    if in_shape is None:
        return None
    offset = len(dims) - len(in_shape)
    target = []
    for j, d in enumerate(dims):
        if isinstance(d, int):
            target.append(d)
        elif j - offset >= 0 and in_shape[j - offset] == d:
            target.append(1)
        else:
            return None
    return tuple(target)


def _expand_at_run_time(ctx: Ctx, x: Value, shape: Value, dims: Sequence[Dim] | None) -> Value:
    """Expand to a shape computed at run time: Expand broadcasts both ways, exactly as ``where(mask, x, x)`` does
    with an all-true mask of that shape, and the mask is a ``constant_of_shape`` of the computed shape."""
    if shape.type.shape is None or len(shape.type.shape) != 1 or not isinstance(shape.type.shape[0], int):
        raise ctx.fail(f"the target shape %{shape.name} ({shape.type}) must be a 1-D tensor of known length")
    mask = ctx.emit("constant_of_shape", [shape], value=True, dtype="bool")
    if dims is not None:
        name_dims(mask, dims)
    out = ctx.emit("where", [mask, x, x])
    if dims is None or out.type.shape is None:
        return out
    return name_dims(out, (1,) * (len(out.type.shape) - len(dims)) + tuple(dims))  # 1: a leading dim of x


@onnx_op(since=8)
def Expand(ctx: Ctx, x: Value, shape: Value) -> Value:
    if shape.const is not None:
        return ctx.emit("expand", [x], shape=tuple(ctx.ints_of(shape, "the target shape") or ()))
    contents = known(shape)
    if contents is not None and not contents.scalar:
        target = _symbolic_expand_target(x, contents.dims)
        if target is not None:
            return ctx.emit("expand", [x], shape=target)
    return _expand_at_run_time(ctx, x, shape, None if contents is None or contents.scalar else contents.dims)


@onnx_op(since=6)
def Tile(ctx: Ctx, x: Value, repeats: Value) -> Value:
    if repeats.const is not None:
        return ctx.emit("tile", [x], repeats=tuple(ctx.ints_of(repeats, "the repeats") or ()))
    # computed (``x.repeat(n, 1)`` with n from a shape or from data): the IR tile reads them when it runs, and a
    # specialization that makes them constant folds them in; what is known of them now (-1: not) is the hint
    rank = _rank(ctx, x, "Tile")
    _amounts_vector(ctx, repeats, rank, "the repeats")
    contents = known(repeats)
    hint = [d if isinstance(d, int) and d >= 0 else -1 for d in contents.dims] if contents else [-1] * rank
    return ctx.emit("tile", [x, repeats], repeats=tuple(hint))


# ------------------------------------------------------------------ depth / space, selection
@onnx_op(since=1)
def DepthToSpace(ctx: Ctx, x: Value, *, blocksize: int, mode: str = "DCR") -> Value:
    if mode not in ("DCR", "CRD"):
        raise ctx.fail(f"mode {mode!r} is not DCR or CRD")
    return ctx.emit("depth_to_space", [x], blocksize=blocksize, mode=mode)


@onnx_op(since=1)
def SpaceToDepth(ctx: Ctx, x: Value, *, blocksize: int, mode: str = "DCR") -> Value:
    if mode not in ("DCR", "CRD"):
        raise ctx.fail(f"mode {mode!r} is not DCR or CRD")
    return ctx.emit("space_to_depth", [x], blocksize=blocksize, mode=mode)


@onnx_op(since=9)
def Compress(ctx: Ctx, x: Value, condition: Value, *, axis: int | None = None) -> Value:
    if axis is not None:
        axis = _axis(ctx, axis, _rank(ctx, x, "Compress"))
    return ctx.emit("compress", [x, condition], axis=axis)


@onnx_op(since=10)
def ReverseSequence(ctx: Ctx, x: Value, sequence_lens: Value, *, batch_axis: int = 1, time_axis: int = 0) -> Value:
    rank = _rank(ctx, x, "ReverseSequence")
    return ctx.emit("reverse_sequence", [x, sequence_lens], batch_axis=_axis(ctx, batch_axis, rank),
                    time_axis=_axis(ctx, time_axis, rank))


# ------------------------------------------------------------------ resize
_RESIZE_MODES = ("nearest", "linear", "cubic")


def _resize(ctx: Ctx, x: Value, scales: Sequence[float] | None, sizes: Sequence[int] | None, *,
            axes: Sequence[int] | None = None, roi: Sequence[float] | None = None,
            keep_aspect_ratio_policy: str = "stretch", **attrs: object) -> Value:
    """Resolve ONNX's scales-or-sizes, axes, roi and aspect policy into the IR's static per-dim sizes and scales."""
    if attrs["mode"] not in _RESIZE_MODES:
        raise ctx.fail(f"mode {attrs['mode']!r} is not one of {', '.join(_RESIZE_MODES)}")
    shape = _shape_of(ctx, x, "Resize")
    r = len(shape)
    axes = list(range(r)) if axes is None else [_axis(ctx, a, r) for a in axes]
    given = sizes if sizes is not None else scales
    if given is None:
        raise ctx.fail("needs scales or sizes")
    if len(given) != len(axes):
        raise ctx.fail(f"{len(given)} {'sizes' if sizes is not None else 'scales'} for {len(axes)} axes")
    crop = attrs["coordinate_transformation_mode"] == "tf_crop_and_resize"
    box = [0.0] * r + [1.0] * r
    if crop:
        if roi is None or len(roi) != 2 * len(axes):
            raise ctx.fail(f"tf_crop_and_resize needs an roi of {2 * len(axes)} values")
        for i, a in enumerate(axes):
            box[a], box[a + r] = float(roi[i]), float(roi[i + len(axes)])
    out_sizes: list[int] = [d if isinstance(d, int) else -1 for d in shape]
    out_scales = [1.0] * r
    if sizes is not None:
        picked = _sizes_to_scales(ctx, [shape[a] for a in axes], sizes, keep_aspect_ratio_policy)
        for a, (size, scale) in zip(axes, picked):
            out_sizes[a], out_scales[a] = size, scale
    else:
        for a, scale in zip(axes, scales):  # type: ignore[arg-type]
            dim = shape[a]
            if scale <= 0:
                raise ctx.fail(f"scale {scale} must be positive")
            out_scales[a] = float(scale)  # a symbolic dim keeps size -1: floor(dim * scale), known at run time
            if isinstance(dim, int):
                out_sizes[a] = math.floor(dim * (box[a + r] - box[a]) * scale)
    return ctx.emit("resize", [x], sizes=tuple(out_sizes), scales=tuple(out_scales), roi=tuple(box) if crop else None,
                    **attrs)


def _sizes_to_scales(ctx: Ctx, dims: Sequence[Dim], sizes: Sequence[int], policy: str) -> list[tuple[int, float]]:
    """(output size, scale) per resized axis; not_larger / not_smaller keep the aspect ratio with one scale."""
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise ctx.fail(f"resizing to fixed sizes needs static input dims on the resized axes, got {list(dims)}")
    ratios = [s / d for s, d in zip(sizes, dims)]  # type: ignore[operator]
    if policy == "stretch":
        return [(int(s), q) for s, q in zip(sizes, ratios)]
    pick = {"not_larger": min, "not_smaller": max}.get(policy)
    if pick is None:
        raise ctx.fail(f"keep_aspect_ratio_policy {policy!r} is not stretch, not_larger or not_smaller")
    scale = pick(ratios)
    return [(int(scale * d + 0.5), scale) for d in dims]  # type: ignore[operator]


def _floats(ctx: Ctx, v: Value | None, what: str) -> list[float] | None:
    array = ctx.value_of(v, what)
    return None if array is None or array.size == 0 else [float(f) for f in array.reshape(-1)]


def _legacy_upsample(ctx: Ctx, x: Value, scales: Sequence[float], mode: str) -> Value:
    """Upsample and Resize-10: asymmetric coordinates; nearest rounds down on axes that grow and up on
    axes that shrink (as onnxruntime does), so mixed scales take one resize per direction."""
    mode = "linear" if mode == "bilinear" else mode
    fixed = dict(mode=mode, coordinate_transformation_mode="asymmetric", cubic_coeff_a=-0.75, exclude_outside=False,
                 extrapolation_value=0.0, antialias=False)
    if mode != "nearest" or all(s >= 1 for s in scales):
        return _resize(ctx, x, scales, None, nearest_mode="floor", **fixed)
    if len(scales) != _rank(ctx, x, "Resize"):
        raise ctx.fail(f"{len(scales)} scales for rank {_rank(ctx, x, 'Resize')}")
    down = [s if s < 1 else 1.0 for s in scales]
    y = _resize(ctx, x, down, None, nearest_mode="ceil", **fixed)
    if all(s <= 1 for s in scales):
        return y
    return _resize(ctx, y, [s if s > 1 else 1.0 for s in scales], None, nearest_mode="floor", **fixed)


@onnx_op(since=7)
def Upsample_v7(ctx: Ctx, x: Value, *, scales: Sequence[float], mode: str = "nearest") -> Value:
    return _legacy_upsample(ctx, x, scales, mode)


@onnx_op(since=9)
def Upsample_v9(ctx: Ctx, x: Value, scales: Value, *, mode: str = "nearest") -> Value:
    return _legacy_upsample(ctx, x, _floats(ctx, scales, "the scales") or [], mode)


@onnx_op(since=10)
def Resize_v10(ctx: Ctx, x: Value, scales: Value, *, mode: str = "nearest") -> Value:
    return _legacy_upsample(ctx, x, _floats(ctx, scales, "the scales") or [], mode)


@onnx_op(since=11)
def Resize_v11(ctx: Ctx, x: Value, roi: Value | None = None, scales: Value | None = None, sizes: Value | None = None,
               *, coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
               exclude_outside: int = 0, extrapolation_value: float = 0.0, mode: str = "nearest",
               nearest_mode: str = "round_prefer_floor") -> Value:
    return Resize_v18(ctx, x, roi, scales, sizes, coordinate_transformation_mode=coordinate_transformation_mode,
                      cubic_coeff_a=cubic_coeff_a, exclude_outside=exclude_outside,
                      extrapolation_value=extrapolation_value, mode=mode, nearest_mode=nearest_mode)


@onnx_op(since=18)
def Resize_v18(ctx: Ctx, x: Value, roi: Value | None = None, scales: Value | None = None, sizes: Value | None = None,
               *, antialias: int = 0, axes: Sequence[int] | None = None,
               coordinate_transformation_mode: str = "half_pixel", cubic_coeff_a: float = -0.75,
               exclude_outside: int = 0, extrapolation_value: float = 0.0,
               keep_aspect_ratio_policy: str = "stretch", mode: str = "nearest",
               nearest_mode: str = "round_prefer_floor") -> Value:
    attrs = dict(mode=mode, coordinate_transformation_mode=coordinate_transformation_mode, nearest_mode=nearest_mode,
                 cubic_coeff_a=float(cubic_coeff_a), exclude_outside=bool(exclude_outside),
                 extrapolation_value=float(extrapolation_value), antialias=bool(antialias))
    if sizes is not None and sizes.const is None and axes is None and keep_aspect_ratio_policy == "stretch" \
            and coordinate_transformation_mode != "tf_crop_and_resize":
        return _resize_to_run_time_sizes(ctx, x, sizes, attrs)
    size_list = _given(ctx.ints_of(sizes, "the output sizes"))
    if size_list is None and scales is not None and scales.const is None:
        roi_list = _floats(ctx, roi, "the roi") if coordinate_transformation_mode == "tf_crop_and_resize" else None
        return _resize_by_run_time_scales(ctx, x, scales, axes, roi_list, attrs)
    scale_list = None if size_list is not None else _floats(ctx, scales, "the scales")
    roi_list = _floats(ctx, roi, "the roi") if coordinate_transformation_mode == "tf_crop_and_resize" else None
    return _resize(ctx, x, scale_list, size_list, axes=axes, roi=roi_list,
                   keep_aspect_ratio_policy=keep_aspect_ratio_policy, **attrs)


def _resize_to_run_time_sizes(ctx: Ctx, x: Value, sizes: Value, attrs: dict[str, object]) -> Value:
    """Resize to sizes computed at run time (torch's ``interpolate(size=skip.shape[2:])``): an axis whose target is
    the input's own dim keeps it, one whose target and input are both static is static, and every other axis takes
    its size from the sizes tensor when the graph runs (size -1, scale 0 in the IR)."""
    if attrs["mode"] not in _RESIZE_MODES:
        raise ctx.fail(f"mode {attrs['mode']!r} is not one of {', '.join(_RESIZE_MODES)}")
    shape = _shape_of(ctx, x, "Resize")
    contents = known(sizes)
    targets: Sequence[Dim | None] = contents.dims if contents is not None and not contents.scalar else [None] * len(shape)
    if len(targets) != len(shape) or sizes.type.shape not in (None, (len(shape),)):
        raise ctx.fail(f"the output sizes %{sizes.name} ({sizes.type}) must hold one size per dim of {list(shape)}")
    out_sizes, out_scales = [], []
    for d, t in zip(shape, targets):
        if t is not None and t == d:
            out_sizes.append(-1)
            out_scales.append(1.0)
        elif isinstance(t, int) and isinstance(d, int) and d > 0:
            out_sizes.append(t)
            out_scales.append(t / d)
        else:
            out_sizes.append(-1)
            out_scales.append(0.0)
    inputs = [x, sizes] if 0.0 in out_scales else [x]
    out = ctx.emit("resize", inputs, sizes=tuple(out_sizes), scales=tuple(out_scales), roi=None, **attrs)
    return out if contents is None or contents.scalar else name_dims(out, contents.dims)


def _resize_by_run_time_scales(ctx: Ctx, x: Value, scales: Value, axes: Sequence[int] | None,
                               roi: Sequence[float] | None, attrs: dict[str, object]) -> Value:
    """Resize by scales the graph computes (``interpolate(scale_factor=...)`` with the factor from a tensor): the IR
    resize reads each resized axis's scale (RUN_SCALE) from its second input when it runs, and a specialization that
    makes them constant (shape arithmetic) folds them in. With ``axes``, the full per-dim vector is gathered from
    the given scales and a trailing 1."""
    if attrs["mode"] not in _RESIZE_MODES:
        raise ctx.fail(f"mode {attrs['mode']!r} is not one of {', '.join(_RESIZE_MODES)}")
    r = len(_shape_of(ctx, x, "Resize"))
    picked = list(range(r)) if axes is None else [_axis(ctx, a, r) for a in axes]
    shape = scales.type.shape
    wrong_length = shape is not None and len(shape) == 1 and isinstance(shape[0], int) and shape[0] != len(picked)
    if scales.type.dtype.numpy.kind != "f" or shape is None or len(shape) != 1 or wrong_length:
        raise ctx.fail(f"the scales %{scales.name} ({scales.type}) must be a 1-D float tensor of {len(picked)} entries")
    box = None
    if attrs["coordinate_transformation_mode"] == "tf_crop_and_resize":
        if roi is None or len(roi) != 2 * len(picked):
            raise ctx.fail(f"tf_crop_and_resize needs an roi of {2 * len(picked)} values")
        box = [0.0] * r + [1.0] * r
        for i, a in enumerate(picked):
            box[a], box[a + r] = float(roi[i]), float(roi[i + len(picked)])
    if picked != list(range(r)):
        if len(set(picked)) != len(picked):
            raise ctx.fail(f"the axes {list(axes or ())} repeat an axis")
        index = [picked.index(a) if a in picked else len(picked) for a in range(r)]
        padded = ctx.emit("concat", [scales, ctx.const(np.ones(1, scales.type.dtype.numpy), name="no_scale")], axis=0)
        scales = ctx.emit("gather", [padded, ctx.const(np.array(index, np.int64), name="scale_axes")], axis=0)
    marks = tuple(RUN_SCALE if a in picked else 1.0 for a in range(r))
    return ctx.emit("resize", [x, scales], sizes=(-1,) * r, scales=marks, roi=None if box is None else tuple(box),
                    **attrs)
