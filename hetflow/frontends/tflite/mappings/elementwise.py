"""TFLite elementwise operators, activations and (de)quantization -> IR elementwise ops."""

from __future__ import annotations

from hetflow.frontends.tflite.context import TfliteCtx
from hetflow.frontends.tflite.table import tflite_op
from hetflow.ir import DType, Value


def _binary(ctx: TfliteCtx, op: str, a: Value, b: Value, fused: int) -> Value:
    return ctx.activation(ctx.layout_free(op, [a, b]), fused)


@tflite_op()
def ADD(ctx: TfliteCtx, a: Value, b: Value, *, fused_activation_function: int = 0, pot_scale_int16: bool = True) -> Value:
    return _binary(ctx, "add", a, b, fused_activation_function)


@tflite_op()
def SUB(ctx: TfliteCtx, a: Value, b: Value, *, fused_activation_function: int = 0, pot_scale_int16: bool = True) -> Value:
    return _binary(ctx, "sub", a, b, fused_activation_function)


@tflite_op()
def MUL(ctx: TfliteCtx, a: Value, b: Value, *, fused_activation_function: int = 0) -> Value:
    return _binary(ctx, "mul", a, b, fused_activation_function)


@tflite_op()
def DIV(ctx: TfliteCtx, a: Value, b: Value, *, fused_activation_function: int = 0) -> Value:
    return _binary(ctx, "div", a, b, fused_activation_function)


@tflite_op()
def MAXIMUM(ctx: TfliteCtx, a: Value, b: Value) -> Value:
    return ctx.layout_free("max", [a, b])


@tflite_op()
def MINIMUM(ctx: TfliteCtx, a: Value, b: Value) -> Value:
    return ctx.layout_free("min", [a, b])


@tflite_op()
def RELU(ctx: TfliteCtx, x: Value) -> Value:
    return ctx.layout_free("relu", [x])


@tflite_op()
def RELU6(ctx: TfliteCtx, x: Value) -> Value:
    return ctx.layout_free("clip", [x], min=0.0, max=6.0)


@tflite_op()
def LOGISTIC(ctx: TfliteCtx, x: Value) -> Value:
    return ctx.layout_free("sigmoid", [x])


@tflite_op()
def TANH(ctx: TfliteCtx, x: Value) -> Value:
    return ctx.layout_free("tanh", [x])


@tflite_op()
def EXP(ctx: TfliteCtx, x: Value) -> Value:
    return ctx.layout_free("exp", [x])


@tflite_op()
def LEAKY_RELU(ctx: TfliteCtx, x: Value, *, alpha: float = 0.0) -> Value:
    return ctx.layout_free("leaky_relu", [x], alpha=float(alpha))


@tflite_op()
def HARD_SWISH(ctx: TfliteCtx, x: Value) -> Value:
    return ctx.layout_free("mul", [x, ctx.layout_free("hard_sigmoid", [x], alpha=1 / 6, beta=0.5)])


@tflite_op()
def PRELU(ctx: TfliteCtx, x: Value, alpha: Value) -> Value:
    return ctx.layout_free("prelu", [x, alpha])


@tflite_op()
def DEQUANTIZE(ctx: TfliteCtx, x: Value) -> Value:
    # Quantized tensors are already carried as their real values; float16 weights are widened here.
    return x if x.type.dtype == DType.float32 else ctx.emit("cast", [x], to="float32")


@tflite_op()
def QUANTIZE(ctx: TfliteCtx, x: Value) -> Value:
    if not ctx.out_quant or ctx.out_quant[0] is None:
        raise ctx.fail("the output tensor of QUANTIZE has no quantization parameters")
    return x  # the importer rounds every quantized output onto its grid
