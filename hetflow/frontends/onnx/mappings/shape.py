"""ONNX data-movement ops -> IR shape ops."""

from __future__ import annotations

from hetflow.frontends.onnx.context import Ctx
from hetflow.frontends.onnx.table import onnx_op
from hetflow.ir import Value


@onnx_op(since=5)
def Reshape_v5(ctx: Ctx, x: Value, shape: Value, *, allowzero: int = 0) -> Value:
    target = ctx.ints_of(shape, "the target shape")
    return ctx.emit("reshape", [x], shape=tuple(target or ()), allowzero=bool(allowzero))
