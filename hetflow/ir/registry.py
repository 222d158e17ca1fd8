"""The IR op registry. Every op declares its attributes, type inference, cost and NumPy semantics.

The NumPy semantics (``compute``) are the definition of the op: the reference backend runs
them, and every other backend is checked against them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hetflow.ir.errors import HetflowError

if TYPE_CHECKING:
    from hetflow.ir.graph import Node
    from hetflow.ir.types import TensorType


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default marker for an attribute that has no default."""

Compute = Callable[..., "np.ndarray | tuple[np.ndarray, ...]"]
Infer = Callable[["Node"], "list[TensorType]"]
Count = Callable[["Node"], int]


class IRError(HetflowError, ValueError):
    """A malformed IR construct: unknown op, bad attribute, inconsistent types."""


@dataclass(frozen=True)
class OpDef:
    """The declaration of one IR op."""

    name: str
    family: str
    compute: Compute
    infer: Infer
    attrs: Mapping[str, Any] = field(default_factory=dict)
    flops: Count | None = None
    outputs: int | Callable[[dict[str, Any], int], int] = 1
    elementwise: bool = False
    doc: str = ""

    def resolve_attrs(self, given: Mapping[str, Any], where: str) -> dict[str, Any]:
        unknown = set(given) - set(self.attrs)
        if unknown:
            raise IRError(f"{where}: op '{self.name}' has no attribute(s) {sorted(unknown)}; it takes {sorted(self.attrs)}")
        full = {}
        for key, default in self.attrs.items():
            if key in given:
                full[key] = given[key]
            elif default is REQUIRED:
                raise IRError(f"{where}: op '{self.name}' needs attribute '{key}'")
            else:
                full[key] = default
        return full

    def num_outputs(self, attrs: dict[str, Any], n_inputs: int) -> int:
        return self.outputs if isinstance(self.outputs, int) else self.outputs(attrs, n_inputs)

    def infer_types(self, node: Node) -> list[TensorType]:
        return list(self.infer(node))

    def flop_count(self, node: Node) -> int:
        """Floating-point (or integer) operations; multiply-add counts as two."""
        if self.flops is not None:
            return int(self.flops(node))
        if self.elementwise:
            return _sample_numel(node.outputs[0].type) if node.outputs else 0
        return 0

    def bytes_moved(self, node: Node) -> tuple[int, int]:
        """(bytes read, bytes written), assuming each operand crosses memory once."""
        read = sum(_sample_bytes(v.type) for v in node.inputs if v is not None)
        written = sum(_sample_bytes(v.type) for v in node.outputs)
        return read, written

    def run(self, node: Node, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        result = self.compute(*inputs, **node.attrs)
        return list(result) if isinstance(result, (tuple, list)) else [result]


def _sample_numel(t: TensorType) -> int:
    """Elements of one tensor, symbolic dims (a batch) taken as 1, as the nn ops count FLOPs."""
    if t.shape is None:
        return 0
    n = 1
    for d in t.shape:
        n *= d if isinstance(d, int) else 1
    return n


def _sample_bytes(t: TensorType) -> int:
    """Bytes of one tensor, symbolic dims (a batch) taken as 1."""
    if t.shape is None:
        return 0
    n = 1
    for d in t.shape:
        n *= d if isinstance(d, int) else 1
    return n * t.dtype.itemsize


_OPS: dict[str, OpDef] = {}


def register(opdef: OpDef) -> OpDef:
    if opdef.name in _OPS:
        raise IRError(f"IR op '{opdef.name}' is registered twice")
    _OPS[opdef.name] = opdef
    return opdef


def defop(
    name: str,
    *,
    family: str,
    infer: Infer,
    attrs: Mapping[str, Any] | None = None,
    flops: Count | None = None,
    outputs: int | Callable[[dict[str, Any], int], int] = 1,
    elementwise: bool = False,
) -> Callable[[Compute], Compute]:
    """Decorator: the decorated function is the op's NumPy semantics."""

    def wrap(fn: Compute) -> Compute:
        register(OpDef(name, family, fn, infer, dict(attrs or {}), flops, outputs, elementwise, (fn.__doc__ or "").strip()))
        return fn

    return wrap


def get_op(name: str) -> OpDef:
    _load_ops()
    try:
        return _OPS[name]
    except KeyError:
        raise IRError(f"unknown IR op '{name}'") from None


def all_ops() -> dict[str, OpDef]:
    _load_ops()
    return dict(_OPS)


def _load_ops() -> None:
    import hetflow.ir.ops  # noqa: F401  (registers every op family)
