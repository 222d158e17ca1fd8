"""TFLite shape and data-movement operators -> IR shape ops."""

from __future__ import annotations

from collections.abc import Sequence

from hetflow.frontends.tflite.context import TO_NCHW, TfliteCtx
from hetflow.frontends.tflite.table import tflite_op
from hetflow.ir import Value


@tflite_op()
def RESHAPE(ctx: TfliteCtx, x: Value, shape: Value | None = None, *, new_shape: Sequence[int] = ()) -> Value:
    dims = ctx.ints_of(shape, "RESHAPE's shape input") if shape is not None else list(new_shape)
    if dims is None:
        raise ctx.fail("RESHAPE has neither a shape input nor a new_shape option")
    return ctx.emit("reshape", [x], shape=tuple(dims))


@tflite_op()
def PAD(ctx: TfliteCtx, x: Value, paddings: Value) -> Value:
    pairs = ctx.ints_of(paddings, "PAD's paddings")
    begins, ends = pairs[0::2], pairs[1::2]  # type: ignore[index]
    source = ctx.as_nchw(x) if x.const is None and len(begins) == 4 else None
    if source is not None:  # pad in NCHW, so the transposes around it cancel
        begins, ends = [begins[i] for i in TO_NCHW], [ends[i] for i in TO_NCHW]
        return ctx.nhwc(ctx.emit("pad", [source], pads=tuple(begins + ends), mode="constant", value=0))
    return ctx.emit("pad", [x], pads=tuple(begins + ends), mode="constant", value=0)


@tflite_op()
def CONCATENATION(ctx: TfliteCtx, *xs: Value, axis: int = 0, fused_activation_function: int = 0) -> Value:
    rank = len(xs[0].type.shape or ())
    moved = [ctx.as_nchw(x) for x in xs] if rank == 4 and any(x.const is None for x in xs) else []
    if moved and all(m is not None for m in moved):  # concatenate in NCHW along the same logical axis
        joined = ctx.nhwc(ctx.emit("concat", moved, axis=TO_NCHW.index(int(axis) % 4)))
    else:
        joined = ctx.emit("concat", list(xs), axis=int(axis))
    return ctx.activation(joined, fused_activation_function)


@tflite_op()
def TRANSPOSE(ctx: TfliteCtx, x: Value, perm: Value) -> Value:
    return ctx.transpose(x, tuple(ctx.ints_of(perm, "TRANSPOSE's perm") or ()))


@tflite_op()
def MEAN(ctx: TfliteCtx, x: Value, axes: Value, *, keep_dims: bool = False) -> Value:
    return ctx.emit("reduce_mean", [x], axes=tuple(ctx.ints_of(axes, "MEAN's axes") or ()), keepdims=bool(keep_dims))


@tflite_op()
def SQUEEZE(ctx: TfliteCtx, x: Value, *, squeeze_dims: Sequence[int] = ()) -> Value:
    shape = list(x.type.shape or ())
    rank = len(shape)
    drop = {d % rank for d in squeeze_dims} if squeeze_dims else {i for i, d in enumerate(shape) if d == 1}
    return ctx.emit("reshape", [x], shape=tuple(0 if isinstance(d, str) else d for i, d in enumerate(shape) if i not in drop))


@tflite_op()
def DENSIFY(ctx: TfliteCtx, x: Value) -> Value:
    return x  # the importer densified the sparse constant already


@tflite_op()
def DEPTH_TO_SPACE(ctx: TfliteCtx, x: Value, *, block_size: int = 0) -> Value:
    # TensorFlow's channel order (block row, block column, channel) is the IR's DCR mode on NCHW.
    return ctx.nhwc(ctx.emit("depth_to_space", [ctx.nchw(x)], blocksize=int(block_size), mode="DCR"))


@tflite_op()
def RESIZE_BILINEAR(ctx: TfliteCtx, x: Value, size: Value, *, align_corners: bool = False,
                    half_pixel_centers: bool = False) -> Value:
    height, width = ctx.ints_of(size, "RESIZE_BILINEAR's size") or (0, 0)
    shape = x.type.shape or ()
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:3]):
        raise ctx.fail(f"RESIZE_BILINEAR needs an NHWC input with static height and width, not {x.type}")
    mode = "align_corners" if align_corners else "half_pixel" if half_pixel_centers else "asymmetric"
    source = ctx.nchw(x)
    scales = (1.0, 1.0, height / int(shape[1]), width / int(shape[2]))
    y = ctx.emit("resize", [source], sizes=(-1, -1, height, width), scales=scales, mode="linear",
                 coordinate_transformation_mode=mode)
    return ctx.nhwc(y)
