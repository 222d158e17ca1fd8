"""ONNX neural-network ops -> IR nn ops."""

from __future__ import annotations

from hetflow.frontends.onnx.context import Ctx
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value


@onnx_op()
def MatMul(ctx: Ctx, a: Value, b: Value) -> Value:
    return ctx.emit("matmul", [a, b])
