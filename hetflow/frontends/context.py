"""The conversion context every frontend's mapping functions build IR through, and the "needs a constant" protocol."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hetflow.ir import Graph, Node, TensorType, Value, get_op
from hetflow.ir.errors import ModelError


class NeedsConstant(ModelError):
    """A mapping needs a value at import time that is a runtime input (e.g. a Reshape's shape).

    The onnx.backend adapter answers this by specializing on that input's value.
    """

    def __init__(self, value_name: str, where: str, what: str) -> None:
        super().__init__(f"{where}: {what} must be a constant, but %{value_name} is computed at run time")
        self.value_name = value_name


EAGER_FOLD_BYTES = 1 << 20
"""Nodes on constants with outputs up to this size are evaluated as they are emitted."""


def _fold_if_constant(graph: Graph, node: Node, where: str) -> None:
    """Evaluate a just-emitted node whose inputs are all constants, so that later mappings see its value.

    Exported models compute parameters from shapes (Shape -> Gather -> Concat -> Reshape); folding
    here, not only in the constant_fold pass after import, lets the Reshape read its target shape.
    """
    if not node.inputs or any(v is None or not v.is_const for v in node.inputs):
        return
    if any(o.type.nbytes is None or o.type.nbytes > EAGER_FOLD_BYTES for o in node.outputs):
        return
    try:
        results = get_op(node.op).run(node, [v.const for v in node.inputs])  # type: ignore[union-attr]
    except Exception as exc:  # noqa: BLE001 - any failure of an op's NumPy semantics on bad constants
        raise ModelError(f"{where}: evaluating {node.op} on constant inputs failed: {type(exc).__name__}: {exc}") from None
    for out, result in zip(node.outputs, results):
        array = np.asarray(result)
        out.const, out.producer, out.type = array, None, TensorType(out.type.dtype, array.shape)
    graph.nodes.remove(node)


class Ctx:
    """Per-node view of the graph under construction.

    ``version`` is the source model's version of the op set being mapped (an ONNX opset, ...).
    """

    def __init__(self, graph: Graph, version: int) -> None:
        self.graph = graph
        self.version = version
        self.node_name = ""
        self.op_type = ""
        self.region: str | None = None
        self.outputs: list[str] = []
        """The source node's output names, "" for an omitted optional output."""

    def wants_output(self, i: int) -> bool:
        """Whether the source node asks for its ``i``-th output (optional outputs cost work to compute)."""
        return i < len(self.outputs) and self.outputs[i] != ""

    @property
    def where(self) -> str:
        return f"node '{self.node_name}' ({self.op_type})"

    def emit(self, op: str, inputs: Sequence[Value | None], num_outputs: int | None = None, **attrs: Any) -> Any:
        """Add an IR node; return its output value, or the list of them when there are several."""
        node = self.graph.add_node(op, list(inputs), attrs, name=self.node_name or op,
                                   num_outputs=num_outputs, region=self.region)
        _fold_if_constant(self.graph, node, self.where)
        return node.outputs[0] if len(node.outputs) == 1 and num_outputs is None else list(node.outputs)

    def const(self, array: Any, dtype: Any = None, name: str = "const") -> Value:
        return self.graph.constant(np.asarray(array, dtype=dtype), name=name)

    def value_of(self, v: Value | None, what: str) -> np.ndarray | None:
        """The constant value behind ``v`` (None if ``v`` is absent); raise NeedsConstant if it is computed."""
        if v is None:
            return None
        if v.const is None:
            raise NeedsConstant(v.name, self.where, what)
        return v.const

    def ints_of(self, v: Value | None, what: str) -> list[int] | None:
        array = self.value_of(v, what)
        return None if array is None else [int(x) for x in array.reshape(-1)]

    def fail(self, message: str) -> ModelError:
        """An error naming this node; use as ``raise ctx.fail(...)``."""
        return ModelError(f"{self.where}: {message}")
