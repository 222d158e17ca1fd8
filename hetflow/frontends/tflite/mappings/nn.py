"""TFLite convolution, pooling, fully-connected and softmax -> IR nn ops (NHWC at the edges, NCHW inside)."""

from __future__ import annotations

import numpy as np

from hetflow.frontends.tflite.context import TfliteCtx
from hetflow.frontends.tflite.table import tflite_op
from hetflow.ir import Value

_SAME, _VALID = 0, 1


def _pads(ctx: TfliteCtx, x: Value, padding: int, kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    if padding == _VALID:
        return [0, 0, 0, 0]
    if padding == _SAME:
        return ctx.same_pads(x, kernel, strides, dilations)
    raise ctx.fail(f"padding {padding} is not SAME (0) or VALID (1)")


def _conv(ctx: TfliteCtx, x: Value, w_oihw: Value, b: Value | None, group: int, padding: int, strides: list[int],
          dilations: list[int], fused: int) -> Value:
    kernel = [int(d) for d in (w_oihw.type.shape or ())[2:]]
    pads = _pads(ctx, x, padding, kernel, strides, dilations)
    inputs = [ctx.nchw(x), w_oihw] + ([b] if b is not None else [])
    y = ctx.emit("conv", inputs, strides=tuple(strides), pads=tuple(pads), dilations=tuple(dilations), group=group)
    return ctx.nhwc(ctx.activation(y, fused))


def _channels(ctx: TfliteCtx, x: Value) -> int:
    shape = x.type.shape or ()
    if len(shape) != 4 or not isinstance(shape[3], int):
        raise ctx.fail(f"input %{x.name} must be NHWC with static channels, it is {x.type}")
    return int(shape[3])


@tflite_op()
def CONV_2D(ctx: TfliteCtx, x: Value, w: Value, b: Value | None = None, *, padding: int = 0, stride_w: int = 0,
            stride_h: int = 0, fused_activation_function: int = 0, dilation_w_factor: int = 1,
            dilation_h_factor: int = 1, quantized_bias_type: int = 0) -> Value:
    w_oihw = ctx.emit("transpose", [w], perm=(0, 3, 1, 2))  # [O, KH, KW, I] -> [O, I, KH, KW]
    group = _channels(ctx, x) // int((w.type.shape or (0, 0, 0, 1))[3])
    return _conv(ctx, x, w_oihw, b, group, padding, [stride_h, stride_w], [dilation_h_factor, dilation_w_factor],
                 fused_activation_function)


@tflite_op()
def DEPTHWISE_CONV_2D(ctx: TfliteCtx, x: Value, w: Value, b: Value | None = None, *, padding: int = 0,
                      stride_w: int = 0, stride_h: int = 0, depth_multiplier: int = 0,
                      fused_activation_function: int = 0, dilation_w_factor: int = 1,
                      dilation_h_factor: int = 1) -> Value:
    w_oihw = ctx.emit("transpose", [w], perm=(3, 0, 1, 2))  # [1, KH, KW, C*M] -> [C*M, 1, KH, KW]
    return _conv(ctx, x, w_oihw, b, _channels(ctx, x), padding, [stride_h, stride_w],
                 [dilation_h_factor, dilation_w_factor], fused_activation_function)


def _pool(ctx: TfliteCtx, op: str, x: Value, padding: int, stride_w: int, stride_h: int, filter_width: int,
          filter_height: int, fused: int, **extra: object) -> Value:
    kernel, strides = [filter_height, filter_width], [stride_h, stride_w]
    pads = _pads(ctx, x, padding, kernel, strides, [1, 1])
    y = ctx.emit(op, [ctx.nchw(x)], kernel=tuple(kernel), strides=tuple(strides), pads=tuple(pads), **extra)
    return ctx.nhwc(ctx.activation(y, fused))


@tflite_op()
def MAX_POOL_2D(ctx: TfliteCtx, x: Value, *, padding: int = 0, stride_w: int = 0, stride_h: int = 0,
                filter_width: int = 0, filter_height: int = 0, fused_activation_function: int = 0) -> Value:
    return _pool(ctx, "max_pool", x, padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function)


@tflite_op()
def AVERAGE_POOL_2D(ctx: TfliteCtx, x: Value, *, padding: int = 0, stride_w: int = 0, stride_h: int = 0,
                    filter_width: int = 0, filter_height: int = 0, fused_activation_function: int = 0) -> Value:
    # TensorFlow divides by the number of real (unpadded) elements in each window.
    return _pool(ctx, "avg_pool", x, padding, stride_w, stride_h, filter_width, filter_height, fused_activation_function,
                 count_include_pad=False)


@tflite_op()
def FULLY_CONNECTED(ctx: TfliteCtx, x: Value, w: Value, b: Value | None = None, *, fused_activation_function: int = 0,
                    weights_format: int = 0, keep_num_dims: bool = False, asymmetric_quantize_inputs: bool = False,
                    quantized_bias_type: int = 0) -> Value:
    if weights_format != 0:
        raise ctx.fail(f"weights_format {weights_format} (shuffled weights) is not supported")
    units, depth = (int(d) for d in (w.type.shape or (0, 0)))
    flat = x if keep_num_dims else ctx.emit("reshape", [x], shape=(-1, depth))
    y = ctx.emit("matmul", [flat, ctx.emit("transpose", [w], perm=(1, 0))])
    if b is not None:
        y = ctx.emit("add", [y, b])
    return ctx.activation(y, fused_activation_function)


@tflite_op()
def SOFTMAX(ctx: TfliteCtx, x: Value, *, beta: float = 0.0) -> Value:
    scaled = x if beta == 1.0 else ctx.emit("mul", [x, ctx.const(np.float32(beta))])
    return ctx.emit("softmax", [scaled], axis=-1)
