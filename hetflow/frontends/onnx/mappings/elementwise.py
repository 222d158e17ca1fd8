"""ONNX elementwise ops -> IR elementwise ops."""

from __future__ import annotations

from hetflow.frontends.onnx.context import Ctx
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value


@onnx_op()
def Relu(ctx: Ctx, x: Value) -> Value:
    return ctx.emit("relu", [x])


@onnx_op()
def Add(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("add", [a, b])
