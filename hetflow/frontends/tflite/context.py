"""The conversion context TFLite mappings build IR through: layout changes, fused activations, quantization."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.ir import DType, Graph, Value

if TYPE_CHECKING:
    from hetflow.frontends.tflite.importer import Quant

TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


class TfliteCtx(Ctx):
    """Per-operator view of the graph; ``out_quant`` is the quantization of each output tensor (or None)."""

    def __init__(self, graph: Graph) -> None:
        super().__init__(graph, 1)
        self.out_quant: list[Quant | None] = []

    def transpose(self, x: Value, perm: tuple[int, ...]) -> Value:
        """Transpose ``x``; when ``x`` is itself a transpose this one undoes, reuse its input instead (fold)."""
        node = x.producer
        if node is not None and node.op == "transpose":
            inner = tuple(node.attrs["perm"])
            if tuple(inner[p] for p in perm) == tuple(range(len(perm))):
                return node.inputs[0]  # type: ignore[return-value]
        return self.emit("transpose", [x], perm=perm)

    def nchw(self, x: Value) -> Value:
        return self.transpose(x, TO_NCHW)

    def nhwc(self, x: Value) -> Value:
        return self.transpose(x, TO_NHWC)

    def as_nchw(self, x: Value) -> Value | None:
        """``x`` (NHWC, broadcastable to 4-D) in NCHW without a new transpose: a transpose's input, or a constant
        transposed at import; None when neither holds (the caller then stays in NHWC)."""
        node = x.producer
        if node is not None and node.op == "transpose" and tuple(node.attrs["perm"]) == TO_NHWC:
            return node.inputs[0]
        if x.const is not None and x.const.ndim <= 4:
            aligned = x.const.reshape((1,) * (4 - x.const.ndim) + x.const.shape)
            return self.const(np.ascontiguousarray(aligned.transpose(TO_NCHW)), name=f"{x.name}_nchw")
        return None

    def layout_free(self, op: str, inputs: list[Value], **attrs: object) -> Value:
        """An op that does not care about layout: run it in NCHW when every runtime input comes from NCHW, so
        the transposes around convolutions cancel across it; else in NHWC as written."""
        moved = [self.as_nchw(x) for x in inputs]
        runtime = [x for x in inputs if x.const is None]
        if runtime and all(m is not None for m in moved) and all(len(x.type.shape or ()) == 4 for x in runtime):
            return self.nhwc(self.emit(op, moved, **attrs))
        return self.emit(op, inputs, **attrs)

    def activation(self, x: Value, fused: int) -> Value:
        """Apply a fused activation (ActivationFunctionType: NONE, RELU, RELU_N1_TO_1, RELU6, TANH)."""
        table = {0: None, 1: ("relu", {}), 2: ("clip", {"min": -1.0, "max": 1.0}), 3: ("clip", {"min": 0.0, "max": 6.0}),
                 4: ("tanh", {})}
        if fused not in table:
            raise self.fail(f"fused activation {fused} is not supported")
        entry = table[fused]
        return x if entry is None else self.layout_free(entry[0], [x], **entry[1])

    def dequantize(self, q: Value, quant: Quant) -> Value:
        """Real values from quantized integers: (q - zero_point) * scale."""
        rank = len(q.type.shape or ())
        scale, zero = quant.broadcast(rank)
        x = self.emit("cast", [q], to="float32") if q.type.dtype != DType.float32 else q
        return self.emit("mul", [self.emit("sub", [x, self.const(zero)]), self.const(scale)])

    def quantize(self, x: Value, quant: Quant) -> Value:
        """Integers of ``quant.dtype``: clip(round(x / scale) + zero_point) (round half to even, as TFLite)."""
        rank = len(x.type.shape or ())
        scale, zero = quant.broadcast(rank)
        lo, hi = quant.limits
        q = self.emit("add", [self.emit("round", [self.emit("div", [x, self.const(scale)])]), self.const(zero)])
        return self.emit("cast", [self.emit("clip", [q], min=lo, max=hi)], to=quant.dtype.value)

    def same_pads(self, x: Value, kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
        """TensorFlow's SAME padding for NHWC ``x``: the odd unit goes at the end."""
        shape = x.type.shape or ()
        spatial = shape[1:3]
        if not all(isinstance(d, int) for d in spatial):
            raise self.fail(f"SAME padding needs static spatial dims, input %{x.name} is {x.type}")
        begins, ends = [], []
        for n, k, s, d in zip(spatial, kernel, strides, dilations):
            out = -(-int(n) // s)
            total = max(0, (out - 1) * s + (k - 1) * d + 1 - int(n))
            begins.append(total // 2)
            ends.append(total - total // 2)
        return begins + ends

    def scalar(self, value: float, like: Value) -> Value:
        return self.const(np.asarray(value, dtype=like.type.dtype.numpy), name="scalar")
