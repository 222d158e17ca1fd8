"""ONNX quantization ops decomposed into IR ops: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv.

Integer quantization is spelled out: divide by the scale, round half to even, add the zero point in
int32, saturate, cast; the reverse for dequantization. Integer matmul and convolution run on int32
operands with the zero points subtracted, and requantize through float32 as onnxruntime does. A
quantizing backend recognizes these patterns; every other backend runs them as they are. Scales and
zero points may be per tensor, per axis (1-D) or, from opset 21, per block. Float8, int4 and int2
are not IR types and are refused.
"""

from __future__ import annotations

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.frontends.onnx.importer import onnx_dtype
from hetflow.frontends.onnx.mappings.composite import _dim, _narrow, _rank, _scalar, _widen
from hetflow.frontends.onnx.mappings.nn import Ints, _kernel_of, _present, _window
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import DType, Value

_QUANT_RANGES = {
    DType.uint8: (0, 255), DType.int8: (-128, 127), DType.uint16: (0, 65535), DType.int16: (-32768, 32767),
}


def _quant_param(ctx: Ctx, p: Value, x: Value, axis: int, block_size: int) -> Value:
    """A scale or zero point made to broadcast against ``x``: per tensor, per axis or per block."""
    rank = _rank(ctx, x, ctx.op_type)
    shape = p.type.shape
    if shape is None:
        raise ctx.fail(f"the rank of %{p.name} is unknown")
    if len(shape) == 0 or (p.type.numel == 1 and not block_size):
        return ctx.emit("reshape", [p], shape=(), allowzero=False) if shape else p
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    axis %= rank
    if not block_size:
        if len(shape) != 1:
            raise ctx.fail(f"a per-axis scale or zero point must be 1-D, %{p.name} is {p.type}")
        return ctx.emit("reshape", [p], shape=tuple(-1 if i == axis else 1 for i in range(rank)), allowzero=False)
    if block_size < 0:
        raise ctx.fail(f"block_size must be positive, got {block_size}")
    n = _dim(ctx, x, axis, "blocked quantization")
    # Element i along the axis takes block i // block_size.
    blocks = ctx.const(np.arange(n, dtype=np.int64) // block_size, name="block_of")
    return ctx.emit("gather", [p, blocks], axis=axis)


def _saturate(ctx: Ctx, q: Value, target: DType) -> Value:
    """Clamp an integral value (already rounded) into the range of ``target`` and cast it there."""
    if target not in _QUANT_RANGES:
        raise ctx.fail(f"quantizing to {target} is not supported; hetflow quantizes to {sorted(map(str, _QUANT_RANGES))}")
    lo, hi = _QUANT_RANGES[target]
    return ctx.emit("cast", [ctx.emit("clip", [q], min=float(lo), max=float(hi))], to=target.value)


def _ir_quantizable(x: Value, scale: Value, block_size: int, precision: int = 0) -> bool:
    """Whether the IR's own ``quantize_linear`` / ``dequantize_linear`` state this op exactly: float32 scale, per
    tensor or per axis (per-block and widened-precision forms are spelled out in elementwise ops instead)."""
    return not block_size and not precision and scale.type.dtype is DType.float32 and scale.type.rank in (0, 1)


def _quantize(ctx: Ctx, x: Value, scale: Value, zero_point: Value | None, axis: int = 1, block_size: int = 0,
              output_dtype: int = 0, precision: int = 0) -> Value:
    target = zero_point.type.dtype if zero_point is not None else (
        onnx_dtype(output_dtype, ctx.where) if output_dtype else DType.uint8)
    if zero_point is not None and output_dtype and onnx_dtype(output_dtype, ctx.where) is not target:
        raise ctx.fail(f"output_dtype disagrees with the zero point's type {target}")
    if target in _QUANT_RANGES and x.type.dtype is DType.float32 and _ir_quantizable(x, scale, block_size, precision):
        _quant_axis(ctx, x, scale, axis)
        return ctx.emit("quantize_linear", _present(x, scale, zero_point), axis=axis, dtype=target.value)
    s = _quant_param(ctx, scale, x, axis, block_size)
    if precision:
        wide = onnx_dtype(precision, ctx.where).value
        x, s = ctx.emit("cast", [x], to=wide), ctx.emit("cast", [s], to=wide)
    elif x.type.dtype is not s.type.dtype:  # the scale's type sets the division's precision
        x = ctx.emit("cast", [x], to=s.type.dtype.value)
    q = ctx.emit("cast", [ctx.emit("round", [ctx.emit("div", [x, s])])], to="int32")
    if zero_point is not None:
        zp = _quant_param(ctx, zero_point, x, axis, block_size)
        q = ctx.emit("add", [q, ctx.emit("cast", [zp], to="int32")])
    return _saturate(ctx, q, target)


@onnx_op(since=10)
def QuantizeLinear_v10(ctx: Ctx, x: Value, y_scale: Value, y_zero_point: Value | None = None) -> Value:
    return _quantize(ctx, x, y_scale, y_zero_point)


@onnx_op(since=13)
def QuantizeLinear_v13(ctx: Ctx, x: Value, y_scale: Value, y_zero_point: Value | None = None, *,
                       axis: int = 1) -> Value:
    return _quantize(ctx, x, y_scale, y_zero_point, axis)


@onnx_op(since=19)
def QuantizeLinear_v19(ctx: Ctx, x: Value, y_scale: Value, y_zero_point: Value | None = None, *, axis: int = 1,
                       saturate: int = 1) -> Value:
    return _quantize(ctx, x, y_scale, y_zero_point, axis)  # saturate concerns float8 targets only


@onnx_op(since=21)
def QuantizeLinear_v21(ctx: Ctx, x: Value, y_scale: Value, y_zero_point: Value | None = None, *, axis: int = 1,
                       block_size: int = 0, output_dtype: int = 0, saturate: int = 1) -> Value:
    return _quantize(ctx, x, y_scale, y_zero_point, axis, block_size, output_dtype)


@onnx_op(since=23)
def QuantizeLinear_v23(ctx: Ctx, x: Value, y_scale: Value, y_zero_point: Value | None = None, *, axis: int = 1,
                       block_size: int = 0, output_dtype: int = 0, precision: int = 0, saturate: int = 1) -> Value:
    return _quantize(ctx, x, y_scale, y_zero_point, axis, block_size, output_dtype, precision)


def _quant_axis(ctx: Ctx, x: Value, scale: Value, axis: int) -> None:
    """A per-axis scale must match its axis (ONNX checks it at run time; hetflow at import, in one line)."""
    if scale.type.numel == 1:
        return
    rank = _rank(ctx, x, ctx.op_type)
    if not -rank <= axis < rank:
        raise ctx.fail(f"axis {axis} is out of range for rank {rank}")
    n = x.type.shape[axis % rank]  # type: ignore[index]
    if isinstance(n, int) and scale.type.shape != (n,):
        raise ctx.fail(f"a per-axis scale must have {n} entries along axis {axis}, %{scale.name} is {scale.type}")


def _dequantize(ctx: Ctx, x: Value, scale: Value, zero_point: Value | None, axis: int = 1, block_size: int = 0,
                output_dtype: int = 0) -> Value:
    if not output_dtype and _ir_quantizable(x, scale, block_size) and x.type.dtype.is_int:
        _quant_axis(ctx, x, scale, axis)
        return ctx.emit("dequantize_linear", _present(x, scale, zero_point), axis=axis)
    out = onnx_dtype(output_dtype, ctx.where) if output_dtype else scale.type.dtype
    # In float32, or float64 for a float64 scale; then rounded once to the output type.
    wide = "float64" if scale.type.dtype is DType.float64 else "float32"
    y = ctx.emit("cast", [x], to=wide)
    if zero_point is not None:
        zp = ctx.emit("cast", [_quant_param(ctx, zero_point, x, axis, block_size)], to=wide)
        y = ctx.emit("sub", [y, zp])
    s = ctx.emit("cast", [_quant_param(ctx, scale, x, axis, block_size)], to=wide)
    return _narrow(ctx, ctx.emit("mul", [y, s]), out)


@onnx_op(since=10)
def DequantizeLinear_v10(ctx: Ctx, x: Value, x_scale: Value, x_zero_point: Value | None = None) -> Value:
    return _dequantize(ctx, x, x_scale, x_zero_point)


@onnx_op(since=13)
def DequantizeLinear_v13(ctx: Ctx, x: Value, x_scale: Value, x_zero_point: Value | None = None, *,
                         axis: int = 1) -> Value:
    return _dequantize(ctx, x, x_scale, x_zero_point, axis)


@onnx_op(since=21)
def DequantizeLinear_v21(ctx: Ctx, x: Value, x_scale: Value, x_zero_point: Value | None = None, *, axis: int = 1,
                         block_size: int = 0) -> Value:
    return _dequantize(ctx, x, x_scale, x_zero_point, axis, block_size)


@onnx_op(since=23)
def DequantizeLinear_v23(ctx: Ctx, x: Value, x_scale: Value, x_zero_point: Value | None = None, *, axis: int = 1,
                         block_size: int = 0, output_dtype: int = 0) -> Value:
    return _dequantize(ctx, x, x_scale, x_zero_point, axis, block_size, output_dtype)


@onnx_op(since=11)
def DynamicQuantizeLinear(ctx: Ctx, x: Value) -> list[Value]:
    """uint8 quantization with the scale and zero point that map [min(x, 0), max(x, 0)] onto [0, 255]."""
    f = x.type.dtype
    zero = _scalar(ctx, 0, f)
    hi = ctx.emit("max", [ctx.emit("reduce_max", [x], axes=None, keepdims=False), zero])
    lo = ctx.emit("min", [ctx.emit("reduce_min", [x], axes=None, keepdims=False), zero])
    span = ctx.emit("sub", [hi, lo])
    span = ctx.emit("where", [ctx.emit("equal", [hi, lo]), _scalar(ctx, 1, f), span])
    scale = ctx.emit("div", [span, _scalar(ctx, 255, f)])
    zp = ctx.emit("round", [ctx.emit("clip", [ctx.emit("neg", [ctx.emit("div", [lo, scale])])], min=0.0, max=255.0)])
    q = ctx.emit("add", [ctx.emit("round", [ctx.emit("div", [x, scale])]), zp])
    y = ctx.emit("cast", [ctx.emit("clip", [q], min=0.0, max=255.0)], to="uint8")
    return [y, scale, ctx.emit("cast", [zp], to="uint8")]


def _centered(ctx: Ctx, x: Value, zero_point: Value | None, per_row: bool = False) -> Value:
    """``x - zero_point`` in int32; a 1-D zero point of ``per_row`` input applies along axis -2."""
    x = ctx.emit("cast", [x], to="int32")
    if zero_point is None:
        return x
    zp = ctx.emit("cast", [zero_point], to="int32")
    if per_row and zero_point.type.rank == 1 and zero_point.type.numel != 1:
        zp = ctx.emit("reshape", [zp], shape=(-1, 1), allowzero=False)
    return ctx.emit("sub", [x, zp])


def _requantize(ctx: Ctx, acc: Value, multiplier: Value, y_zero_point: Value | None, target: DType) -> Value:
    """int32 accumulator * (in_scale * w_scale / out_scale) + out_zero_point, rounded and saturated."""
    y = ctx.emit("mul", [ctx.emit("cast", [acc], to="float32"), _widen(ctx, multiplier)])
    if y_zero_point is not None:
        y = ctx.emit("add", [y, ctx.emit("cast", [y_zero_point], to="float32")])
    return _saturate(ctx, ctx.emit("round", [y]), target)


@onnx_op(since=10)
def MatMulInteger(ctx: Ctx, a: Value, b: Value, a_zero_point: Value | None = None,
                  b_zero_point: Value | None = None) -> Value:
    return ctx.emit("matmul", [_centered(ctx, a, a_zero_point, per_row=True), _centered(ctx, b, b_zero_point)])


@onnx_op(since=10)
def QLinearMatMul(ctx: Ctx, a: Value, a_scale: Value, a_zero_point: Value | None, b: Value, b_scale: Value,
                  b_zero_point: Value | None, y_scale: Value, y_zero_point: Value | None = None) -> Value:
    acc = ctx.emit("matmul", [_centered(ctx, a, a_zero_point, per_row=True), _centered(ctx, b, b_zero_point)])
    if a_scale.type.rank == 1 and a_scale.type.numel != 1:  # per row of a, as its zero point
        a_scale = ctx.emit("reshape", [a_scale], shape=(-1, 1), allowzero=False)
    multiplier = ctx.emit("div", [ctx.emit("mul", [a_scale, b_scale]), y_scale])
    target = y_zero_point.type.dtype if y_zero_point is not None else a.type.dtype
    return _requantize(ctx, acc, multiplier, y_zero_point, target)


def _conv_integer(ctx: Ctx, x: Value, w: Value, x_zero_point: Value | None, w_zero_point: Value | None,
                  bias: Value | None, auto_pad: str, dilations: Ints, group: int, kernel_shape: Ints, pads: Ints,
                  strides: Ints) -> Value:
    """The int32 convolution of zero-point-centred inputs; a 1-D weight zero point is per output channel."""
    kernel = _kernel_of(ctx, w, kernel_shape)
    st, pd, dil = _window(ctx, x, kernel, strides, pads, dilations, auto_pad)
    if x_zero_point is None or x_zero_point.type.numel == 1:  # the IR's exact int32 convolution
        acc = ctx.emit("conv_integer", _present(x, w, x_zero_point, w_zero_point), strides=st, pads=pd, dilations=dil,
                       group=int(group))
        return acc if bias is None else ctx.emit("add", [acc, _channel_bias(ctx, bias, len(kernel))])
    wc = ctx.emit("cast", [w], to="int32")
    if w_zero_point is not None:
        zp = ctx.emit("cast", [w_zero_point], to="int32")
        if w_zero_point.type.rank == 1 and w_zero_point.type.numel != 1:
            zp = ctx.emit("reshape", [zp], shape=(-1,) + (1,) * (len(kernel) + 1), allowzero=False)
        wc = ctx.emit("sub", [wc, zp])
    return ctx.emit("conv", _present(_centered(ctx, x, x_zero_point), wc, bias), strides=st, pads=pd,
                    dilations=dil, group=int(group))


def _channel_bias(ctx: Ctx, bias: Value, spatial: int) -> Value:
    b = ctx.emit("cast", [bias], to="int32")
    return ctx.emit("reshape", [b], shape=(-1,) + (1,) * spatial, allowzero=False)


@onnx_op(since=10)
def ConvInteger(ctx: Ctx, x: Value, w: Value, x_zero_point: Value | None = None, w_zero_point: Value | None = None, *,
                auto_pad: str = "NOTSET", dilations: Ints = None, group: int = 1, kernel_shape: Ints = None,
                pads: Ints = None, strides: Ints = None) -> Value:
    return _conv_integer(ctx, x, w, x_zero_point, w_zero_point, None, auto_pad, dilations, group, kernel_shape,
                         pads, strides)


@onnx_op(since=10)
def QLinearConv(ctx: Ctx, x: Value, x_scale: Value, x_zero_point: Value | None, w: Value, w_scale: Value,
                w_zero_point: Value | None, y_scale: Value, y_zero_point: Value | None = None,
                b: Value | None = None, *, auto_pad: str = "NOTSET", dilations: Ints = None, group: int = 1,
                kernel_shape: Ints = None, pads: Ints = None, strides: Ints = None) -> Value:
    acc = _conv_integer(ctx, x, w, x_zero_point, w_zero_point, b, auto_pad, dilations, group, kernel_shape,
                        pads, strides)
    if w_scale.type.rank == 1 and w_scale.type.numel != 1:  # per output channel
        w_scale = ctx.emit("reshape", [w_scale], shape=(-1,) + (1,) * (_rank(ctx, x, "QLinearConv") - 2),
                           allowzero=False)
    multiplier = ctx.emit("div", [ctx.emit("mul", [x_scale, w_scale]), y_scale])
    target = y_zero_point.type.dtype if y_zero_point is not None else x.type.dtype
    return _requantize(ctx, acc, multiplier, y_zero_point, target)
