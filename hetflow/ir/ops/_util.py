"""Shared type-inference helpers for op definitions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hetflow.ir.dtypes import DType
from hetflow.ir.graph import Node
from hetflow.ir.registry import IRError
from hetflow.ir.types import Dim, TensorType


def in_type(node: Node, i: int) -> TensorType:
    v = node.inputs[i]
    if v is None:
        raise IRError(f"node {node.name!r} ({node.op}): input {i} is required")
    return v.type


def broadcast_shapes(node: Node, *shapes: tuple[Dim, ...] | None) -> tuple[Dim, ...] | None:
    """NumPy broadcasting over possibly symbolic dims."""
    if any(s is None for s in shapes):
        return None
    rank = max(len(s) for s in shapes)  # type: ignore[arg-type]
    out: list[Dim] = []
    for axis in range(rank):
        dims = [s[len(s) - rank + axis] for s in shapes if len(s) - rank + axis >= 0]  # type: ignore[arg-type]
        known = {d for d in dims if d != 1}
        if not known:
            out.append(1)
        elif len(known) == 1:
            out.append(known.pop())
        elif all(isinstance(d, int) for d in known):
            raise IRError(f"node {node.name!r} ({node.op}): shapes {[tuple(s) for s in shapes]} do not broadcast")
        else:
            ints = [d for d in known if isinstance(d, int)]
            out.append(ints[0] if ints else sorted(known, key=str)[0])
    return tuple(out)


def same_as_input(node: Node) -> list[TensorType]:
    return [in_type(node, 0)]


def broadcast_infer(node: Node) -> list[TensorType]:
    types = [v.type for v in node.inputs if v is not None]
    return [TensorType(types[0].dtype, broadcast_shapes(node, *(t.shape for t in types)))]


def compare_infer(node: Node) -> list[TensorType]:
    return [broadcast_infer(node)[0].with_dtype(DType.bool)]


def norm_axis(axis: int, rank: int, node: Node | None = None) -> int:
    if not -rank <= axis < max(rank, 1):
        where = f"node {node.name!r} ({node.op}): " if node is not None else ""
        raise IRError(f"{where}axis {axis} is out of range for rank {rank}")
    return axis % max(rank, 1)


def const_of(node: Node, i: int) -> np.ndarray | None:
    v = node.inputs[i] if i < len(node.inputs) else None
    return None if v is None else v.const


def numel(shape: Sequence[Dim] | None) -> int:
    """Element count with symbolic dims taken as 1 (a per-sample cost)."""
    if shape is None:
        return 0
    n = 1
    for d in shape:
        n *= d if isinstance(d, int) else 1
    return n
