"""The conversion context ATen mappings build IR through: the shared ``Ctx`` plus what export knows.

``torch.export`` records each node's result as a fake tensor, so a mapping knows the dtype and shape the
op must produce (``result``): it uses them for PyTorch's type promotion instead of re-deriving the rules.
Symbolic sizes arrive as IR dim strings ("batch", "2*batch"); ``symbols`` says which graph input dim each
plain symbol is read from, so that an op building a tensor of a symbolic size can take it at run time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.frontends.context import Ctx
from hetflow.ir import DType, Graph, TensorType, Value
from hetflow.ir.types import Dim

Size = Sequence[Dim]


class TorchCtx(Ctx):
    """Per-node view of the graph under construction, with the node's expected result types."""

    def __init__(self, graph: Graph, symbols: dict[str, tuple[Value, int]]) -> None:
        super().__init__(graph, 1)
        self.symbols = symbols
        self.results: list[TensorType | None] = []

    @property
    def result(self) -> TensorType:
        """The type of the node's first tensor result, as export recorded it."""
        if not self.results or self.results[0] is None:
            raise self.fail("export recorded no tensor result for this node")
        return self.results[0]

    def tensor(self, x: Value | float | int | bool, dtype: DType | None = None) -> Value:
        """``x`` as an IR value of ``dtype``: a Python scalar becomes a constant, a value of another dtype a cast."""
        if isinstance(x, str):
            raise self.fail(f"a symbolic size ({x}) used as a tensor operand is not supported")
        if not isinstance(x, Value):
            return self.const(np.asarray(x, dtype=(dtype or self.result.dtype).numpy), name="scalar")
        if dtype is not None and x.type.dtype != dtype:
            return self.emit("cast", [x], to=dtype.value)
        return x

    def static(self, dims: Size, what: str) -> list[int]:
        """``dims`` as ints; a symbolic entry is an error naming ``what``."""
        if any(isinstance(d, str) for d in dims):
            raise self.fail(f"{what} {list(dims)} has a symbolic size; only static sizes are supported here")
        return [int(d) for d in dims]

    def shape_vector(self, dims: Size) -> Value:
        """An int64 vector holding ``dims`` at run time: static entries as constants, symbols read from inputs."""
        if all(isinstance(d, int) for d in dims):
            return self.const(np.asarray(dims, dtype=np.int64), name="shape")
        parts = []
        for d in dims:
            if isinstance(d, int):
                parts.append(self.const(np.asarray([d], dtype=np.int64), name="dim"))
            elif d in self.symbols:
                source, axis = self.symbols[d]
                parts.append(self.emit("shape", [source], start=axis, end=axis + 1))
            else:
                raise self.fail(f"size {d} is an expression of symbolic dims; only a plain symbol can be read at run time")
        return self.emit("concat", parts, axis=0)

    def reshape(self, x: Value, dims: Size) -> Value:
        """Reshape ``x`` to ``dims``, whose symbolic entries become "keep this dim" (0) or "the rest" (-1)."""
        if x.type.shape is not None and tuple(x.type.shape) == tuple(dims):
            return x
        in_shape = tuple(x.type.shape or ())
        target: list[int] = []
        rest = 0
        for i, d in enumerate(dims):
            if isinstance(d, int):
                target.append(d)
            elif i < len(in_shape) and in_shape[i] == d:
                target.append(0)
            else:
                target.append(-1)
                rest += 1
        if rest > 1:
            raise self.fail(f"cannot express the reshape of {x.type} to {list(dims)}: several symbolic dims move")
        if 0 in [d for d in dims if isinstance(d, int)]:
            return self.emit("reshape", [x], shape=tuple(int(d) for d in dims), allowzero=True)  # an empty tensor
        return self.emit("reshape", [x], shape=tuple(target))
