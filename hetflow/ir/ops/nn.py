"""Neural-network ops: matmul, convolution, pooling, normalization, softmax."""

from __future__ import annotations

import numpy as np

from hetflow.ir.graph import Node
from hetflow.ir.ops._util import broadcast_shapes, in_type, numel
from hetflow.ir.registry import IRError, defop
from hetflow.ir.types import TensorType


def _matmul_infer(node: Node) -> list[TensorType]:
    a, b = in_type(node, 0), in_type(node, 1)
    if a.shape is None or b.shape is None:
        return [TensorType(a.dtype, None)]
    sa = (1,) + a.shape if len(a.shape) == 1 else a.shape
    sb = b.shape + (1,) if len(b.shape) == 1 else b.shape
    if isinstance(sa[-1], int) and isinstance(sb[-2], int) and sa[-1] != sb[-2]:
        raise IRError(f"node {node.name!r} (matmul): inner dims differ: {a.shape} @ {b.shape}")
    batch = broadcast_shapes(node, sa[:-2], sb[:-2]) or ()
    out = batch + sa[-2:-1] * (len(a.shape) > 1) + sb[-1:] * (len(b.shape) > 1)
    return [TensorType(a.dtype, out)]


def _matmul_flops(node: Node) -> int:
    a = in_type(node, 0)
    k = a.shape[-1] if a.shape else 1
    return 2 * numel(node.outputs[0].type.shape) * (k if isinstance(k, int) else 1)


@defop("matmul", family="nn", infer=_matmul_infer, flops=_matmul_flops)
def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NumPy matmul semantics (batched, broadcasting, 1-D promotion)."""
    return np.matmul(a, b)
