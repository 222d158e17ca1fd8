"""Data-movement ops: reshape, transpose, concat, slice, gather, pad, ..."""

from __future__ import annotations

import numpy as np

from hetflow.ir.graph import Node
from hetflow.ir.ops._util import in_type
from hetflow.ir.registry import REQUIRED, IRError, defop
from hetflow.ir.types import TensorType


def _resolve_shape(in_shape: tuple, shape: tuple[int, ...], allowzero: bool) -> list:
    """Replace 0 by the input dim at that index (unless allowzero); -1 stays to be inferred."""
    if allowzero:
        return list(shape)
    return [in_shape[i] if d == 0 and i < len(in_shape) else d for i, d in enumerate(shape)]


def _infer_minus_one(in_shape: tuple, dims: list, name: str) -> int | str:
    """The size of the -1 dim: exact when the symbolic dims on both sides match, else a new symbol."""
    in_syms = sorted(d for d in in_shape if isinstance(d, str))
    out_syms = sorted(d for d in dims if isinstance(d, str))
    if in_syms != out_syms:
        return f"{name}_d"
    in_ints = int(np.prod([d for d in in_shape if isinstance(d, int)]))
    out_ints = int(np.prod([d for d in dims if isinstance(d, int) and d != -1]))
    return in_ints // max(out_ints, 1)


def _reshape_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    if x.shape is None:
        return [TensorType(x.dtype, None)]
    dims = _resolve_shape(x.shape, tuple(node.attrs["shape"]), node.attrs["allowzero"])
    if -1 in dims:
        dims[dims.index(-1)] = _infer_minus_one(x.shape, dims, node.name)
    out = TensorType(x.dtype, tuple(dims))
    if x.numel is not None and out.numel is not None and out.numel != x.numel:
        raise IRError(f"node {node.name!r} (reshape): cannot reshape {x} to {tuple(dims)}")
    return [out]


@defop("reshape", family="shape", infer=_reshape_infer, attrs={"shape": REQUIRED, "allowzero": False})
def reshape(x: np.ndarray, *, shape: tuple[int, ...], allowzero: bool) -> np.ndarray:
    """Row-major reshape as in ONNX: a 0 copies the input dim (unless allowzero), one -1 is inferred."""
    return x.reshape(_resolve_shape(x.shape, tuple(shape), allowzero))


def _transpose_infer(node: Node) -> list[TensorType]:
    x = in_type(node, 0)
    perm = node.attrs["perm"]
    if x.shape is None:
        return [x]
    if sorted(perm) != list(range(len(x.shape))):
        raise IRError(f"node {node.name!r} (transpose): perm {perm} does not fit rank {len(x.shape)}")
    return [x.with_shape(tuple(x.shape[p] for p in perm))]


@defop("transpose", family="shape", infer=_transpose_infer, attrs={"perm": REQUIRED})
def transpose(x: np.ndarray, *, perm: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, perm))
